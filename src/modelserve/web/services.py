"""What request handlers use, built once per process by ``web.app.create_app``."""

from __future__ import annotations

from dataclasses import dataclass

from modelserve.bundles import ModelStore
from modelserve.canary import CanaryJudge
from modelserve.execution import Executor
from modelserve.monitoring.database import Database
from modelserve.monitoring.log import PredictionLog
from modelserve.monitoring.monitor import Monitor
from modelserve.runtime import ModelCache
from modelserve.settings import Settings
from modelserve.web.metrics import Metrics


@dataclass
class Services:
    settings: Settings
    store: ModelStore
    cache: ModelCache  # loaded models: metadata for every request, runs them in embedded mode
    executor: Executor
    metrics: Metrics
    canary: CanaryJudge  # counts predictions while a canary runs, and ends it by its plan
    database: Database  # the prediction log's: feedback writes to it, the monitor reads it
    predictions: PredictionLog | None  # records what was served; None when turned off
    monitor: Monitor  # live accuracy and drift
