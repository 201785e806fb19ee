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
from importlib import resources
from pathlib import Path

import jinja2

from modelserve.errors import InvalidInput, ModelserveError
from modelserve.settings import Settings

HOOKS = ("pre-receive", "post-receive")
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
    subprocess.run(
        ["git", "-C", str(path), "symbolic-ref", "HEAD", f"refs/heads/{settings.deploy_branch}"],
        check=True,
    )
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


def extract_bundle(commit: str, folder: str, destination: Path) -> Path:
    """Write the files under ``folder`` in ``commit`` to ``destination``; the bundle folder."""
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
    return destination / folder


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
