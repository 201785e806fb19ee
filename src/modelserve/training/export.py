"""Write a Keras network as a bundle: ``model.keras`` plus its framework-free form."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from modelserve.bundles import KERAS_FILE, WEIGHTS_FILE, Bundle, BundleMetadata, seal, write_weights
from modelserve.bundles.metadata import Evaluation, Feature, Layer, Normalisation, Training
from modelserve.errors import InvalidInput
from modelserve.training.keras_env import keras


def export_bundle(
    model: keras.Model,
    folder: Path,
    *,
    name: str,
    feature_names: tuple[str, ...],
    evaluation: Evaluation,
    training: Training,
    threshold: float = 0.5,
) -> Bundle:
    """Save ``model`` into an empty ``folder`` as a sealed bundle (version 1 until stored)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise InvalidInput(f"{folder} is not empty: a bundle needs its own folder", field="out")
    normalisation, layers, weights = describe_network(model)
    model.save(folder / KERAS_FILE)
    write_weights(folder / WEIGHTS_FILE, weights)
    metadata = BundleMetadata(
        name=name,
        version=1,
        created=datetime.now(timezone.utc),
        features=[Feature(name=n) for n in feature_names],
        output={"threshold": threshold},
        normalisation=normalisation,
        layers=layers,
        evaluation=evaluation,
        training=training,
        files={},
    )
    return seal(folder, metadata)


def describe_network(model: keras.Model):
    """The normalisation, dense layers and their weights of a Sequential network."""
    normalisation = None
    layers: list[Layer] = []
    weights: list[tuple[np.ndarray, np.ndarray]] = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Normalization):
            variance = np.asarray(layer.variance, dtype=np.float64).reshape(-1)
            std = np.maximum(np.sqrt(variance), keras.config.epsilon())
            mean = np.asarray(layer.mean, dtype=np.float64).reshape(-1)
            normalisation = Normalisation(mean=mean.tolist(), std=std.tolist())
        elif isinstance(layer, keras.layers.Dense):
            kernel, bias = (np.asarray(w) for w in layer.get_weights())
            activation = keras.activations.serialize(layer.activation)
            if isinstance(activation, dict):
                activation = activation.get("config", {}).get("name", activation.get("class_name"))
            layers.append(Layer(units=layer.units, activation=activation))
            weights.append((kernel, bias))
        elif not isinstance(layer, keras.layers.Dropout):
            raise InvalidInput(f"layer {layer.name!r} ({type(layer).__name__}) is not supported")
    return normalisation, layers, weights
