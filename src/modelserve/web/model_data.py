"""The labelled rows a model was trained and measured on, as the pages use them.

A sealed version never changes, so neither do its rows nor what it predicts for them: each
web process reads them, and runs the model over them, once per version it is asked about
(the last few are kept), not on every page view.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelserve.bundles import ModelStore
from modelserve.datasets import Dataset, read_csv_bytes
from modelserve.errors import InvalidBundle, InvalidInput
from modelserve.runtime import ModelRuntime

KEPT_VERSIONS = 8


@dataclass(frozen=True)
class ModelData:
    dataset: Dataset
    name: str  # the file's name, as the model's training run was given it
    holdout: np.ndarray | None  # indexes of the rows its evaluation measured, where known
    trained_rows: int | None  # how many rows it was fitted to, where known


class ModelDataCache:
    def __init__(self, store: ModelStore, configured: Path):
        self.store = store
        self.configured = configured  # MODELSERVE_DATA: for bundles that carry no data
        self._kept: OrderedDict[tuple, object] = OrderedDict()
        self._lock = threading.Lock()

    def data(self, runtime: ModelRuntime) -> ModelData | None:
        """The model's own rows: its bundle's copy of its training data; else the configured
        dataset, if it is that same file (by digest) or the bundle records none and it fits."""
        return self._remember(("data", *self._key(runtime)), lambda: self._read(runtime))

    def probabilities(
        self, runtime: ModelRuntime, run: Callable[[np.ndarray], np.ndarray]
    ) -> np.ndarray:
        """What the model predicts for each of its own rows (``run`` runs it)."""
        data = self.data(runtime)
        if data is None:
            raise ValueError("the model has no data to predict")
        key = ("probabilities", *self._key(runtime))
        return self._remember(key, lambda: run(data.dataset.features))

    def _key(self, runtime: ModelRuntime) -> tuple:
        try:
            stat = self.configured.stat()
            configured = (stat.st_mtime_ns, stat.st_size)
        except OSError:
            configured = None
        return runtime.name, runtime.version, runtime.digest, configured

    def _remember(self, key: tuple, compute: Callable[[], object]):
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        value = compute()  # outside the lock: two first views at once both compute, alike
        with self._lock:
            self._kept[key] = value
            while len(self._kept) > 2 * KEPT_VERSIONS:
                self._kept.popitem(last=False)
        return value

    def _read(self, runtime: ModelRuntime) -> ModelData | None:
        metadata = runtime.metadata
        options = {**metadata.table_options(), "labels": True}
        record = metadata.dataset
        where = f"{runtime.name} version {runtime.version}"
        if record is not None and record.file is not None:
            bundle = self.store.bundle(runtime.name, runtime.version, verify=False)
            dataset = bundle.training_data()
        else:
            try:
                dataset = read_csv_bytes(
                    self.configured.read_bytes(), source=self.configured.name, **options
                )
            except (OSError, InvalidInput):
                return None
            if record is None:  # no claim about which rows were held out
                return ModelData(dataset, self.configured.name, None, None)
        if dataset.sha256 != record.sha256:
            return None  # the configured dataset is another file than the model's
        holdout = np.asarray(record.holdout, dtype=np.int64) if record.holdout else None
        if holdout is not None and (holdout.min() < 0 or holdout.max() >= len(dataset)):
            raise InvalidBundle(f"{where}: its held-out rows lie outside its data")
        return ModelData(dataset, record.name, holdout, metadata.training.rows or None)
