"""Bundle variants for delivery tests, made from the shipped demo bundle without TensorFlow:
the NumPy form is what the gates and the serving runtime read."""

from __future__ import annotations

import io
import shutil
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np

from modelserve.bundles import KERAS_FILE, WEIGHTS_FILE, Bundle, seal, write_weights
from modelserve.settings import demo_bundle_path

KINDS = (
    "good",
    "revised",
    "poor",
    "nan",
    "narrow",
    "forged",
    "misshapen",
    "unloadable",
    "tampered",
    "missing",
)


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
    elif kind == "forged":
        # Weights altered, checksums rewritten and a better figure claimed: only the NumPy
        # form changes, as a hand-edited bundle's would.
        rng = np.random.default_rng(0)
        pairs = [(k + rng.uniform(-0.03, 0.03, k.shape).astype(k.dtype), b) for k, b in pairs]
        claim = meta.evaluation.metrics.model_copy(update={"accuracy": 0.99})
        meta = meta.model_copy(
            update={"evaluation": meta.evaluation.model_copy(update={"metrics": claim})}
        )
    elif kind == "unloadable":
        # Sealed and consistent on disk, but its metadata describes a wider first layer than
        # its weights hold: the serving runtime refuses to load it.
        layers = [meta.layers[0].model_copy(update={"units": 13}), *meta.layers[1:]]
        meta = meta.model_copy(update={"layers": layers})
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
    if kind == "misshapen":  # a Keras form whose layers do not chain
        kernel, bias = pairs[1]
        write_keras_weights(destination, [pairs[0], (kernel.T, bias), *pairs[2:]])
    elif kind != "forged":
        write_keras_weights(destination, pairs)
    # Made now, as a retrained model would be: a bundle the store does not hold yet.
    seal(destination, meta.model_copy(update={"created": datetime.now(timezone.utc)}))
    if kind == "tampered":
        with open(destination / WEIGHTS_FILE, "r+b") as f:
            f.seek(100)
            byte = f.read(1)
            f.seek(100)
            f.write(bytes([byte[0] ^ 0xFF]))
    elif kind == "missing":
        (destination / KERAS_FILE).unlink()
    return destination


def write_keras_weights(bundle: Path, pairs: list[tuple[np.ndarray, np.ndarray]]) -> None:
    """Give ``model.keras`` the dense weights of ``weights.npz``: two forms of one model."""
    keras_file = bundle / KERAS_FILE
    with zipfile.ZipFile(keras_file) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    buffer = io.BytesIO(members["model.weights.h5"])
    with h5py.File(buffer, "r+") as weights:
        for i, (kernel, bias) in enumerate(pairs):
            group = weights[f"layers/{'dense' if i == 0 else f'dense_{i}'}/vars"]
            for key, value in (("0", kernel), ("1", bias)):
                del group[key]
                group.create_dataset(key, data=np.asarray(value, dtype=np.float32))
    members["model.weights.h5"] = buffer.getvalue()
    with zipfile.ZipFile(keras_file, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
