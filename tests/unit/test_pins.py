"""We test these aspects: the module versions the Makefile fetches are the ones the kit reads
(a pin changed in one place only would make the tests look in a cache folder nothing fills).
Every pin is kept in a go.mod of ours and read there by both (testbed.pins, the Makefile's
go_pin_in); faas-netes' pin serves both its CRDs and the node's OpenFaaS; each pinned CLI is
built by testbed/pins/build-cli.sh and read by testbed/platforms/clis.py."""

import re

from testbed.paths import ROOT
from testbed.pins import pinned
from testbed.platforms import manifests
from testbed.platforms.faas import install


def makefile_pin(name: str) -> str:
    found = re.search(rf"^{name} := (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found, f"no {name} in the Makefile"
    return found.group(1)


def test_openfaas_pins_are_read_from_their_go_mod():
    """The Makefile's FAAS_NETES and the kit's CRD folder come from the go.mod build-openfaas.sh builds from."""
    folder = "testbed/pins/faas-netes"
    assert makefile_pin("FAAS_NETES") == f"$(call go_pin_in,{folder},github.com/openfaas/faas-netes)"
    assert manifests.FAAS_NETES_VERSION == pinned(folder, "github.com/openfaas/faas-netes")


def test_the_node_openfaas_builds_are_where_the_kit_looks():
    """The Makefile's `openfaas` target builds the binaries testbed.platforms.faas.install runs,
    named by the same go.mod pins build-openfaas.sh reads."""
    makefile = (ROOT / "Makefile").read_text()
    gateway = "$(call go_pin_in,testbed/pins/openfaas-gateway,github.com/openfaas/faas/gateway)"
    assert f"openfaas-gateway-{gateway}/bin/gateway" in makefile
    assert "faas-netes-$(FAAS_NETES)/bin/faas-netes" in makefile
    binaries = install.binaries()
    assert binaries["gateway"].parts[-3] == f"openfaas-gateway-{install.GATEWAY}"
    assert binaries["faas-netes"].parts[-3] == f"faas-netes-{install.FAAS_NETES}"
    assert install.GATEWAY == pinned("testbed/pins/openfaas-gateway", "github.com/openfaas/faas/gateway")


def test_every_cli_pin_is_built_and_read():
    """Each pinned CLI (testbed/pins/<name>/go.mod, a case of testbed/pins/build-cli.sh) has its
    Makefile path read from that go.mod, and its reader in testbed/platforms/clis.py."""
    build = (ROOT / "testbed" / "pins" / "build-cli.sh").read_text()
    makefile = (ROOT / "Makefile").read_text()
    clis = (ROOT / "testbed" / "platforms" / "clis.py").read_text()
    names = re.findall(r"^  ([a-z-]+)\)$", build, re.MULTILINE)
    assert names, "build-cli.sh has no case"
    for name in names:
        assert (ROOT / "testbed" / "pins" / name / "go.mod").is_file(), f"no go.mod for {name}"
        assert f"$(call go_pin_in,testbed/pins/{name}," in makefile, (
            f"the Makefile does not read {name}'s pin"
        )
        assert f'pinned("testbed/pins/{name}",' in clis, f"testbed/platforms/clis.py does not read {name}'s pin"


def test_every_go_pin_lives_in_pins_and_is_read_by_the_makefile():
    """Every go.mod of ours sits in testbed/pins/<name>/, and the Makefile or the build script it
    runs reads each one (the ones a script reads by path: build-go-tool.sh and build-cli.sh)."""
    makefile = (ROOT / "Makefile").read_text()
    scripts = {s.name: s.read_text() for s in (ROOT / "testbed" / "pins").glob("build-*.sh")}
    found = (p.relative_to(ROOT) for p in ROOT.glob("**/go.mod"))
    mods = sorted(p for p in found if not any(part.startswith(".") for part in p.parts))
    assert mods, "no go.mod found"
    for mod in mods:
        assert mod.parts[:2] == ("testbed", "pins") and len(mod.parts) == 4, f"{mod} is outside testbed/pins/<name>/"
        name = mod.parts[2]
        read = f"testbed/pins/{name}" in makefile or any(f"$pins/{name}" in s for s in scripts.values())
        by_name = re.search(rf"build-(go-tool|cli)\.sh {re.escape(name)}$", makefile, re.MULTILINE)
        assert read or by_name, f"neither the Makefile nor a build script reads {mod}"
