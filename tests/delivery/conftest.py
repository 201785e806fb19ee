from __future__ import annotations

import os
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from modelserve.bundles import ModelStore
from tests.conftest import Cli
from tests.support.bundles import make_bundle
from tests.support.processes import Server, Worker

BROKER = "amqp://guest:guest@127.0.0.1:5672//"

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.org",
    "GIT_COMMITTER_NAME": "Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.org",
}


def git(*args: str, cwd: Path, env: dict | None = None, check: bool = True):
    return subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=check,
        env={**os.environ, **GIT_IDENTITY, **(env or {})},
    )


@dataclass
class Production:
    repo: Path
    store: ModelStore
    env: dict[str, str]
    cli: Cli

    def head(self) -> str | None:
        result = git("rev-parse", "--verify", "-q", "refs/heads/master", cwd=self.repo, check=False)
        return result.stdout.strip() or None


@dataclass
class Development:
    tree: Path

    def commit_bundle(self, kind: str, message: str | None = None) -> None:
        model = self.tree / "model"
        if model.exists():
            git("rm", "-rq", "model", cwd=self.tree)
        make_bundle(model, kind)
        git("add", "model", cwd=self.tree)
        git("commit", "-qm", message or f"{kind} model", cwd=self.tree)

    def push(self, branch: str = "master", env: dict | None = None):
        return git("push", "production", f"HEAD:{branch}", cwd=self.tree, env=env, check=False)


@pytest.fixture
def production(tmp_path, pima_csv) -> Production:
    """A production store (demo model current) and its repository, made by `deploy init`."""
    env = {"MODELSERVE_STORE": str(tmp_path / "store"), "MODELSERVE_DATA": str(pima_csv)}
    cli = Cli(tmp_path / "store", **env)
    result = cli("deploy", "init", str(tmp_path / "production.git"))
    assert result.returncode == 0, result.stderr
    return Production(tmp_path / "production.git", ModelStore(tmp_path / "store"), env, cli)


@pytest.fixture
def development(tmp_path, production) -> Development:
    tree = tmp_path / "dev"
    tree.mkdir()
    git("init", "-q", "-b", "master", cwd=tree)
    git("remote", "add", "production", str(production.repo), cwd=tree)
    return Development(tree)


@pytest.fixture(params=["embedded", "celery"])
def serving(request, production):
    """Web server (2 processes) and, in Celery mode, a worker (2 processes) on production."""
    env = dict(production.env)
    processes = []
    if request.param == "celery":
        env.update(
            MODELSERVE_BROKER_URL=BROKER, MODELSERVE_QUEUE=f"delivery-{uuid.uuid4().hex[:8]}"
        )
        processes.append(Worker(env, concurrency=2))
    server = Server(env, workers=2)
    processes.append(server)
    yield server
    for process in reversed(processes):
        process.stop()
