"""What the node changes on the host, recorded BEFORE it changes anything, and put back.

A node changes shared machine state: sysctls (the kubelet sets kernel.panic,
kernel.panic_on_oops, vm.overcommit_memory...; kube-proxy route_localnet and conntrack),
iptables and ip6tables chains, a bridge and veth links, mounts (network namespaces,
container root filesystems, projected token volumes), cgroups under kubepods, and the
kubelet's fixed log folders. `record()` snapshots each of them into a JSON file in the
state directory; `restore()` reads that file, so it works from a fresh process after a
crash: it kills what runs in the node's cgroups, unmounts what appeared under the
node's paths, deletes new links, restores the iptables dumps and the sysctls that
differ, removes the new cgroups and folders. Only differences are touched: what existed
before is never removed, so other users of the machine are left alone.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

from testbed.process import run, stop_pid

SYSCTL_TREES = (
    "kernel",
    "vm",
    "net/ipv4",
    "net/ipv6/conf/all",
    "net/ipv6/conf/default",
    "net/bridge",
    "net/netfilter",
)
"""The /proc/sys subtrees the kubelet, kube-proxy and CNI write to."""
VOLATILE = ("kernel/ns_last_pid", "kernel/random/", "vm/drop_caches", "vm/compact_memory")
"""Entries the kernel changes on its own, or that act when written: never recorded."""
CGROUP_ROOT = Path("/sys/fs/cgroup")
CREATED_PATHS = (
    Path("/var/log/pods"),
    Path("/var/log/containers"),
    Path("/run/containerd"),
    Path("/var/lib/cni"),
    Path("/run/netns"),
)
"""Fixed paths the kubelet, containerd's shims and CNI create whatever we configure."""


def _sysctls() -> dict[str, str]:
    values = {}
    for tree in SYSCTL_TREES:
        for path in Path("/proc/sys", tree).rglob("*"):
            name = str(path.relative_to("/proc/sys"))
            if path.is_file() and os.access(path, os.W_OK) and not name.startswith(VOLATILE):
                try:
                    values[str(path)] = path.read_text()
                except OSError:
                    continue
    return values


def _mounts() -> list[str]:
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line.split()[4] for line in lines]


def _links() -> list[str]:
    return sorted(p.name for p in Path("/sys/class/net").iterdir())


def _cgroups() -> list[str]:
    return sorted(str(p) for p in CGROUP_ROOT.glob("*/kubepods*"))


def _ruleset() -> str:
    # Debian's iptables is iptables-nft: every iptables and ip6tables chain the kubelet,
    # kube-proxy and CNI add is an nftables object, so one ruleset dump covers them all,
    # including tables that did not exist before (which iptables-restore cannot remove).
    return run("nft", "list", "ruleset").stdout


def record(file: Path) -> None:
    """Snapshot the host into `file`, unless a snapshot is already there (a crashed run's)."""
    if file.exists():
        return
    file.parent.mkdir(parents=True, exist_ok=True)
    snapshot = {
        "sysctls": _sysctls(),
        "mounts": _mounts(),
        "links": _links(),
        "cgroups": _cgroups(),
        "ruleset": _ruleset(),
        "paths": [str(p) for p in CREATED_PATHS if p.exists()],
    }
    tmp = file.with_suffix(".tmp")
    tmp.write_text(json.dumps(snapshot))
    tmp.rename(file)


def restore(file: Path, owned: list[Path]) -> list[str]:
    """Put the host back as `file` recorded it; returns what was done, for the log."""
    if not file.exists():
        return []
    snap = json.loads(file.read_text())
    done = []
    done += _kill_cgroup_tasks(set(snap["cgroups"]))
    done += _unmount_new(set(snap["mounts"]), owned + list(CREATED_PATHS) + [Path("/var/lib/kubelet")])
    done += _delete_new_links(set(snap["links"]))
    done += _restore_ruleset(snap["ruleset"])
    done += _restore_sysctls(snap["sysctls"])
    done += _remove_new_cgroups(set(snap["cgroups"]))
    done += _remove_new_paths(set(snap["paths"]))
    file.unlink()
    return done


def _new_cgroups(before: set[str]) -> list[Path]:
    new = [Path(p) for p in _cgroups() if p not in before]
    return sorted(
        (d for top in new for d in [top, *top.rglob("*")] if d.is_dir()),
        key=lambda d: len(d.parts),
        reverse=True,
    )


def _kill_cgroup_tasks(before: set[str]) -> list[str]:
    pids = set()
    for group in _new_cgroups(before):
        try:
            pids |= {int(p) for p in (group / "cgroup.procs").read_text().split()}
        except OSError:
            continue
    # SIGKILL at once: these are a test node's containers, and the kubelet that would
    # have stopped them gracefully is already gone.
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    for pid in pids:
        stop_pid(pid, timeout=5)
    return [f"killed {len(pids)} container processes"] if pids else []


def _unmount_new(before: set[str], owned: list[Path]) -> list[str]:
    prefixes = tuple(str(p) for p in owned)
    new = [m for m in _mounts() if m not in before and m.startswith(prefixes)]
    for point in sorted(new, key=len, reverse=True):
        run("umount", "-l", point, check=False)
    return [f"unmounted {len(new)} mounts"] if new else []


def _delete_new_links(before: set[str]) -> list[str]:
    new = [name for name in _links() if name not in before]
    for name in new:
        run("ip", "link", "delete", name, check=False)
    return [f"deleted links {' '.join(new)}"] if new else []


def _restore_ruleset(saved: str) -> list[str]:
    if _ruleset() == saved:
        return []
    run("nft", "flush", "ruleset")
    if saved.strip():
        run("nft", "-f", "-", input=saved)
    return ["restored the nftables ruleset (iptables, ip6tables)"]


def _restore_sysctls(saved: dict[str, str]) -> list[str]:
    changed = []
    for path, value in saved.items():
        try:
            if Path(path).read_text() != value:
                Path(path).write_text(value)
                changed.append(path.removeprefix("/proc/sys/").replace("/", "."))
        except OSError:
            continue  # an interface's entry that went away with it
    return [f"restored sysctls {' '.join(changed)}"] if changed else []


def _remove_new_cgroups(before: set[str]) -> list[str]:
    groups = _new_cgroups(before)
    for group in groups:
        try:
            group.rmdir()
        except OSError:
            continue
    return [f"removed {len(groups)} cgroups"] if groups else []


def _remove_new_paths(before: set[str]) -> list[str]:
    new = [p for p in CREATED_PATHS if p.exists() and str(p) not in before]
    for path in new:
        shutil.rmtree(path, ignore_errors=True)
    return [f"removed {' '.join(map(str, new))}"] if new else []


def kill_pods(file: Path) -> None:
    """Kill every process in the cgroups created since the snapshot (the pods' containers)."""
    if file.exists():
        _kill_cgroup_tasks(set(json.loads(file.read_text())["cgroups"]))
