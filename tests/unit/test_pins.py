"""We test these aspects: the module versions the Makefile fetches are the ones the kit reads
(a pin changed in one place only would make the tests look in a cache folder nothing fills).
Every pin is kept in a go.mod of ours and read there by both (testbed.gomod, the Makefile's
go_pin_in); faas-netes' pin serves both its CRDs and the node's OpenFaaS; each pinned CLI is
built by scripts/build-cli.sh and read by testbed/clis.py."""

import re

from testbed import manifests
from testbed.gomod import pinned
from testbed.openfaas import install
from testbed.paths import ROOT


def makefile_pin(name: str) -> str:
    found = re.search(rf"^{name} := (.+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found, f"no {name} in the Makefile"
    return found.group(1)


def test_openfaas_pins_are_read_from_their_go_mod():
    """The Makefile's FAAS_NETES and the kit's CRD folder come from the go.mod build.sh builds from."""
    folder = "testbed/openfaas/build/faas-netes"
    assert makefile_pin("FAAS_NETES") == f"$(call go_pin_in,{folder},github.com/openfaas/faas-netes)"
    assert manifests.FAAS_NETES_VERSION == pinned(folder, "github.com/openfaas/faas-netes")


def test_the_node_openfaas_builds_are_where_the_kit_looks():
    """The Makefile's `openfaas` target builds the binaries testbed.openfaas.install runs,
    named by the same go.mod pins build.sh reads."""
    makefile = (ROOT / "Makefile").read_text()
    gateway = "$(call go_pin_in,testbed/openfaas/build/gateway,github.com/openfaas/faas/gateway)"
    assert f"openfaas-gateway-{gateway}/bin/gateway" in makefile
    assert "faas-netes-$(FAAS_NETES)/bin/faas-netes" in makefile
    binaries = install.binaries()
    assert binaries["gateway"].parts[-3] == f"openfaas-gateway-{install.GATEWAY}"
    assert binaries["faas-netes"].parts[-3] == f"faas-netes-{install.FAAS_NETES}"
    assert install.GATEWAY == pinned("testbed/openfaas/build/gateway", "github.com/openfaas/faas/gateway")


def test_every_cli_pin_is_built_and_read():
    """Each pinned CLI (testbed/gopins/<name>/go.mod) has its case in scripts/build-cli.sh, its
    Makefile path read from that go.mod, and its reader in testbed/clis.py."""
    build = (ROOT / "scripts" / "build-cli.sh").read_text()
    makefile = (ROOT / "Makefile").read_text()
    clis = (ROOT / "testbed" / "clis.py").read_text()
    for folder in sorted((ROOT / "testbed" / "gopins").iterdir()):
        name = folder.name
        assert re.search(rf"^  {re.escape(name)}\)$", build, re.MULTILINE), f"build-cli.sh has no {name} case"
        assert f"$(call go_pin_in,testbed/gopins/{name}," in makefile, (
            f"the Makefile does not read {name}'s pin"
        )
        assert f'pinned("testbed/gopins/{name}",' in clis, f"testbed/clis.py does not read {name}'s pin"
