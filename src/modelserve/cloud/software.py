"""What a node installs, decided on the machine that renders its user-data.

* modelserve itself: this installation's own wheel, which the node receives over SSH after
  boot (``cloud launch`` sends it; nothing needs to be published) or fetches from a URL the
  user gives. Either way the user-data pins its SHA-256, so nothing else can be installed.
* every third-party dependency: resolved by pip for each supported Python and architecture,
  and pinned with the SHA-256 of every file a node may pick (``pip --require-hashes``).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

from packaging.requirements import Requirement

from modelserve.errors import ModelserveError

# The Pythons of the supported images: Ubuntu 22.04 (3.10), Debian 12 (3.11), Ubuntu 24.04
# (3.12), Debian 13 (3.13); and the architectures research clouds run.
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
ARCHES = ("x86_64", "aarch64")
# glibc of the oldest supported image (Ubuntu 22.04: 2.35). pip takes a --platform literally,
# so every manylinux tag a node of that glibc accepts is listed (granian's aarch64 wheels are
# manylinux_2_28 only).
GLIBC_MINOR = 35
OLDEST_MANYLINUX_MINOR = 17
PYPI = "https://pypi.org/simple"


class SoftwareError(ModelserveError):
    """The node's software cannot be pinned or built here."""


@dataclass(frozen=True)
class Wheel:
    filename: str
    sha256: str
    data: bytes | None = None  # None: the node fetches it from where the user said

    @classmethod
    def of(cls, filename: str, data: bytes) -> Wheel:
        return cls(filename, hashlib.sha256(data).hexdigest(), data)


def own_wheel() -> Wheel:
    """modelserve as installed here, as a wheel: built from the source tree of an editable
    install, or taken from the wheel pip installed it from."""
    dist = metadata.distribution("modelserve")
    origin = json.loads(dist.read_text("direct_url.json") or "{}")
    source = origin.get("url", "")
    if not source.startswith("file://"):
        raise SoftwareError(
            "cannot find modelserve's own source or wheel: install it from a source tree "
            "(pip install -e .) or a wheel file, or give --source URL#sha256=..."
        )
    path = Path(source.removeprefix("file://"))
    if path.is_file() and path.suffix == ".whl":
        return Wheel.of(path.name, path.read_bytes())
    cached = _cache_dir() / f"wheel-{_tree_digest(path)}"
    if cached.is_dir() and (built := list(cached.glob("modelserve-*.whl"))):
        return Wheel.of(built[0].name, built[0].read_bytes())
    with tempfile.TemporaryDirectory() as out:
        built = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", out, str(path)],
            capture_output=True,
            text=True,
            # Fixed file times in the archive: the same source gives the same wheel and hash.
            env={**os.environ, "SOURCE_DATE_EPOCH": "315532800"},
        )
        wheels = list(Path(out).glob("modelserve-*.whl"))
        if built.returncode != 0 or not wheels:
            raise SoftwareError(f"building modelserve's wheel failed: {built.stderr.strip()}")
        wheel = Wheel.of(wheels[0].name, wheels[0].read_bytes())
    _write_atomically(cached / wheel.filename, wheel.data)
    return wheel


def _tree_digest(root: Path) -> str:
    """Names, sizes and times of the files a wheel is built from: a rebuild when any changes."""
    digest = hashlib.sha256()
    for path in sorted([*root.glob("src/**/*"), *root.glob("*.toml"), *root.glob("README*")]):
        # Not what a build writes back into the tree (egg-info), nor bytecode.
        skipped = any(part == "__pycache__" or part.endswith(".egg-info") for part in path.parts)
        if path.is_file() and not skipped:
            stat = path.stat()
            digest.update(
                f"{path.relative_to(root)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
            )
    return digest.hexdigest()[:24]


def dependencies(train: bool = False) -> list[str]:
    """modelserve's own requirements (with the ``train`` extra's when asked). A marker other
    than the extra stays: pip evaluates it for each node's Python and architecture."""
    requirements = []
    for line in metadata.requires("modelserve") or []:
        requirement = Requirement(line)
        marker = str(requirement.marker or "")
        if "extra ==" not in marker:
            requirements.append(str(requirement))
        elif train and marker == 'extra == "train"':
            requirement.marker = None
            requirements.append(str(requirement))
    return requirements


def hashed_requirements(
    requirements: list[str],
    index_url: str | None = None,
    pythons: tuple[str, ...] = PYTHONS,
    arches: tuple[str, ...] = ARCHES,
    prefer: str = "",
) -> str:
    """A requirements file pinning every package a node installs, with the hashes of the
    files each supported Python and architecture would take. A package whose version differs
    between Pythons gets one line per version, with a marker. ``prefer`` is a constraints
    file: the versions to take where a Python can have them (those this installation runs).

    Kept in the user's cache: the same inputs give the same pins, without asking the index.
    """
    index_url = index_url or PYPI
    key = json.dumps([requirements, index_url, pythons, arches, prefer], sort_keys=True)
    cached = _cache_dir() / f"requirements-{hashlib.sha256(key.encode()).hexdigest()[:24]}.txt"
    if cached.is_file():
        return cached.read_text()
    targets = [(python, arch) for python in pythons for arch in arches]
    with ThreadPoolExecutor(len(targets)) as pool:
        resolved = list(pool.map(lambda t: _resolve(requirements, index_url, prefer, *t), targets))
    pins: dict[tuple[str, str], dict] = {}
    for target, files in zip(targets, resolved, strict=True):
        for name, version, sha256 in files:
            pin = pins.setdefault((name, version), {"targets": set(), "hashes": set()})
            pin["targets"].add(target)
            pin["hashes"].add(sha256)
    lines = [
        "# Pinned by `modelserve cloud render`: every file a supported node may install.",
        f"# Resolved from {index_url} for Python {', '.join(pythons)} on {', '.join(arches)}.",
    ]
    for (name, version), pin in sorted(pins.items()):
        marker = _marker(pin["targets"], targets)
        hashes = " ".join(f"--hash=sha256:{h}" for h in sorted(pin["hashes"]))
        lines.append(f"{name}=={version}{f' ; {marker}' if marker else ''} {hashes}")
    text = "\n".join(lines) + "\n"
    _write_atomically(cached, text.encode())
    return text


