"""A plain `curl` of a pod list gets its answer, on every apiserver version the API tier runs.

We test these aspects: the apiserver pretty-prints for curl (its user agent asks for it),
and that response arrives whole and parses; the apiserver is still serving afterwards.
With Debian's 1.20 source built by Go 1.18+ and its vendored reflect2 1.0.1, this exact
request faulted in reflect2's map iteration and the apiserver gave no answer or died
(testbed/pins/build-apiserver.sh replaces reflect2); 1.34 is built from the module proxy.
"""

import json
import subprocess

from testbed.clusters.loopback import ADMIN, KUBE_VERSION
from testbed.tools import require_tool


def test_curl_gets_a_pretty_printed_pod_list(apiserver, namespace):
    """curl's pod list is indented JSON naming the pod, and the server answers again after it."""
    curl = require_tool("curl")
    apiserver.create_pod(namespace, "curl-me", labels={"app": "demo", "tier": "web"})
    result = subprocess.run(
        [curl, "-sS", "--fail", "--max-time", "20", "--cacert", str(apiserver.dir / "ca.crt"),
         "-H", f"Authorization: Bearer {apiserver.users[ADMIN][0]}",
         f"{apiserver.url}/api/v1/namespaces/{namespace}/pods"],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, f"KUBE_VERSION={KUBE_VERSION}: {result.stderr}"
    assert '\n  "kind": "PodList"' in result.stdout, "not pretty-printed"
    names = [item["metadata"]["name"] for item in json.loads(result.stdout)["items"]]
    assert names == ["curl-me"]
    assert apiserver.request("GET", f"/api/v1/namespaces/{namespace}/pods/curl-me")[0] == 200
