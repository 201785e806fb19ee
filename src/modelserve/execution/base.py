"""The executor interface: where a validated batch goes to be run by a model."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field

import numpy as np

from modelserve.batching import AdaptiveBatcher
from modelserve.runtime import ModelRuntime, Prediction


@dataclass(frozen=True)
class Batching:
    """How an executor gathers concurrent requests into one model call."""

    max_rows: int
    max_wait: float  # seconds
    callers: int | None = None  # request threads per process: at most this many wait at once

    def batcher(self, run, max_inflight: int) -> AdaptiveBatcher:
        return AdaptiveBatcher(
            run,
            max_rows=self.max_rows,
            max_wait=self.max_wait,
            max_inflight=max_inflight,
            callers=self.callers,
        )


@dataclass(frozen=True)
class Readiness:
    ready: bool
    checks: dict[str, str] = field(default_factory=dict)


class Executor(ABC):
    mode: str

    @abstractmethod
    def predict(self, model: ModelRuntime, batch: np.ndarray) -> Prediction:
        """Run ``batch`` through exactly the model version that validated it: ``model``
        itself in this process, or the same version and content on a worker."""

    @abstractmethod
    def readiness(self, model: str) -> Readiness:
        """Whether a request for ``model`` would be answered now, and why not."""
