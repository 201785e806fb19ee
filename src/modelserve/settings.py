"""Typed settings, read from ``MODELSERVE_*`` environment variables and nowhere else."""

from __future__ import annotations

import os
import re
import tempfile
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AnyUrl, Field, SecretStr, UrlConstraints, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEMO_MODEL_NAME = "diabetes"

BrokerUrl = Annotated[AnyUrl, UrlConstraints(allowed_schemes=["amqp", "amqps", "pyamqp"])]


def _default_store() -> Path:
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data_home / "modelserve" / "store"


def _default_results() -> Path:
    return Path(tempfile.gettempdir()) / f"modelserve-results-{os.getuid()}"


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: str) -> timedelta:
    """``90s``, ``30m``, ``24h``, ``7d``: a span of time as people write it."""
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not a duration such as 30m, 24h or 7d")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"{value!r} is not a positive duration")
    return timedelta(seconds=seconds)


def format_duration(span: timedelta) -> str:
    """The shortest of ``parse_duration``'s forms that says ``span`` exactly (``24h``)."""
    seconds = span.total_seconds()
    for unit in "dhm":
        if seconds >= _UNIT_SECONDS[unit] and seconds % _UNIT_SECONDS[unit] == 0:
            return f"{int(seconds // _UNIT_SECONDS[unit])}{unit}"
    return f"{seconds:g}s"


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
        description="Dataset CSV for training and evaluation when none is named; the pages' "
        "data for a model whose bundle carries none.",
    )
    seed_demo: bool = Field(
        default=True,
        description="Install the shipped demo bundle when the store holds no model yet.",
    )

    # -- serving ---------------------------------------------------------------------------
    host: str = Field(default="127.0.0.1", description="Address the web server listens on.")
    port: int = Field(default=5100, ge=1, le=65535, description="Port of the web server.")
    web_workers: int = Field(default=2, ge=1, description="Web server processes.")
    web_threads: int | None = Field(
        default=None,
        ge=1,
        description="Requests one web server process runs at once; default: 256 (a request "
        "whose body is still arriving holds one); adaptive batching expects 2 embedded, 16 in "
        "Celery mode.",
    )
    broker_url: BrokerUrl | None = Field(
        default=None,
        description="RabbitMQ URL; set, requests run as Celery tasks on `modelserve worker`s.",
    )
    queue: str = Field(
        default="modelserve",
        pattern=r"^[A-Za-z0-9._-]{1,200}$",
        description="RabbitMQ queue of prediction tasks; deployments sharing a broker differ.",
    )
    request_timeout: float = Field(
        default=10.0, gt=0, description="Seconds a request may wait for a worker's answer."
    )
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Largest request body or upload (413)."
    )
    max_batch_rows: int = Field(default=10_000, ge=1, description="Most rows in one request (413).")
    batching: Literal["auto", "on", "off"] = Field(
        default="auto",
        description="Adaptive batching; auto: on in Celery mode, off in embedded mode.",
    )
    batch_max_size: int = Field(
        default=256, ge=1, description="Most rows run as one model call when batching."
    )
    batch_tasks_in_flight: int = Field(
        default=1,
        ge=1,
        description="Celery mode: batches each web process keeps in flight at once.",
    )
    batch_max_wait_ms: float = Field(
        default=2.0, ge=0, description="How long a request waits for others to join its batch."
    )
    api_token: SecretStr | None = Field(
        default=None,
        min_length=8,
        description="If set, the JSON API requires `Authorization: Bearer <token>`.",
    )

    @field_validator("api_token", mode="before")
    @classmethod
    def _empty_token_is_no_token(cls, value: object) -> object:
        # `MODELSERVE_API_TOKEN=` (as compose writes an unset variable) means no token, never
        # a token that an empty bearer would match.
        return None if value == "" else value

    results: Path = Field(
        default_factory=_default_results,
        description="Folder where the pages keep prediction results for an hour (paging, CSV).",
    )
    pages: bool = Field(
        default=True,
        description="Serve the HTML pages; turn off where only the token-guarded API may be open.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Signs form (CSRF) tokens; random per `modelserve serve` run when unset.",
    )
    # -- monitoring (prediction log, feedback, live accuracy, drift) ------------------------
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL of the prediction log (e.g. postgresql://user@host/db); "
        "default: SQLite, predictions.db beside the store.",
    )
    prediction_log: bool = Field(
        default=True, description="Record served predictions (for feedback, accuracy, drift)."
    )
    prediction_log_sample: float = Field(
        default=1.0, gt=0, le=1, description="Share of prediction requests recorded."
    )
    prediction_log_queue_rows: int = Field(
        default=50_000,
        ge=1,
        description="Rows a web process holds for the log while the database is slow or down; "
        "beyond them rows are dropped and counted.",
    )
    prediction_log_retention: timedelta = Field(
        default=timedelta(days=30), description="Age after which logged predictions are deleted."
    )
    monitor_window: timedelta = Field(
        default=timedelta(hours=24),
        description="The recent span live accuracy and drift are measured over (e.g. 24h).",
    )
    monitor_cache_seconds: float = Field(
        default=15.0,
        ge=0,
        description="How long /metrics reuses its live accuracy and drift figures.",
    )
    drift_threshold: float = Field(
        default=0.2,
        gt=0,
        description="Population stability index above which a feature counts as drifted.",
    )
    drift_min_rows: int = Field(
        default=200, ge=10, description="Recent rows needed before drift is judged."
    )

    @field_validator("prediction_log_retention", "monitor_window", mode="before")
    @classmethod
    def _duration(cls, value: object) -> object:
        return parse_duration(value) if isinstance(value, str) and _DURATION.match(value) else value

    @field_validator("prediction_log_retention", "monitor_window")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value.total_seconds() <= 0:
            raise ValueError("must be a positive duration, such as 30m, 24h or 7d")
        return value

    @field_validator("database_url", mode="before")
    @classmethod
    def _empty_url_is_default(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("database_url")
    @classmethod
    def _supported_database(cls, value: SecretStr | None) -> SecretStr | None:
        scheme = "" if value is None else value.get_secret_value().partition(":")[0]
        if value is not None and scheme.partition("+")[0] not in ("postgresql", "sqlite"):
            raise ValueError("use postgresql://user:password@host/database or sqlite:///path")
        return value

    worker_concurrency: int = Field(
        default=2, ge=1, description="Processes per `modelserve worker`."
    )
    log_level: str = Field(default="INFO", description="Log level of web and worker processes.")

    # -- delivery (git push production) ----------------------------------------------------
    deploy_branch: str = Field(
        default="master", description="The branch whose pushes go live; others are only stored."
    )
    deploy_path: str = Field(
        default="model",
        pattern=r"^[A-Za-z0-9._-][A-Za-z0-9._/-]*$",
        description="Folder of the pushed repository that holds the bundle.",
    )
    gate_max_accuracy_drop: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description="A new model may be at most this much less accurate than the current one.",
    )
    gate_min_accuracy: float = Field(
        default=0.70, ge=0, le=1, description="No model below this accuracy goes live."
    )
    gate_max_latency_ms: float = Field(
        default=5.0, gt=0, description="Budget for one single-row prediction (median)."
    )
    canary: float = Field(
        default=0.0,
        ge=0,
        lt=1,
        description="Share of requests a pushed version answers first, as a canary (0: none).",
    )
    canary_requests: int = Field(
        default=500, ge=1, description="Canary requests after which it is judged."
    )
    canary_seconds: float = Field(
        default=300.0, gt=0, description="Seconds after which a canary is judged at the latest."
    )
    canary_error_margin: float = Field(
        default=0.01,
        ge=0,
        le=1,
        description="How much higher than the current version's a canary's error rate may be.",
    )
    canary_latency_factor: float = Field(
        default=1.5,
        ge=1,
        description="How many times the current version's p99 latency a canary's may reach.",
    )

    @property
    def threads(self) -> int:
        if self.web_threads is not None:
            return self.web_threads
        return 2 if self.broker_url is None else 16

    @property
    def batching_enabled(self) -> bool:
        wanted = self.broker_url is not None if self.batching == "auto" else self.batching == "on"
        return wanted and self.batch_max_size > 1


def get_settings(**overrides: object) -> Settings:
    """Read the environment now (never at import time), with explicit overrides on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
