"""A bare cloud node for tests: a debootstrapped Debian booted with systemd-nspawn inside a
network namespace, cloud-init finding its user-data through the NoCloud datasource."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
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

    def write(self, path: str, text: str, mode: int = 0o644) -> None:
        file = self.merged / path.lstrip("/")
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(text)
        file.chmod(mode)

    def read(self, path: str) -> str:
        return (self.merged / path.lstrip("/")).read_text(errors="replace")

    def stop(self) -> None:
        self.console.stop(timeout=60)
        subprocess.run(["umount", "-l", str(self.merged)], check=False)


def wheelhouse(constraints: str, train: bool = False) -> Path:
    """modelserve's wheel and every pinned dependency (deploy/images/build-wheels.sh); the
    dependencies are downloaded once per constraint set, modelserve is built every time."""
    folder = CACHE / f"wheels-{hashlib.sha256(constraints.encode()).hexdigest()[:12]}"
    subprocess.run(
        [
            str(ROOT / "deploy" / "images" / "build-wheels.sh"),
            str(folder),
            *(["--train"] if train else []),
        ],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHON": sys.executable},
    )
    return folder


@contextmanager
def wheel_mirror(host: Host, constraints: str, train: bool = False) -> Iterator[str]:
    """The wheelhouse served over HTTP from ``host``, for nodes that have no package index."""
    server = Process(
        [
            "-m",
            "http.server",
            "8000",
            "--bind",
            host.address,
            "--directory",
            str(wheelhouse(constraints, train)),
        ],
        {},
        prefix=host.prefix,
        command=[sys.executable],
    )
    try:
        server.log.wait_for("Serving HTTP")
        yield f"http://{host.address}:8000/"
    finally:
        server.stop()
