"""Bundle variants for delivery tests, made from the shipped demo bundle without TensorFlow:
the NumPy form is what the gates and the serving runtime read."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from modelserve.bundles import KERAS_FILE, WEIGHTS_FILE, Bundle, seal, write_weights
from modelserve.settings import demo_bundle_path

KINDS = ("good", "revised", "poor", "nan", "narrow", "tampered", "missing")


def make_bundle(destination: Path, kind: str = "good") -> Path:
    """A sealed bundle at ``destination``: a working one, or one that a gate must refuse."""
    shutil.copytree(demo_bundle_path(), destination)
    bundle = Bundle.open(destination)
    meta = bundle.metadata
    pairs = [(k.copy(), b.copy()) for k, b in bundle.weights()]
    if kind == "revised":
        # Every logit 10 % larger: other probabilities, the same classes and gate results.
        kernel, bias = pairs[-1]
        pairs[-1] = (kernel * 1.1, bias * 1.1)
    elif kind == "poor":
        # sigmoid(-z) = 1 - p: every prediction turns into its opposite.
        kernel, bias = pairs[-1]
        pairs[-1] = (-kernel, -bias)
    elif kind == "nan":
        pairs[-1][0][:] = np.nan
    elif kind == "narrow":
        kernel, bias = pairs[0]
        pairs[0] = (kernel[:7], bias)
        meta = meta.model_copy(
            update={
                "features": meta.features[:7],
                "normalisation": meta.normalisation.model_copy(
                    update={"mean": meta.normalisation.mean[:7], "std": meta.normalisation.std[:7]}
                ),
            }
        )
    write_weights(destination / WEIGHTS_FILE, pairs)
    seal(destination, meta)
    if kind == "tampered":
        with open(destination / WEIGHTS_FILE, "r+b") as f:
            f.seek(100)
            byte = f.read(1)
            f.seek(100)
            f.write(bytes([byte[0] ^ 0xFF]))
    elif kind == "missing":
        (destination / KERAS_FILE).unlink()
    return destination
