"""Model runtimes behind one interface: ``load()`` then ``predict(batch)``.

``numpy`` is the serving runtime and never imports TensorFlow; ``keras`` runs ``model.keras``
itself and needs the ``train`` extra.
"""

from __future__ import annotations

from modelserve.bundles import Bundle
from modelserve.runtime.base import ModelRuntime
from modelserve.runtime.cache import ModelCache
from modelserve.runtime.keras_runtime import KerasRuntime
from modelserve.runtime.numpy_runtime import NumpyRuntime
from modelserve.runtime.prediction import Prediction

RUNTIMES: dict[str, type[ModelRuntime]] = {"numpy": NumpyRuntime, "keras": KerasRuntime}


def load_runtime(bundle: Bundle, kind: str = "numpy") -> ModelRuntime:
    return RUNTIMES[kind](bundle).load()


__all__ = [
    "RUNTIMES",
    "KerasRuntime",
    "ModelCache",
    "ModelRuntime",
    "NumpyRuntime",
    "Prediction",
    "load_runtime",
]