def _marker(chosen: set[tuple[str, str]], targets: list[tuple[str, str]]) -> str:
    """The environment marker selecting ``chosen`` among ``targets`` (Python, architecture):
    none for all of them, by Python or by architecture where that suffices, else each pair."""
    if chosen == set(targets):
        return ""
    pythons = {python for python, _ in chosen}
    arches = {arch for _, arch in chosen}
    if chosen == {t for t in targets if t[0] in pythons}:
        return f'python_version in "{" ".join(sorted(pythons))}"'
    if chosen == {t for t in targets if t[1] in arches}:
        return f'platform_machine in "{" ".join(sorted(arches))}"'
    return " or ".join(
        f'(python_version == "{python}" and platform_machine == "{arch}")'
        for python, arch in sorted(chosen)
    )


def _write_atomically(path: Path, data: bytes) -> None:
    """Concurrent renders read a whole file or none."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as part:
        part.write(data)
    os.replace(part.name, path)


def trusted_host(index_url: str | None) -> list[str]:
    """pip's option to use an index over plain HTTP (a mirror inside the cloud), if needed."""
    if index_url and index_url.startswith("http://"):
        return ["--trusted-host", urlsplit(index_url).hostname]
    return []


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "modelserve"


def _resolve(
    requirements: list[str], index_url: str, prefer: str, python: str, arch: str
) -> list[tuple]:
    """(name, version, sha256) of what pip installs for one Python and architecture: with
    the preferred versions where this Python can have them, else the newest that fit."""
    try:
        return _pip_resolve(requirements, index_url, prefer, python, arch)
    except SoftwareError:
        if not prefer:
            raise
        return _pip_resolve(requirements, index_url, "", python, arch)


def pip_platforms(arch: str) -> list[str]:
    """pip's --platform options for a glibc node of ``arch``, newest tag first."""
    minors = range(GLIBC_MINOR, OLDEST_MANYLINUX_MINOR - 1, -1)
    return [
        option
        for tag in [*(f"manylinux_2_{m}_{arch}" for m in minors), f"manylinux2014_{arch}"]
        for option in ("--platform", tag)
    ]


def _pip_resolve(
    requirements: list[str], index_url: str, prefer: str, python: str, arch: str
) -> list[tuple]:
    abi = "cp" + python.replace(".", "")
    with tempfile.TemporaryDirectory() as work:
        report = Path(work) / "report.json"
        constraints = Path(work) / "constraints.txt"
        constraints.write_text(prefer)
        command = [
            sys.executable, "-m", "pip", "install", "--dry-run", "--quiet",
            "--ignore-installed", "--only-binary=:all:", "--target", str(Path(work) / "none"),
            "--python-version", python, "--implementation", "cp", "--abi", abi,
            *pip_platforms(arch),
            "--index-url", index_url, *trusted_host(index_url), "--report", str(report),
            "--constraint", str(constraints), *requirements,
        ]  # fmt: skip
        # Only the index the nodes will use: no local wheel folders or extra indexes.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
        env.update(PIP_CONFIG_FILE=os.devnull, PIP_DISABLE_PIP_VERSION_CHECK="1")
        if os.environ.get("PIP_CERT"):
            env["PIP_CERT"] = os.environ["PIP_CERT"]
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)
        if done.returncode != 0:
            reason = done.stderr.strip().splitlines()[-1:] or ["no output"]
            raise SoftwareError(
                f"cannot pin the dependencies for Python {python} on {arch} from {index_url}: "
                f"{reason[0]}"
            )
        installs = json.loads(report.read_text())["install"]
    pinned = []
    for item in installs:
        hashes = item["download_info"].get("archive_info", {}).get("hashes", {})
        if "sha256" not in hashes:
            raise SoftwareError(f"{index_url} gives no SHA-256 for {item['metadata']['name']}")
        name = item["metadata"]["name"].lower().replace("_", "-")
        pinned.append((name, item["metadata"]["version"], hashes["sha256"]))
    return pinned


def installed_versions(train: bool = False) -> str:
    """``name==version`` for every installed dependency of modelserve (and of its ``train``
    extra when asked): the versions this installation runs, as a pip constraints file."""
    pins: dict[str, str] = {}
    pending = [Requirement(r) for r in dependencies(train)]
    while pending:
        requirement = pending.pop()
        name = requirement.name.lower()
        if name in pins or name == "modelserve":
            continue
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            continue
        pins[name] = dist.version
        extras = requirement.extras or {""}  # psycopg[binary] brings psycopg-binary
        for child in dist.requires or []:
            req = Requirement(child)
            if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras):
                pending.append(req)
    lines = ["# The versions modelserve runs with here."]
    return "\n".join(lines + [f"{n}=={v}" for n, v in sorted(pins.items())]) + "\n"
