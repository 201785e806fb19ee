"""Rebuild a Keras 2 model (``model.json`` + ``model.h5``, as ``model.to_json()`` and
``model.save_weights()`` wrote them) in Keras 3.

Keras 3 cannot deserialise Keras 2 configurations, so this reads the architecture and the
HDF5 weight layout itself. It accepts what the tutorial's models use: a Sequential stack of
Dense layers (Dropout is skipped: it does nothing at inference).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelserve.bundles.metadata import ACTIVATIONS
from modelserve.errors import InvalidInput
from modelserve.training.keras_env import keras


@dataclass(frozen=True)
class LegacyDense:
    name: str
    units: int
    activation: str


@dataclass(frozen=True)
class LegacyModel:
    n_features: int
    layers: tuple[LegacyDense, ...]
    keras_version: str | None


def read_architecture(json_path: Path) -> LegacyModel:
    source = Path(json_path).name
    try:
        document = json.loads(Path(json_path).read_text())
    except OSError as exc:
        raise InvalidInput(f"cannot read {json_path}: {exc.strerror}", field="json") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{source}: not valid JSON ({exc})", field="json") from exc
    if not isinstance(document, dict) or document.get("class_name") != "Sequential":
        raise InvalidInput(f"{source}: expected a Keras Sequential model", field="json")
    config = document.get("config")
    # Keras 2.2.4 and earlier stored the layer list directly; 2.2.5+ nests it under "layers".
    layer_configs = config.get("layers") if isinstance(config, dict) else config
    if not isinstance(layer_configs, list) or not layer_configs:
        raise InvalidInput(f"{source}: the model lists no layers", field="json")

    n_features = None
    layers: list[LegacyDense] = []
    for position, layer in enumerate(layer_configs, start=1):
        if not isinstance(layer, dict) or not isinstance(layer.get("config"), dict):
            raise InvalidInput(f"{source}: layer {position} is malformed", field="json")
        kind, cfg = layer.get("class_name"), layer["config"]
        name = cfg.get("name", f"layer {position}")
        if n_features is None:
            n_features = _input_width(cfg, source, name)
        if kind == "Dropout":
            continue
        if kind != "Dense":
            raise InvalidInput(
                f"{source}: layer {name!r} is a {kind}; only Dense and Dropout are supported",
                field="json",
            )
        activation = cfg.get("activation", "linear")
        if activation not in ACTIVATIONS:
            raise InvalidInput(
                f"{source}: layer {name!r} uses activation {activation!r}; "
                f"supported: {', '.join(ACTIVATIONS)}",
                field="json",
            )
        if not cfg.get("use_bias", True):
            raise InvalidInput(f"{source}: layer {name!r} has no bias (unsupported)", field="json")
        units = cfg.get("units")
        if not isinstance(units, int) or units < 1:
            raise InvalidInput(f"{source}: layer {name!r} has no valid 'units'", field="json")
        layers.append(LegacyDense(name, units, activation))

    if not layers or layers[-1].units != 1:
        raise InvalidInput(
            f"{source}: the last Dense layer must have 1 unit (a probability)", field="json"
        )
    return LegacyModel(n_features, tuple(layers), document.get("keras_version"))


def _input_width(cfg: dict, source: str, name: str) -> int:
    shape = cfg.get("batch_input_shape") or cfg.get("batch_shape")
    if shape is None and "input_dim" in cfg:
        shape = [None, cfg["input_dim"]]
    if not (isinstance(shape, list) and len(shape) == 2 and isinstance(shape[1], int)):
        raise InvalidInput(
            f"{source}: first layer {name!r} gives no input shape [null, features]", field="json"
        )
    return shape[1]


def read_weights(h5_path: Path, architecture: LegacyModel) -> list[tuple[np.ndarray, np.ndarray]]:
    import h5py

    source = Path(h5_path).name
    try:
        file = h5py.File(h5_path, "r")
    except OSError as exc:
        raise InvalidInput(
            f"{source}: not a readable HDF5 weights file ({exc})", field="weights"
        ) from exc
    with file:
        # save_weights() puts layers at the root; save() nests them under "model_weights".
        root = file.get("model_weights", file)
        stored = [_text(n) for n in root.attrs.get("layer_names", [])]
        pairs = []
        width = architecture.n_features
        for layer in architecture.layers:
            if layer.name not in stored or layer.name not in root:
                raise InvalidInput(
                    f"{source} has no weights for layer {layer.name!r} of the JSON "
                    f"(it has: {', '.join(stored) or 'none'})",
                    field="weights",
                )
            group = root[layer.name]
            names = [_text(n) for n in group.attrs.get("weight_names", [])]
            if len(names) != 2:
                raise InvalidInput(
                    f"{source}: layer {layer.name!r} holds {len(names)} weight arrays, expected 2",
                    field="weights",
                )
            kernel, bias = (np.asarray(group[n], dtype=np.float32) for n in names)
            if kernel.shape != (width, layer.units) or bias.shape != (layer.units,):
                raise InvalidInput(
                    f"{source}: layer {layer.name!r} has kernel {kernel.shape} and bias "
                    f"{bias.shape}; the JSON describes ({width}, {layer.units}) and "
                    f"({layer.units},)",
                    field="weights",
                )
            pairs.append((kernel, bias))
            width = layer.units
        named = {layer.name for layer in architecture.layers}
        extra = [
            n
            for n in stored
            if n not in named and n in root and len(root[n].attrs.get("weight_names", ()))
        ]
        if extra:
            raise InvalidInput(
                f"{source} holds weights for layers the JSON does not have: {', '.join(extra)}",
                field="weights",
            )
    return pairs


def rebuild(architecture: LegacyModel, weights) -> keras.Model:
    model = keras.Sequential(
        [
            keras.Input(shape=(architecture.n_features,), name="features"),
            *(
                keras.layers.Dense(layer.units, activation=layer.activation, name=layer.name)
                for layer in architecture.layers
            ),
        ]
    )
    dense_layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    for layer, (kernel, bias) in zip(dense_layers, weights, strict=True):
        layer.set_weights([kernel, bias])
    return model


def load_legacy(json_path: Path, h5_path: Path) -> tuple[keras.Model, LegacyModel]:
    architecture = read_architecture(json_path)
    return rebuild(architecture, read_weights(h5_path, architecture)), architecture


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
