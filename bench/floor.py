"""The API server's floor: the function's own requests per pod, sent by a minimal client.

Per pod, exactly what the function sends: a JSON merge patch made conditional by
the pod's resourceVersion (same label and five annotations, same fieldManager, same
Accept), then a core/v1 Event like the function's.  Like the function, the floor
remembers the metadata its last PATCH returned and reads the pod (GET as
PartialObjectMetadata, skipping the write if the value is already there) only
when it has not written it before.  Bodies are serialized
before the clock starts, only the resourceVersion and uid are spliced in as
bytes; the connections are urllib3 keep-alive connections, kept across rounds.
What is left is what any client has to pay the API server for that work, one
pod at a time or 16 in flight (the function's PATCH_CONCURRENCY).

"PATCH only" (no GET, no precondition, no Event) is the bare write, for reference.
"""

from __future__ import annotations

import json
import socket
import time
from datetime import datetime, timezone

from bench.harness import LABEL, META, Admin, BenchError, Fleet, run_concurrently
from function.alerts import format_time
from function.kube import FIELD_MANAGER, event_body

PREFIX = "cpu-alert-labeler"
_HOLE = "\u0000HOLE\u0000"  # placeholder split out of a serialized body


def _split(doc: dict) -> tuple[bytes, bytes]:
    """Serialize `doc` once; the (before, after) bytes around its one _HOLE."""
    before, after = json.dumps(doc, separators=(",", ":")).split(json.dumps(_HOLE)[1:-1])
    return before.encode(), after.encode()


class Floor:
    """Rounds of pod changes over one fleet, with the function's requests and nothing else."""

    def __init__(self, admin: Admin):
        self.admin = admin
        self.instance = socket.gethostname()
        self.get_headers = {**admin.auth, "Accept": META}
        self.patch_headers = {**admin.auth, "Accept": META, "Content-Type": "application/merge-patch+json"}
        self.event_headers = {**admin.auth, "Content-Type": "application/json"}
        self.known: dict[str, tuple[str, str]] = {}  # pod URL -> (resourceVersion, uid) we wrote

    def round(self, fleet: Fleet, *, concurrency: int, patch_only: bool = False) -> float:
        """Flip every pod of `fleet` once; the seconds it took (set-up excluded)."""
        firing, at = fleet.flip()
        jobs = self._jobs(fleet, firing, at, patch_only)
        change = self._patch_only if patch_only else self._change
        started = time.perf_counter()
        run_concurrently(jobs, change, concurrency)
        return time.perf_counter() - started

    def _jobs(self, fleet: Fleet, firing: bool, at: datetime, patch_only: bool) -> list[tuple]:
        base = f"{self.admin.url}/api/v1/namespaces/{fleet.namespace}"
        value = fleet.value
        if patch_only:
            body = json.dumps({"metadata": {"labels": {LABEL: value}}}).encode()
            return [(f"{base}/pods/{pod}?fieldManager={FIELD_MANAGER}", body) for pod in fleet.pods]
        now = datetime.now(timezone.utc).isoformat()
        level = "critical" if firing else "normal"
        stamp = format_time(at)  # what the function writes
        jobs = []
        for i, pod in enumerate(fleet.pods):
            patch = _split(
                {
                    "metadata": {
                        "resourceVersion": _HOLE,
                        "labels": {LABEL: value},
                        "annotations": {
                            f"{PREFIX}/alert-time": stamp,
                            f"{PREFIX}/alertname": "PodCpuFailure",
                            f"{PREFIX}/level": level,
                            f"{PREFIX}/cpu-usage": "92" if firing else None,
                            f"{PREFIX}/fingerprint": f"{i:016x}",
                        },
                    }
                }
            )
            event = _split(
                event_body(
                    uid=_HOLE,
                    namespace=fleet.namespace,
                    name=pod,
                    reason="CpuLevelChanged",
                    message=f"{LABEL}: <previous> -> {value} (PodCpuFailure, cpu 92%)",
                    warning=firing,
                    instance=self.instance,
                    now=now,
                )
            )
            jobs.append(
                (
                    f"{base}/pods/{pod}",
                    f"{base}/pods/{pod}?fieldManager={FIELD_MANAGER}",
                    f"{base}/events",
                    value,
                    patch,
                    event,
                )
            )
        return jobs

    def _change(self, job: tuple) -> None:
        get_url, patch_url, events_url, value, (p_before, p_after), (e_before, e_after) = job
        http = self.admin.http
        known = self.known.pop(get_url, None)
        if known is None:
            resp = http.request("GET", get_url, headers=self.get_headers)
            _expect(200, resp, get_url)
            meta = json.loads(resp.data)["metadata"]
            if (meta.get("labels") or {}).get(LABEL) == value:
                return  # the function's conditional: nothing to write
            known = (meta["resourceVersion"], meta["uid"])
        version, uid = known
        resp = http.request(
            "PATCH", patch_url, body=p_before + version.encode() + p_after, headers=self.patch_headers
        )
        _expect(200, resp, patch_url)
        self.known[get_url] = (json.loads(resp.data)["metadata"]["resourceVersion"], uid)
        body = e_before + uid.encode() + e_after
        _expect(201, http.request("POST", events_url, body=body, headers=self.event_headers), events_url)

    def _patch_only(self, job: tuple) -> None:
        url, body = job
        _expect(200, self.admin.http.request("PATCH", url, body=body, headers=self.patch_headers), url)


def _expect(status: int, resp, url: str) -> None:
    if resp.status != status:
        raise BenchError(f"floor: {url}: {resp.status} {resp.data[:200]!r}")
