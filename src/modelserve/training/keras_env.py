"""The one place that imports Keras, so TensorFlow is configured before it loads."""

from __future__ import annotations

import importlib.util
import os

from modelserve.errors import MissingDependency

INSTALL_HINT = "training needs TensorFlow: run `make train` or `pip install 'modelserve[train]'`"

# TensorFlow reads these when it is imported. Level 3 keeps its C++ start-up chatter (absl's
# "before InitializeLog" warning, NodeDef attribute notes, CUDA probes) off a person's
# terminal: what goes wrong still reaches them as a Python exception. TensorFlow 2.21
# announces oneDNN on stderr whatever the level says, and oneDNN's reordered float sums buy
# nothing for networks this small, so it stays off.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

# The serving-only install lacks the whole `train` extra: say how to get it, not which of its
# modules was looked up first.
if any(importlib.util.find_spec(m) is None for m in ("tensorflow", "keras", "sklearn")):
    raise MissingDependency(INSTALL_HINT)

try:
    import absl.logging

    # TensorFlow's Python side logs through absl; warnings about its own internals are noise
    # to someone training a model.
    absl.logging.set_verbosity(absl.logging.ERROR)
except ImportError:  # pragma: no cover - absl comes with TensorFlow
    pass

try:
    import keras
except ImportError as exc:  # pragma: no cover - a broken installation
    raise MissingDependency(f"{INSTALL_HINT} ({exc})") from exc

__all__ = ["INSTALL_HINT", "keras"]
