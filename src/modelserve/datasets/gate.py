"""Gate data: the rows of a labelled table that no training run sees, so that the gates
measure every version of a model on rows it was not fitted to.

A row belongs to the gate data by its content alone (a hash of its values and label), not by
its position or a random draw: every training run on the table, whatever its seed and row
order, leaves out the same rows, and duplicates of a row fall on the same side.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace

import numpy as np

from modelserve.datasets.tabular import Dataset

GATE_SHARE = 5  # one row in about five


@dataclass(frozen=True)
class GateSplit:
    gate: Dataset  # for the gates only; its sha256 names these rows
    training: Dataset  # what a training run may use (and split further for its holdout)
    # 0-based indexes into the table split, in its row order: which of its rows each side
    # holds, so that a bundle can name the rows it was measured on.
    gate_rows: np.ndarray
    training_rows: np.ndarray


def gate_split(dataset: Dataset) -> GateSplit:
    if dataset.labels is None:
        raise ValueError("gate data needs labels")
    features = np.ascontiguousarray(dataset.features, dtype=np.float32)
    labels = np.asarray(dataset.labels, dtype=np.int64)
    chosen = np.array(
        [
            hashlib.sha256(row.tobytes() + label.tobytes()).digest()[0] % GATE_SHARE == 0
            for row, label in zip(features, labels, strict=True)
        ],
        dtype=bool,
    )
    return GateSplit(
        _rows(dataset, chosen),
        _rows(dataset, ~chosen),
        gate_rows=np.flatnonzero(chosen),
        training_rows=np.flatnonzero(~chosen),
    )


def _rows(dataset: Dataset, mask: np.ndarray) -> Dataset:
    features, labels = dataset.features[mask], dataset.labels[mask]
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(features, dtype=np.float32).tobytes())
    digest.update(np.asarray(labels, dtype=np.int64).tobytes())
    return replace(
        dataset,
        features=features,
        labels=labels,
        lines=dataset.lines[mask],
        sha256=digest.hexdigest(),
    )
