"""We test these aspects: the module versions the Makefile fetches are the ones the kit reads
(a pin changed in one place only would make the tests look in a cache folder nothing fills).
Pins kept in a go.mod are read there by both (testbed.gomod, the Makefile's go_pin_in);
faas-netes, fetched for its CRDs only, has no go.mod of ours and is written twice."""

import re

from testbed import manifests
from testbed.paths import ROOT


def makefile_pin(name: str) -> str:
    found = re.search(rf"^{name} := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found, f"no {name} in the Makefile"
    return found.group(1)


def test_openfaas_crd_pin_agrees_with_the_makefile():
    assert makefile_pin("FAAS_NETES") == manifests.FAAS_NETES_VERSION
