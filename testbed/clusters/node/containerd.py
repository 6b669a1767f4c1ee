"""containerd 1.6 + runc from Debian, as the node's CRI runtime, with its own root, state
and socket under the state directory (a second containerd on the machine is unaffected).

The settings this machine needs (PLATFORM.md "A real node"): cgroupfs (no systemd),
restrict_oom_score_adj (root lacks CAP_SYS_RESOURCE), no AppArmor, network namespaces
under the state directory, runc (crun refuses the hybrid cgroup layout), the sandbox
image built here (no registry).
"""

from __future__ import annotations

from pathlib import Path

from testbed.process import Daemon, run

from .cni import BIN_DIR, conf_dir
from .layout import Layout

PAUSE_IMAGE = "localhost/pause:calb-1"


def _config(layout: Layout) -> str:
    root = layout.state / "containerd"
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{root}/root"
state = "{root}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{layout.containerd_socket}"
[ttrpc]
  address = "{root}/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  disable_apparmor = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"
[{cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
[{cri}.cni]
  bin_dir = "{BIN_DIR}"
  conf_dir = "{conf_dir(layout)}"
"""


def daemon(layout: Layout) -> Daemon:
    config = layout.state / "containerd" / "config.toml"
    return Daemon("containerd", ["/usr/bin/containerd", "--config", str(config)], layout.logs, layout.pids)


def ctr(layout: Layout, *args: str, **kw):
    """Debian's `ctr` on this containerd, in the CRI's k8s.io namespace."""
    return run("ctr", "--address", str(layout.containerd_socket), "-n", "k8s.io", *args, **kw)


def ready(layout: Layout) -> bool:
    return ctr(layout, "version", check=False, timeout=5).returncode == 0


def start(layout: Layout) -> Daemon:
    (layout.state / "containerd").mkdir(parents=True, exist_ok=True)
    (layout.state / "containerd" / "config.toml").write_text(_config(layout))
    return daemon(layout).launch(lambda: ready(layout), 60, "its socket")


def shim_pids(layout: Layout) -> list[int]:
    """containerd-shim processes of THIS containerd: they name its socket on their command
    line, and outlive it (they re-parent to init), so `down` finds them this way."""
    marker = str(layout.containerd_socket).encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and marker in argv:
            pids.append(int(proc.name))
    return pids
