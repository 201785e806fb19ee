"""What one model call answered, wherever it ran."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Prediction:
    probabilities: np.ndarray  # (N, 1) float32
    model: str
    version: int
    queue_wait: float | None = None  # seconds a task waited for a worker (Celery mode)
    shared_by: int | None = None  # requests in its model call when batching; None: not batching
