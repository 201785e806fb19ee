"""Stand-ins for the Debian mirror and the Python package index inside a test network.

Each is filled once from the real registries (cached, keyed by what it must hold) and then
served over HTTP from a network namespace, so booting nodes install their packages the way
a cloud's nodes do, from nothing preinstalled, without reaching outside this machine:

* an apt repository (flat, ``deb [trusted=yes] URL ./``) holding every .deb a role installs
  beyond a stock image, downloaded by apt inside the stock image itself;
* a PEP 503 "simple" index holding the wheels a node's Python takes, with their SHA-256.
"""

from __future__ import annotations

import hashlib
import html
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from packaging.utils import canonicalize_name, parse_wheel_filename

from modelserve.cloud.software import pip_platforms
from tests.support.netns import Host
from tests.support.node import CACHE, ROOT
from tests.support.processes import Process


def apt_repository(rootfs: Path, packages: tuple[str, ...]) -> Path:
    """The .debs that ``apt-get install packages`` needs on ``rootfs``, with a Packages index."""
    key = hashlib.sha256(f"{rootfs.name} {' '.join(sorted(packages))}".encode()).hexdigest()[:12]
    repo = CACHE / f"apt-{key}"
    if (repo / "Packages").exists():
        return repo
    work = CACHE / f"apt-{key}.work"
    shutil.rmtree(work, ignore_errors=True)
    for name in ("upper", "work", "merged"):
        (work / name).mkdir(parents=True)
    subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o",
         f"lowerdir={rootfs},upperdir={work / 'upper'},workdir={work / 'work'}",
         str(work / "merged")],
        check=True,
    )  # fmt: skip
    try:
        subprocess.run(
            ["systemd-nspawn", "--quiet", "--register=no", "--keep-unit", "-D",
             str(work / "merged"), "sh", "-c",
             "apt-get update -q && apt-get install -q -y --download-only " + " ".join(packages)],
            check=True,
            capture_output=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )  # fmt: skip
        shutil.rmtree(repo, ignore_errors=True)
        repo.mkdir(parents=True)
        for deb in (work / "merged" / "var/cache/apt/archives").glob("*.deb"):
            shutil.copy2(deb, repo / deb.name)
    finally:
        subprocess.run(["umount", "-l", str(work / "merged")], check=False)
        shutil.rmtree(work, ignore_errors=True)
    stanzas = []
    for deb in sorted(repo.glob("*.deb")):
        control = subprocess.run(
            ["dpkg-deb", "-f", str(deb)], check=True, capture_output=True, text=True
        ).stdout.rstrip("\n")
        data = deb.read_bytes()
        stanzas.append(
            f"{control}\nFilename: ./{deb.name}\nSize: {len(data)}\n"
            f"SHA256: {hashlib.sha256(data).hexdigest()}\n"
        )
    (repo / "Packages").write_text("\n".join(stanzas))
    return repo


def package_index(pins: str, python: str, arch: str = "x86_64") -> Path:
    """A simple index holding the wheels ``pins`` (a requirements file) takes on one Python."""
    key = hashlib.sha256(f"{pins}{python}{arch}".encode()).hexdigest()[:12]
    index = CACHE / f"pypi-{key}"
    if (index / "simple" / "index.html").exists():
        return index
    shutil.rmtree(index, ignore_errors=True)
    files = index / "files"
    files.mkdir(parents=True)
    requirements = index / "requirements.txt"
    requirements.write_text(pins)
    # Every manylinux tag the node's glibc runs, as the pins were resolved: pip does not
    # widen an explicit --platform to older tags (numpy 2.4.6 has manylinux_2_27 wheels only).
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "--python-version", python, "--implementation", "cp", "--abi",
         "cp" + python.replace(".", ""), *pip_platforms(arch), "--dest", str(files),
         "-r", str(requirements)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    projects: dict[str, list[Path]] = {}
    for wheel in files.glob("*.whl"):
        projects.setdefault(canonicalize_name(parse_wheel_filename(wheel.name)[0]), []).append(
            wheel
        )
    simple = index / "simple"
    for project, wheels in projects.items():
        links = "".join(
            f'<a href="../../files/{html.escape(w.name)}#sha256='
            f'{hashlib.sha256(w.read_bytes()).hexdigest()}">{html.escape(w.name)}</a>\n'
            for w in sorted(wheels)
        )
        (simple / project).mkdir(parents=True)
        (simple / project / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{links}")
    listing = "".join(f'<a href="{p}/">{p}</a>\n' for p in sorted(projects))
    (simple / "index.html").write_text(f"<!DOCTYPE html><html><body>\n{listing}")
    return index


@contextmanager
def serve(host: Host, folders: dict[str, Path], port: int = 8000) -> Iterator[str]:
    """``folders`` under one HTTP root (``/name/…``) served from ``host``; yields its URL."""
    root = CACHE / f"serve-{host.name}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for name, folder in folders.items():
        (root / name).symlink_to(folder)
    server = Process(
        ["-m", "http.server", str(port), "--bind", host.address, "--directory", str(root)],
        {},
        prefix=host.prefix,
        command=[sys.executable],
    )
    try:
        server.log.wait_for("Serving HTTP")
        yield f"http://{host.address}:{port}"
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


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
    with serve(host, {"wheels": wheelhouse(constraints, train)}) as url:
        yield f"{url}/wheels/"
