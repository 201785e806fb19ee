"""Prediction results the pages show a page at a time and offer as CSV.

A form post runs the model once and keeps what it produced under an unguessable id; the
result's pages, filters and download read it back (post, then redirect: a reload never
predicts again). Every web process of a node reads the same folder, so the page that shows a
result need not be served by the process that made it. Results expire after an hour.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import stat
import tempfile
import time
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np

from modelserve.bundles.metadata import Metrics
from modelserve.errors import ModelNotFound
from modelserve.evaluation import classify, evaluate

RESULT_ID = re.compile(r"[A-Za-z0-9_-]{22}")
OWN_FILE = re.compile(r"[A-Za-z0-9_-]{22}\.npz|tmp\w+\.partial")
ROWS_PER_PAGE = 50


@dataclass(frozen=True)
class Description:
    """What a result is about, as its pages and its CSV name it."""

    model: str
    version: int
    source: str  # the file's name, or "a typed row"
    threshold: float
    feature_names: list[str]
    ignored_columns: list[str] = field(default_factory=list)
    request_id: str | None = None  # the prediction log's key for these rows; None: not logged


@dataclass(frozen=True)
class PredictionResult:
    description: Description
    rows: np.ndarray  # (N,) 1-based row numbers in the source, for people to find them
    features: np.ndarray  # (N, F) float32, in the model's feature order
    labels: np.ndarray | None  # (N,) 0/1 when the source carried them
    probabilities: np.ndarray  # (N,) of class 1

    def __len__(self) -> int:
        return len(self.probabilities)

    @cached_property
    def predicted(self) -> np.ndarray:
        return classify(self.probabilities, self.description.threshold)

    @cached_property
    def wrong(self) -> np.ndarray | None:
        return None if self.labels is None else self.predicted != self.labels

    @cached_property
    def metrics(self) -> Metrics | None:
        if self.labels is None:
            return None
        return evaluate(self.labels, self.probabilities, self.description.threshold)

    def page(self, number: int, wrong_only: bool = False) -> ResultPage:
        """Rows of page ``number`` (1-based; clamped to the pages there are)."""
        chosen = np.arange(len(self))
        if wrong_only and self.wrong is not None:
            chosen = np.flatnonzero(self.wrong)
        pages = max(1, -(-len(chosen) // ROWS_PER_PAGE))
        number = min(max(number, 1), pages)
        start = (number - 1) * ROWS_PER_PAGE
        shown = chosen[start : start + ROWS_PER_PAGE]
        return ResultPage(
            number=number,
            pages=pages,
            matching=len(chosen),
            first=start + 1 if len(shown) else 0,
            rows=[
                ResultRow(
                    row=int(self.rows[i]),
                    label=None if self.labels is None else int(self.labels[i]),
                    predicted=int(self.predicted[i]),
                    probability=float(self.probabilities[i]),
                )
                for i in shown
            ],
        )

    def to_csv(self) -> str:
        """Every row: its number, features, label if any, probability and predicted class;
        for a logged result, its feedback key first and a label column even when empty."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        key = self.description.request_id
        has_labels = self.labels is not None
        label_column = has_labels or key is not None
        writer.writerow(
            (["request_id", "row"] if key else ["row"])
            + self.description.feature_names
            + (["label"] if label_column else [])
            + ["probability", "predicted"]
        )
        for i in range(len(self)):
            label = [int(self.labels[i]) if has_labels else ""] if label_column else []
            writer.writerow(
                ([key, i] if key else [int(self.rows[i])])
                + [*map(_shortest, self.features[i])]
                + label
                + [f"{self.probabilities[i]:.6f}", int(self.predicted[i])]
            )
        return out.getvalue()


def _shortest(value: np.float32) -> str:
    """The shortest text that reads back as the same float32 (33.6, not 33.5999985)."""
    return np.format_float_positional(value, unique=True, trim="-")


@dataclass(frozen=True)
class ResultRow:
    row: int
    label: int | None
    predicted: int
    probability: float

    @property
    def wrong(self) -> bool:
        return self.label is not None and self.label != self.predicted


@dataclass(frozen=True)
class ResultPage:
    number: int
    pages: int
    matching: int  # rows the filter lets through
    first: int  # 1-based position of the first shown row among them
    rows: list[ResultRow]


class ResultStore:
    """Results as files of one folder, ``<id>.npz``; the id is the capability to read one."""

    def __init__(self, folder: Path, ttl_seconds: float = 3600.0, keep: int = 500):
        self.folder = Path(folder)
        self.ttl = ttl_seconds
        self.keep = keep

    def save(self, result: PredictionResult) -> str:
        self.claim_folder()
        self._expire()
        result_id = secrets.token_urlsafe(16)
        arrays = {
            "description": np.array(json.dumps(asdict(result.description))),
            "rows": result.rows,
            "features": result.features,
            "probabilities": result.probabilities,
        }
        if result.labels is not None:
            arrays["labels"] = result.labels
        fd, staging = tempfile.mkstemp(dir=self.folder, prefix="tmp", suffix=".partial")
        with os.fdopen(fd, "wb") as out:
            np.savez_compressed(out, **arrays)
        os.replace(staging, self.folder / f"{result_id}.npz")
        return result_id

    def load(self, result_id: str) -> PredictionResult:
        path = self.folder / f"{result_id}.npz"
        gone = ModelNotFound("no such result: results are kept for an hour; predict again")
        if not RESULT_ID.fullmatch(result_id):
            raise gone
        try:
            if time.time() - path.stat().st_mtime > self.ttl:
                raise gone
            with np.load(path, allow_pickle=False) as arrays:
                return PredictionResult(
                    description=Description(**json.loads(str(arrays["description"]))),
                    rows=arrays["rows"],
                    features=arrays["features"],
                    labels=arrays.get("labels"),
                    probabilities=arrays["probabilities"],
                )
        except FileNotFoundError:
            raise gone from None

    def claim_folder(self) -> None:
        """The folder, made private to this user; refused if anyone else could read it: results
        hold uploaded data, and the default folder's name in /tmp is predictable."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        found = self.folder.lstat()
        if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
            raise PermissionError(f"MODELSERVE_RESULTS: {self.folder} is not a folder of this user")
        if stat.S_IMODE(found.st_mode) & 0o077:
            raise PermissionError(
                f"MODELSERVE_RESULTS: {self.folder} is open to other users (chmod 700 it)"
            )

    def _expire(self) -> None:
        """Drops results past their hour, and the oldest beyond ``keep``; only files of its
        own naming, whatever else the folder holds."""
        now = time.time()
        entries = []
        for path in self.folder.iterdir():
            if not OWN_FILE.fullmatch(path.name):
                continue
            try:
                entries.append((path.stat().st_mtime, path))
            except FileNotFoundError:  # another process expired it first
                continue
        entries.sort(reverse=True)
        for position, (mtime, path) in enumerate(entries):
            if position >= self.keep or now - mtime > self.ttl:
                path.unlink(missing_ok=True)
