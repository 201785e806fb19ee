"""A Docker engine for a test node, as the node's own would behave: dockerd runs in the
node's network namespace (containers with ``--network host`` are on the node's network) and
in a mount namespace of its own where the node's shared folders sit at the node's paths (a
bind mount names the same folder for the node and for its containers). The node reaches it
through ``/run/docker.sock``."""

from __future__ import annotations

import secrets
import shlex
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.netns import Host
from tests.support.node import Node
from tests.support.processes import Process

NODE_SOCKET_DIR = "/run/engine"


@contextmanager
def docker_engine(host: Host, workdir: Path, shared: dict[str, Path]) -> Iterator[dict]:
    """dockerd for the node in ``host``; ``shared`` maps node paths to host folders. Yields
    the nspawn binds the node needs (its shared folders and the engine's socket)."""
    sockets = workdir / "run"
    sockets.mkdir(parents=True)
    (workdir / "daemon.json").write_text("{}\n")
    # The managed containerd's sockets must fit in a socket address: a short state folder.
    state = Path(f"/run/ms-engine-{secrets.token_hex(3)}")
    mounts = "".join(
        f"mkdir -p {shlex.quote(path)} && mount --bind {shlex.quote(str(source))} "
        f"{shlex.quote(path)} && "
        for path, source in shared.items()
    )
    dockerd = shlex.join([
        "dockerd", "--data-root", str(workdir / "data"), "--exec-root", str(state),
        "--pidfile", str(state / "dockerd.pid"), "--host", f"unix://{sockets}/docker.sock",
        "--config-file", str(workdir / "daemon.json"), "--iptables=false", "--ip6tables=false",
        "--bridge=none",
    ])  # fmt: skip
    engine = Process(
        ["--mount", "--propagation", "private", "sh", "-c", f"{mounts}exec {dockerd}"],
        {},
        # nsenter, not `ip netns exec`: that mounts a new /sys, hiding the cgroups dockerd needs.
        prefix=["nsenter", f"--net=/run/netns/{host.name}"],
        command=["unshare"],
    )
    try:
        engine.log.wait_for("API listen on", timeout=120)
        yield {NODE_SOCKET_DIR: sockets, **shared}
    finally:
        engine.stop(timeout=60)
        subprocess.run(["rm", "-rf", str(state)], check=False)


def use_outside_engine(node: Node) -> None:
    """Points the node's Docker client at the engine and keeps its own dockerd from starting
    (the unit stays, so what requires docker.service still starts)."""
    link = f"L+ /run/docker.sock - - - - {NODE_SOCKET_DIR}/docker.sock\n"
    node.write("/etc/tmpfiles.d/engine.conf", link)
    node.write(
        "/etc/systemd/system/docker.service",
        "[Unit]\nDescription=Docker engine (outside this node)\n\n"
        "[Service]\nType=oneshot\nRemainAfterExit=yes\n"
        f"ExecStart=/usr/bin/test -S {NODE_SOCKET_DIR}/docker.sock\n\n"
        "[Install]\nWantedBy=multi-user.target\n",
    )
    _mask(node, "docker.socket", "containerd.service")


def no_engine(node: Node) -> None:
    """A node that needs no Docker engine starts none (its image carries Docker's package)."""
    _mask(node, "docker.service", "docker.socket", "containerd.service")


def _mask(node: Node, *units: str) -> None:
    for unit in units:
        masked = node.merged / "etc/systemd/system" / unit
        masked.unlink(missing_ok=True)
        masked.symlink_to("/dev/null")
