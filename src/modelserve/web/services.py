"""What request handlers use, built once per process by ``web.app.create_app``."""

from __future__ import annotations

from dataclasses import dataclass

from modelserve.bundles import ModelStore
from modelserve.canary import CanaryJudge
from modelserve.execution import Executor
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
