"""Embedded mode: the fast runtime inside the web process, no broker."""

from __future__ import annotations

import numpy as np

from modelserve.errors import ModelserveError
from modelserve.execution.base import Batching, Executor, Prediction, Readiness
from modelserve.runtime import ModelCache, ModelRuntime


class EmbeddedExecutor(Executor):
    mode = "embedded"

    def __init__(self, cache: ModelCache, batching: Batching | None = None):
        self.cache = cache
        # One model call at a time: it is CPU work under the GIL, more would only queue.
        self._batcher = batching.batcher(self._run, max_inflight=1) if batching else None

    def predict(self, model: ModelRuntime, batch: np.ndarray) -> Prediction:
        if self._batcher is None:
            return self._run(model, batch)
        return self._batcher.submit(model, batch)

    def _run(self, model: ModelRuntime, batch: np.ndarray) -> Prediction:
        return Prediction(model.predict(batch), model.name, model.version)

    def readiness(self, model: str) -> Readiness:
        try:
            runtime = self.cache.current(model)
        except ModelserveError as exc:
            return Readiness(False, {"model": str(exc)})
        return Readiness(True, {"model": f"{runtime.name} version {runtime.version} loaded"})
