"""We test these aspects: a secret the kit writes is owner-only, also when it replaces a
file that was readable by others, and holds exactly the new text."""

import stat

from testbed.private import write_private


def test_new_and_replaced_secrets_are_owner_only(tmp_path):
    fresh = write_private(tmp_path / "sub" / "token", "s3cret")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600 and fresh.read_text() == "s3cret"
    old = tmp_path / "old"
    old.write_text("a much longer previous value")
    old.chmod(0o644)
    write_private(old, "short")
    assert stat.S_IMODE(old.stat().st_mode) == 0o600 and old.read_text() == "short"
