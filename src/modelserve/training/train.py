"""Train the classifier on a labelled table and evaluate it on a stratified holdout.

Neither touches the table's gate data (``datasets.gate``): the rows the delivery gates
measure every version on."""

from __future__ import annotations

from collections.abc import Callable
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
    # 0-based indexes into the table split, in the order of the features and labels above.
    train_rows: np.ndarray
    test_rows: np.ndarray


def holdout_split(dataset: Dataset, seed: int, fraction: float = HOLDOUT_FRACTION) -> Split:
    from sklearn.model_selection import train_test_split

    if dataset.labels is None:
        raise ValueError("a holdout split needs labels")
    # The indexes ride along: the permutation depends only on the row count, the labels and
    # the seed, so a seed gives the same split, and the same model, with or without them.
    xtr, xte, ytr, yte, rtr, rte = train_test_split(
        dataset.features,
        dataset.labels,
        np.arange(len(dataset)),
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
        train_rows=rtr,
        test_rows=rte,
    )


def measured_split(dataset: Dataset, seed: int) -> tuple[Split, list[int]]:
    """The holdout split of the rows outside the gate data, and which rows of ``dataset``
    (0-based, ascending) its holdout is."""
    outside = gate_split(dataset)
    split = holdout_split(outside.training, seed)
    return split, sorted(int(i) for i in outside.training_rows[split.test_rows])


# Called after each epoch with its 1-based number and Keras's figures (loss, accuracy).
EpochReport = Callable[[int, dict[str, float]], None]


class _EachEpoch(keras.callbacks.Callback):
    def __init__(self, report: EpochReport):
        super().__init__()
        self.report = report

    def on_epoch_end(self, epoch, logs=None):
        self.report(epoch + 1, {k: float(v) for k, v in (logs or {}).items()})


@dataclass(frozen=True)
class TrainedModel:
    model: keras.Model
    evaluation: Evaluation
    training: Training
    holdout_rows: list[int]  # the rows of the table given that the evaluation measured


def train_classifier(
    dataset: Dataset,
    *,
    epochs: int,
    batch_size: int,
    seed: int,
    threshold: float = 0.5,
    on_epoch: EpochReport | None = None,
) -> TrainedModel:
    """Fit and evaluate the classifier. ``on_epoch`` sees each epoch's training figures and
    the holdout's (``val_loss``, ``val_accuracy``): measured on the held-out rows, which are
    never fitted to, so watching them changes nothing about the model."""
    import tensorflow as tf

    from modelserve.training.network import build_classifier

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    # The gate data stays unseen: the gates measure every version on it.
    split, holdout_rows = measured_split(dataset, seed)
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
        # Costs an evaluation per epoch: only where someone watches.
        validation_data=(split.test_features, split.test_labels) if on_epoch else None,
        callbacks=[_EachEpoch(on_epoch)] if on_epoch else None,
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
        holdout_rows=holdout_rows,
    )
