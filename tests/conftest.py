"""Shared fixtures: the real dataset and legacy model from the shared data folder, real stores.

The legacy seed model is never copied into the repository; tests read it from the folder
beside the project (``../shared/data``) or from ``MODELSERVE_TEST_DATA``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from modelserve.bundles import ModelStore
from modelserve.settings import demo_bundle_path

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = Path(os.environ.get("MODELSERVE_TEST_DATA", ROOT.parent / "shared" / "data"))
    if not (path / "pima-indians-diabetes.csv").is_file():
        pytest.fail(f"test data not found in {path}: set MODELSERVE_TEST_DATA")
    return path


@pytest.fixture(scope="session")
def pima_csv(shared_data: Path) -> Path:
    return shared_data / "pima-indians-diabetes.csv"


@pytest.fixture(scope="session")
def seed_model(shared_data: Path) -> tuple[Path, Path]:
    folder = shared_data / "seed-model"
    return folder / "model.json", folder / "model.h5"


@pytest.fixture(scope="session")
def import_legacy_args(seed_model, pima_csv) -> list[str]:
    """``modelserve import-legacy`` arguments for the tutorial's files."""
    json_path, h5_path = seed_model
    return [
        "import-legacy",
        "--json",
        str(json_path),
        "--weights",
        str(h5_path),
        "--data",
        str(pima_csv),
    ]


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    """An empty store."""
    return ModelStore(tmp_path / "store")


@pytest.fixture
def demo_store(store: ModelStore) -> ModelStore:
    """A store holding the shipped demo bundle as version 1, current."""
    store.seed(demo_bundle_path(), "diabetes")
    return store


class Cli:
    """Runs the real ``modelserve`` command in a child process against one store."""

    def __init__(self, store_root: Path, **env: str):
        self.env = {**os.environ, "MODELSERVE_STORE": str(store_root), **env}

    def __call__(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "modelserve", *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            timeout=600,
        )


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "store")


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory, pima_csv: Path):
    """A store holding a model trained in full (150 epochs) by ``modelserve train``."""
    root = tmp_path_factory.mktemp("trained") / "store"
    result = Cli(root, MODELSERVE_SEED_DEMO="false")("train", "--data", str(pima_csv))
    assert result.returncode == 0, result.stderr
    return ModelStore(root), result
