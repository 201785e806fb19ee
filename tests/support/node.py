"""A bare cloud node for tests: a debootstrapped Debian booted with systemd-nspawn inside a
network namespace, cloud-init finding its user-data through the NoCloud datasource."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.support.netns import Host
from tests.support.processes import Process

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("MODELSERVE_TEST_CACHE", "/var/cache/modelserve-tests"))
BUILD_SCRIPT = ROOT / "deploy" / "rootfs" / "build-debian-rootfs.sh"


def base_rootfs(extra_packages: tuple[str, ...]) -> Path:
    """The cached image for these packages, built once (a few minutes) and reused."""
    key = hashlib.sha256((BUILD_SCRIPT.read_text() + " ".join(extra_packages)).encode())
    target = CACHE / f"rootfs-{key.hexdigest()[:12]}"
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [str(BUILD_SCRIPT), str(target), *extra_packages], check=True, capture_output=True
        )
        (target / ".complete").touch()
    return target


class Node:
    """Boots ``rootfs`` (through an overlay, leaving the cache untouched) in ``host``."""

    def __init__(self, rootfs: Path, host: Host, workdir: Path, user_data: str):
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
                "--console=read-only",
            ],
            {"SYSTEMD_COLORS": "0"},
            command=["systemd-nspawn"],
        )

    def read(self, path: str) -> str:
        return (self.merged / path.lstrip("/")).read_text(errors="replace")

    def stop(self) -> None:
        self.console.stop(timeout=60)
        subprocess.run(["umount", "-l", str(self.merged)], check=False)


def wheelhouse(constraints: str) -> Path:
    """modelserve's wheel and every pinned dependency, downloaded once per constraint set."""
    key = hashlib.sha256(constraints.encode()).hexdigest()[:12]
    folder = CACHE / f"wheels-{key}"
    if not (folder / ".complete").exists():
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "constraints.txt").write_text(constraints)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--only-binary=:all:",
                "--dest",
                str(folder),
                "-c",
                str(folder / "constraints.txt"),
                *[line for line in constraints.splitlines() if line and not line.startswith("#")],
            ],
            check=True,
            capture_output=True,
        )
        (folder / ".complete").touch()
    # modelserve itself is built from this checkout every time.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--wheel-dir",
            str(folder),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    return folder
