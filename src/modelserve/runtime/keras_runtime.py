"""The reference runtime: ``model.keras`` in Keras, for training-side checks and benchmarks.

Importing this module does not import Keras; ``load()`` does.
"""

from __future__ import annotations

import numpy as np

from modelserve.bundles import KERAS_FILE
from modelserve.runtime.base import ModelRuntime


class KerasRuntime(ModelRuntime):
    def load(self) -> KerasRuntime:
        from modelserve.training.keras_env import keras

        self.model = keras.saving.load_model(self.bundle.path / KERAS_FILE, compile=False)
        return self

    def predict(self, batch: np.ndarray) -> np.ndarray:
        x = self.check_batch(batch)
        return np.asarray(self.model.predict_on_batch(x), dtype=np.float32)
