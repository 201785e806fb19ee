"""A bare cloud node for tests: a debootstrapped Debian booted with systemd-nspawn inside a
network namespace, cloud-init finding its user-data through the NoCloud datasource."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from tests.support.netns import Host
from tests.support.processes import Process

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("MODELSERVE_TEST_CACHE", "/var/cache/modelserve-tests"))
BUILD_SCRIPT = ROOT / "deploy" / "rootfs" / "build-debian-rootfs.sh"


def base_rootfs(extra_packages: tuple[str, ...], suite: str = "bookworm") -> Path:
    """The cached image of this Debian suite with these packages, built once (a few minutes)
    and reused."""
    key = hashlib.sha256((BUILD_SCRIPT.read_text() + suite + " ".join(extra_packages)).encode())
    target = CACHE / f"rootfs-{key.hexdigest()[:12]}"
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [str(BUILD_SCRIPT), str(target), *extra_packages],
            check=True,
            capture_output=True,
            env={**os.environ, "DEBIAN_SUITE": suite},
        )
        (target / ".complete").touch()
    return target


class Node:
    """Boots ``rootfs`` (through an overlay, leaving the cache untouched) in ``host``."""

    def __init__(
        self,
        rootfs: Path,
        host: Host,
        workdir: Path,
        user_data: str,
        files: dict[str, str] | None = None,
        binds: dict[str, Path] | None = None,
        prepare=lambda node: None,
    ):
        """``files`` are written into the image before it boots (e.g. its apt sources), then
        ``prepare(node)`` runs; ``binds`` maps paths in the node to folders here."""
        self.host = host
        self.workdir = workdir
        self.merged = workdir / "merged"
        for name in ("upper", "work", "merged"):
            (workdir / name).mkdir(parents=True)
        subprocess.run(
            [
                "mount",
                "-t",
                "overlay",
                "overlay",
                "-o",
                f"lowerdir={rootfs},upperdir={workdir / 'upper'},workdir={workdir / 'work'}",
                str(self.merged),
            ],
            check=True,
        )
        for path, text in (files or {}).items():
            self.write(path, text)
        prepare(self)
        seed = self.merged / "var/lib/cloud/seed/nocloud"
        seed.mkdir(parents=True)
        (seed / "user-data").write_text(user_data)
        (seed / "meta-data").write_text(f"instance-id: {host.name}\nlocal-hostname: node\n")
        self.console = Process(
            [
                "-D",
                str(self.merged),
                "--boot",
                "--register=no",
                "--keep-unit",
                f"--network-namespace-path=/run/netns/{host.name}",
                # Its own network namespace, which root on a VM may configure (nftables).
                "--capability=CAP_NET_ADMIN",
                "--console=read-only",
                *(f"--bind={source}:{path}" for path, source in (binds or {}).items()),
            ],
            {"SYSTEMD_COLORS": "0"},
            command=["systemd-nspawn"],
        )

    def write(self, path: str, text: str, mode: int = 0o644) -> None:
        file = self.merged / path.lstrip("/")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)
        file.chmod(mode)

    def read(self, path: str) -> str:
        return (self.merged / path.lstrip("/")).read_text(errors="replace")

    def mode(self, path: str) -> str:
        return oct((self.merged / path.lstrip("/")).stat().st_mode & 0o777)

    def run(self, *command: str, timeout: float = 300) -> subprocess.CompletedProcess:
        """``command`` inside the running node, as root (through its init's namespaces)."""
        # The node's systemd is the one child of systemd-nspawn.
        nspawn = self.console.pid
        init = int(Path(f"/proc/{nspawn}/task/{nspawn}/children").read_text().split()[0])
        return subprocess.run(
            ["nsenter", "-t", str(init), "-m", "-u", "-i", "-n", "-p", *command],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def stop(self) -> None:
        self.console.stop(timeout=60)
        subprocess.run(["umount", "-l", str(self.merged)], check=False)
