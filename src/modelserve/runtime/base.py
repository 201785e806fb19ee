"""The runtime interface every model implementation follows: ``load()`` then ``predict(batch)``."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from modelserve.bundles import Bundle, BundleMetadata
from modelserve.errors import InvalidInput


class ModelRuntime(ABC):
    """One loaded model version. Subclasses keep ``predict`` free of I/O and locking."""

    def __init__(self, bundle: Bundle):
        self.bundle = bundle

    @property
    def metadata(self) -> BundleMetadata:
        return self.bundle.metadata

    @property
    def name(self) -> str:
        return self.bundle.name

    @property
    def version(self) -> int:
        return self.bundle.version

    @property
    def digest(self) -> str:
        """Names this version's exact content across nodes (``Bundle.digest``)."""
        return self.bundle.digest

    @abstractmethod
    def load(self) -> ModelRuntime:
        """Read the model into memory; returns self so ``Runtime(bundle).load()`` chains."""

    @abstractmethod
    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities of class 1, shape (N, 1) float32, for a (N, n_features) batch."""

    def check_batch(self, batch: np.ndarray) -> np.ndarray:
        x = np.asarray(batch, dtype=np.float32)
        n_features = self.metadata.n_features
        if x.ndim != 2 or x.shape[1] != n_features:
            raise InvalidInput(
                f"expected a batch of shape [N, {n_features}], got {list(x.shape)}", field="inputs"
            )
        if x.shape[0] == 0:
            raise InvalidInput("the batch is empty", field="inputs")
        return x
