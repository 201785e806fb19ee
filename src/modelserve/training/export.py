"""Write a Keras network as a bundle: ``model.keras`` plus its framework-free form."""

from __future__ import annotations

import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from modelserve.bundles import KERAS_FILE, WEIGHTS_FILE, Bundle, BundleMetadata, seal, write_weights
from modelserve.bundles.bundle import DATASET_FILE, sha256_file
from modelserve.bundles.metadata import (
    DatasetRecord,
    Evaluation,
    Feature,
    Layer,
    Normalisation,
    Training,
)
from modelserve.datasets import Dataset
from modelserve.errors import InvalidInput
from modelserve.training.keras_env import keras

# Larger training data is recorded by name and digest only: a bundle is copied to every node
# that serves it, and pushed through git.
DATASET_COPY_LIMIT = 16 * 1024 * 1024


def dataset_record(source: Path, dataset: Dataset, holdout: list[int]) -> DatasetRecord:
    """What a bundle records of the table ``dataset`` was read from (``source``)."""
    try:
        size = Path(source).stat().st_size
    except OSError as exc:
        raise InvalidInput(f"cannot read {source}: {exc.strerror}", field="data") from exc
    return DatasetRecord(
        name=Path(source).name,
        sha256=dataset.sha256,
        rows=len(dataset),
        file=DATASET_FILE if size <= DATASET_COPY_LIMIT else None,
        holdout=holdout,
        label_column=dataset.label_column,
    )


def export_bundle(
    model: keras.Model,
    folder: Path,
    *,
    name: str,
    feature_names: tuple[str, ...],
    evaluation: Evaluation,
    training: Training,
    threshold: float = 0.5,
    dataset: DatasetRecord | None = None,
    dataset_source: Path | None = None,
) -> Bundle:
    """Save ``model`` into an empty ``folder`` as a sealed bundle (version 1 until stored);
    with ``dataset``, the record of its training data and, if the record names one, a
    verbatim copy of ``dataset_source``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if any(folder.iterdir()):
        raise InvalidInput(f"{folder} is not empty: a bundle needs its own folder", field="out")
    normalisation, layers, weights = describe_network(model)
    model.save(folder / KERAS_FILE)
    write_weights(folder / WEIGHTS_FILE, weights)
    if dataset is not None and dataset.file is not None:
        copy = folder / dataset.file
        shutil.copyfile(dataset_source, copy)
        if sha256_file(copy) != dataset.sha256:
            raise InvalidInput(
                f"{dataset_source} changed while the model was trained on it: train again",
                field="data",
            )
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
    # Set after validation: the copy is listed in ``files`` only when the bundle is sealed.
    return seal(folder, metadata.model_copy(update={"dataset": dataset}))


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
