"""Train the classifier on a labelled table and evaluate it on a stratified holdout.

Neither touches the table's gate data (``datasets.gate``): the rows the delivery gates
measure every version on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelserve.bundles.metadata import Evaluation, Training
from modelserve.datasets import Dataset
from modelserve.datasets.gate import gate_split
from modelserve.evaluation import evaluate
from modelserve.training.keras_env import keras

HOLDOUT_FRACTION = 0.2
DEFAULT_SEED = 7
# Several optimiser steps per call into TensorFlow: the same updates, half the wall time.
STEPS_PER_EXECUTION = 64


@dataclass(frozen=True)
class Split:
    train_features: np.ndarray
    train_labels: np.ndarray
    test_features: np.ndarray
    test_labels: np.ndarray
    description: str


def holdout_split(dataset: Dataset, seed: int, fraction: float = HOLDOUT_FRACTION) -> Split:
    from sklearn.model_selection import train_test_split

    if dataset.labels is None:
        raise ValueError("a holdout split needs labels")
    xtr, xte, ytr, yte = train_test_split(
        dataset.features,
        dataset.labels,
        test_size=fraction,
        stratify=dataset.labels,
        random_state=seed,
    )
    return Split(
        xtr,
        ytr,
        xte,
        yte,
        f"stratified {fraction:.0%} holdout, seed {seed}, of {len(dataset)} rows",
    )


@dataclass(frozen=True)
class TrainedModel:
    model: keras.Model
    evaluation: Evaluation
    training: Training


def train_classifier(
    dataset: Dataset, *, epochs: int, batch_size: int, seed: int, threshold: float = 0.5
) -> TrainedModel:
    import tensorflow as tf

    from modelserve.training.network import build_classifier

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    # The gate data stays unseen: the gates measure every version on it.
    split = holdout_split(gate_split(dataset).training, seed)
    model = build_classifier(split.train_features)
    model.compile(
        optimizer="adam",
        loss="binary_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=STEPS_PER_EXECUTION,
    )
    model.fit(
        split.train_features,
        split.train_labels,
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=0,
    )
    probabilities = model.predict_on_batch(split.test_features)
    return TrainedModel(
        model=model,
        evaluation=Evaluation(
            split=split.description,
            data_sha256=dataset.sha256,
            metrics=evaluate(split.test_labels, probabilities, threshold),
        ),
        training=Training(
            source="train",
            epochs=epochs,
            batch_size=batch_size,
            seed=seed,
            optimizer="adam",
            loss="binary_crossentropy",
            data_sha256=dataset.sha256,
            rows=len(split.train_labels),
            keras_version=keras.__version__,
        ),
    )
