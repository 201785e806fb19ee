"""A bundle's Keras form (``model.keras``) evaluated without Keras: its own configuration and
weights, read from the archive, through the same operations in NumPy.

The gates compare it with the NumPy form that serving runs (``weights.npz``): two forms of
one model must agree, whoever wrote the bundle. Reading it this way keeps TensorFlow off the
production server, where the gates run.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from modelserve.errors import InvalidBundle

MAX_MEMBER_BYTES = 1 << 30  # a file inside model.keras, once decompressed
KERAS_EPSILON = 1e-7  # keras.backend.epsilon(): the floor of Normalization's divisor
ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: np.maximum(x, 0.0),
    "sigmoid": lambda x: 0.5 * (1.0 + np.tanh(0.5 * x)),  # the logistic function, no overflow
    "tanh": np.tanh,
    "linear": lambda x: x,
}

Step = Callable[[np.ndarray], np.ndarray]


def keras_form(path: Path) -> Step:
    """The forward pass of the ``.keras`` archive at ``path``: (N, F) rows to (N, 1)."""
    import h5py

    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                if member.file_size > MAX_MEMBER_BYTES:  # read into memory: bounded
                    raise ValueError(f"{member.filename} holds {member.file_size} bytes")
            config = json.loads(archive.read("config.json"))
            weights = h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r")
        with weights:
            steps = _steps(config["config"]["layers"], weights)
    except (OSError, LookupError, ValueError, TypeError, zipfile.BadZipFile) as exc:
        raise InvalidBundle(f"{path.name}: the Keras form is unreadable: {exc}") from exc

    def forward(rows: np.ndarray) -> np.ndarray:
        x = np.asarray(rows, dtype=np.float32)
        try:
            for step in steps:
                x = step(x)
        except ValueError as exc:  # weights of shapes that do not chain
            raise InvalidBundle(f"{path.name}: the Keras form does not run: {exc}") from exc
        return x

    return forward


def _steps(layers: list[dict], weights) -> list[Step]:
    steps: list[Step] = []
    seen: Counter[str] = Counter()
    for layer in layers:
        kind, settings = layer["class_name"], layer["config"]
        if kind == "InputLayer":
            continue
        # Keras saves each layer's variables under its class name, numbered in order.
        snake = _snake_case(kind)
        key = snake if not seen[snake] else f"{snake}_{seen[snake]}"
        seen[snake] += 1
        group = weights[f"layers/{key}/vars"]
        values = [np.asarray(group[str(i)], dtype=np.float32) for i in range(len(group))]
        if kind == "Normalization":
            mean, variance = values[0], values[1]
            steps.append(_normalise(mean, variance))
        elif kind == "Dense":
            activation = settings.get("activation", "linear")
            if activation not in ACTIVATIONS:
                raise ValueError(f"layer {settings.get('name')}: activation {activation!r}")
            bias = values[1] if settings.get("use_bias", True) else 0.0
            steps.append(_dense(values[0], bias, ACTIVATIONS[activation]))
        else:
            raise ValueError(f"layer {settings.get('name')}: {kind} layers are not read here")
    return steps


def _normalise(mean: np.ndarray, variance: np.ndarray) -> Step:
    scale = np.maximum(np.sqrt(variance), KERAS_EPSILON)
    return lambda x: (x - mean) / scale


def _dense(kernel: np.ndarray, bias, activation: Step) -> Step:
    return lambda x: activation(x @ kernel + bias)


def _snake_case(name: str) -> str:
    """keras.src.utils.naming.to_snake_case."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()
