"""The production side of ``git push production``: a bare repository whose hooks call
modelserve, and reading a pushed bundle out of a commit. Git is called for exactly three
things: ``init --bare``, ``archive`` (the bundle's files) and ``config``."""

from __future__ import annotations

import io
import os
import shlex
import subprocess
import sys
import tarfile
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path

import jinja2

from modelserve.bundles import METADATA_FILE, read_metadata
from modelserve.errors import InvalidInput, ModelserveError
from modelserve.settings import Settings

HOOKS = ("pre-receive", "post-receive")
IGNORE_FILE = ".modelserveignore"
IGNORED = ("README*", "*.md", "*.txt", ".gitkeep", ".gitignore", ".gitattributes", IGNORE_FILE)
ZERO = "0" * 40
# Settings a hook needs, fixed at `deploy init` so that pushes over SSH (which start with a
# bare environment) behave exactly like local ones.
HOOK_SETTINGS = (
    "store",
    "model",
    "data",
    "deploy_branch",
    "deploy_path",
    "gate_max_accuracy_drop",
    "gate_min_accuracy",
    "gate_max_latency_ms",
    "canary",
    "canary_requests",
    "canary_seconds",
    "canary_error_margin",
    "canary_latency_factor",
)


def init_repository(path: Path, settings: Settings) -> Path:
    """Create the bare repository at ``path`` with modelserve's hooks."""
    path = Path(path).resolve()
    if path.exists() and any(path.iterdir()):
        raise InvalidInput(f"{path} exists and is not empty", field="path")
    result = subprocess.run(
        ["git", "init", "--quiet", "--bare", str(path)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise ModelserveError(f"git init failed: {result.stderr.strip()}")
    _git(path, "symbolic-ref", "HEAD", f"refs/heads/{settings.deploy_branch}")
    # Git itself refuses a rewound branch; `git config receive.denyNonFastForwards false` in
    # the repository allows it.
    _git(path, "config", "receive.denyNonFastForwards", "true")
    env = {f"MODELSERVE_{key.upper()}": _setting(settings, key) for key in HOOK_SETTINGS}
    template = _templates().get_template("hook.sh.j2")
    for hook in HOOKS:
        file = path / "hooks" / hook
        file.write_text(template.render(hook=hook, env=env, python=sys.executable))
        file.chmod(0o755)
    return path


def _setting(settings: Settings, key: str) -> str:
    value = getattr(settings, key)
    return str(Path(value).resolve()) if isinstance(value, Path) else str(value)


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("modelserve.delivery") / "templates")),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # shell scripts, quoted with shell_quote
    )
    env.filters["shell_quote"] = shlex.quote
    return env


def read_updates(stdin_text: str) -> list[tuple[str, str, str]]:
    """``<old> <new> <ref>`` lines, as git hands them to pre- and post-receive."""
    updates = []
    for line in stdin_text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            updates.append((parts[0], parts[1], parts[2]))
    return updates


def rewinds(git_dir: Path, old: str, new: str) -> bool:
    """Whether moving a branch from ``old`` to ``new`` drops commits (a force-push), where the
    repository does not allow that (a repository made before the setting refuses it too)."""
    if old == ZERO:
        return False
    allowed = _git(git_dir, "config", "--bool", "receive.denyNonFastForwards", check=False)
    if allowed.stdout.strip() == "false":
        return False
    ancestor = _git(git_dir, "merge-base", "--is-ancestor", old, new, check=False)
    return ancestor.returncode != 0


def branch_tip(git_dir: Path, ref: str) -> str | None:
    result = _git(git_dir, "rev-parse", "--verify", "-q", ref, check=False)
    return result.stdout.strip() or None


def _git(git_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "--git-dir", str(git_dir), *args], capture_output=True, text=True, check=check
    )


def extract_bundle(commit: str, folder: str, destination: Path) -> Path:
    """Write the files under ``folder`` in ``commit`` to ``destination``; the bundle folder,
    without the files a bundle ignores (:func:`drop_ignored`)."""
    result = subprocess.run(
        ["git", "archive", "--format=tar", commit, "--", folder],
        capture_output=True,
        env={**os.environ, "LC_ALL": "C"},
    )
    if result.returncode != 0:
        raise InvalidInput(
            f"commit {commit[:12]} has no folder {folder!r}: push a bundle there "
            f"(modelserve train --out {folder})",
            field="commit",
        )
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
        _extract(archive, Path(destination))
    bundle = destination / folder
    drop_ignored(bundle)
    return bundle


def drop_ignored(bundle: Path) -> list[str]:
    """Remove the files beside a bundle that are not part of it: notes (``README*``, ``*.md``),
    git's placeholders, and what ``.modelserveignore`` lists (one glob per line, ``#``
    comments). Returns their names."""
    patterns = list(IGNORED)
    listing = bundle / IGNORE_FILE
    if listing.is_file():
        for line in listing.read_text(errors="replace").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                patterns.append(line)
    listed = _listed(bundle)
    dropped = []
    for file in sorted(p for p in bundle.iterdir() if p.is_file()):
        if file.name not in listed and any(fnmatch(file.name, p) for p in patterns):
            file.unlink()
            dropped.append(file.name)
    return dropped


def _listed(bundle: Path) -> set[str]:
    """The files the bundle's metadata names (they are part of it, whatever their names)."""
    try:
        return {METADATA_FILE, *read_metadata(bundle).files}
    except ModelserveError:  # the gates say what is wrong with it
        return {METADATA_FILE}


def _extract(archive: tarfile.TarFile, destination: Path) -> None:
    """Plain files and folders inside ``destination`` only: a pushed commit is untrusted."""
    if hasattr(tarfile, "data_filter"):
        try:
            archive.extractall(destination, filter="data")
        except tarfile.FilterError as exc:
            raise InvalidInput(
                f"the commit holds {exc.tarinfo.name!r}, which is not a plain "
                f"file inside the bundle folder",
                field="commit",
            ) from exc
        return
    # Python before 3.11.4 (Debian 12 ships 3.11.2) has no extraction filters.
    root = destination.resolve()
    for member in archive.getmembers():
        target = (root / member.name).resolve()
        if not (member.isfile() or member.isdir()) or not target.is_relative_to(root):
            raise InvalidInput(
                f"the commit holds {member.name!r}, which is not a plain file "
                f"inside the bundle folder",
                field="commit",
            )
    archive.extractall(destination)
