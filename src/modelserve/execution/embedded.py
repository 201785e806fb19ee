"""Embedded mode: the fast runtime inside the web process, no broker."""

from __future__ import annotations

import numpy as np

from modelserve.errors import ModelserveError
from modelserve.execution.base import Executor, Prediction, Readiness
from modelserve.runtime import ModelCache


class EmbeddedExecutor(Executor):
    mode = "embedded"

    def __init__(self, cache: ModelCache):
        self.cache = cache

    def predict(self, model: str, version: int | None, batch: np.ndarray) -> Prediction:
        runtime = self.cache.get(model, version)
        return Prediction(runtime.predict(batch), runtime.name, runtime.version)

    def readiness(self, model: str) -> Readiness:
        try:
            runtime = self.cache.current(model)
        except ModelserveError as exc:
            return Readiness(False, {"model": str(exc)})
        return Readiness(True, {"model": f"{runtime.name} version {runtime.version} loaded"})
