"""The one place that imports Keras, so TensorFlow is configured before it loads."""

from __future__ import annotations

import os

from modelserve.errors import MissingDependency

# TensorFlow reads these when it is imported; they only quieten its start-up chatter.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

try:
    import keras
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise MissingDependency(
        "this command needs Keras and TensorFlow: pip install 'modelserve[train]'"
    ) from exc

__all__ = ["keras"]
