"""Typed settings, read from ``MODELSERVE_*`` environment variables and nowhere else."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_MODEL_NAME = "diabetes"


def _default_store() -> Path:
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data_home / "modelserve" / "store"


def demo_dataset_path() -> Path:
    return Path(str(resources.files("modelserve.demo") / "pima-indians-diabetes.csv"))


def demo_bundle_path() -> Path:
    return Path(str(resources.files("modelserve.demo") / "bundle"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MODELSERVE_", extra="ignore")

    store: Path = Field(
        default_factory=_default_store,
        description="Folder of the model store: <store>/<model>/<version>/.",
    )
    model: str = Field(
        default=DEMO_MODEL_NAME, description="Model used when a command or request names none."
    )
    data: Path = Field(
        default_factory=demo_dataset_path,
        description="Dataset CSV for training, evaluation and the /predictions page.",
    )
    seed_demo: bool = Field(
        default=True,
        description="Install the shipped demo bundle when the store holds no model yet.",
    )


def get_settings(**overrides: object) -> Settings:
    """Read the environment now (never at import time), with explicit overrides on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
