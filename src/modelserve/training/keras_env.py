"""The one place that imports Keras, so TensorFlow is configured before it loads."""

from __future__ import annotations

import os

from modelserve.errors import MissingDependency

# TensorFlow reads these when it is imported. The log level quietens its start-up chatter;
# TensorFlow 2.21 announces oneDNN on stderr whatever the level says, and oneDNN's reordered
# float sums buy nothing for networks this small, so it stays off.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

try:
    import keras
except ImportError as exc:  # pragma: no cover - depends on the installation
    raise MissingDependency(
        "this command needs Keras and TensorFlow: pip install 'modelserve[train]'"
    ) from exc

__all__ = ["keras"]
