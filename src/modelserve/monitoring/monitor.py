"""How a model does in production, read from the prediction log: live accuracy of the
labelled predictions per version, over a sliding window, and drift of recent inputs."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import numpy as np
import sqlalchemy as sa
from pydantic import BaseModel, Field

from modelserve.bundles import ModelStore
from modelserve.errors import InvalidBundle
from modelserve.monitoring.database import Database
from modelserve.monitoring.drift import feature_psi
from modelserve.monitoring.schema import predictions

DRIFT_ROWS = 5000  # the most recent inputs drift is measured on
SLICES = 12  # points of the live accuracy chart across the window


class LiveFigures(BaseModel):
    predictions: int = Field(description="Rows logged in the window")
    labelled: int = Field(description="Of those, rows whose true class is known")
    accuracy: float | None = None
    precision: float | None = None
    recall: float | None = None
    roc_auc: float | None = None


class VersionFigures(LiveFigures):
    version: int


class Slice(BaseModel):
    """Labelled predictions of one version in one part of the window."""

    version: int
    start: datetime
    end: datetime
    labelled: int
    accuracy: float


class FeatureDrift(BaseModel):
    feature: str
    psi: float
    drifted: bool


class MonitorReport(BaseModel):
    model: str
    version: int | None = Field(description="The version asked for; None: all versions")
    window_seconds: float
    since: datetime
    until: datetime
    predictions: int
    labelled: int
    live_accuracy: float | None
    precision: float | None
    recall: float | None
    roc_auc: float | None
    versions: list[VersionFigures]
    series: list[Slice]
    drift_reference: str | None = Field(description="The training data drift is measured against")
    drift_rows: int = Field(description="Recent rows drift was measured on")
    drift_threshold: float
    drift_note: str | None = Field(description="Why drift was not judged, when it was not")
    drift: list[FeatureDrift]
    drifted: list[str]


class Monitor:
    def __init__(
        self,
        database: Database,
        store: ModelStore,
        *,
        window: timedelta,
        drift_threshold: float,
        drift_min_rows: int,
    ):
        self.database = database
        self.store = store
        self.window = window
        self.drift_threshold = drift_threshold
        self.drift_min_rows = drift_min_rows
        self._references: dict[tuple[str, int, str], tuple[str, np.ndarray] | None] = {}
        self._lock = threading.Lock()

    def report(
        self, model: str, version: int | None = None, window: timedelta | None = None
    ) -> MonitorReport:
        self.store.check_known(model)
        if version is not None:
            self.store.bundle(model, version, verify=False)  # 404 for a version never stored
        window = window or self.window
        until = datetime.now(timezone.utc)
        since = until - window
        scope = [predictions.c.model == model, predictions.c.created_at >= since]
        if version is not None:
            scope.append(predictions.c.version == version)
        labelled = [*scope, predictions.c.label.is_not(None)]
        step = (until - since) / SLICES
        # Counted by the database: a window can hold millions of labelled rows.
        with self.database.reading() as connection:
            counts = connection.execute(
                sa.select(predictions.c.version, sa.func.count())
                .where(*scope)
                .group_by(predictions.c.version)
            ).all()
            per_version = connection.execute(_labelled_counts(labelled, by_version=True)).all()
            total = connection.execute(_labelled_counts(labelled, by_version=False)).one()
            slice_of = sa.case(
                *(
                    (predictions.c.created_at < since + (n + 1) * step, n)
                    for n in range(SLICES - 1)
                ),
                else_=SLICES - 1,
            ).label("slice")
            slices = connection.execute(
                sa.select(
                    predictions.c.version,
                    slice_of,
                    sa.func.count(),
                    _how_many(predictions.c.predicted == predictions.c.label),
                )
                .where(*labelled)
                .group_by(predictions.c.version, slice_of)
                .order_by(predictions.c.version, slice_of)
            ).all()
            recent = (
                connection.execute(
                    sa.select(predictions.c.features)
                    .where(*scope)
                    .order_by(predictions.c.created_at.desc())
                    .limit(DRIFT_ROWS)
                )
                .scalars()
                .all()
            )
        logged = dict(counts)
        overall = _figures(sum(logged.values()), total)
        figures = {row.version: row for row in per_version}
        versions = [
            VersionFigures(version=v, **_figures(n, figures.get(v)).model_dump())
            for v, n in sorted(logged.items())
        ]
        series = [
            Slice(
                version=v,
                start=since + part * step,
                end=since + (part + 1) * step,
                labelled=n,
                accuracy=right / n,
            )
            for v, part, n, right in slices
        ]
        drift, drifted, reference, note = self._drift(model, version, recent)
        return MonitorReport(
            model=model,
            version=version,
            window_seconds=window.total_seconds(),
            since=since,
            until=until,
            predictions=overall.predictions,
            labelled=overall.labelled,
            live_accuracy=overall.accuracy,
            precision=overall.precision,
            recall=overall.recall,
            roc_auc=overall.roc_auc,
            versions=versions,
            series=series,
            drift_reference=reference,
            drift_rows=len(recent),
            drift_threshold=self.drift_threshold,
            drift_note=note,
            drift=drift,
            drifted=drifted,
        )

    def _drift(self, model: str, version: int | None, recent: list):
        version = version if version is not None else self.store.current_version(model)
        reference = self._reference(model, version)
        if reference is None:
            return [], [], None, f"version {version} carries no training data to compare with"
        name, features = reference
        if len(recent) < self.drift_min_rows:
            note = f"{len(recent)} recent rows; drift is judged from {self.drift_min_rows}"
            return [], [], name, note
        rows = np.asarray(recent, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != features.shape[1]:
            return [], [], name, "recent rows do not have the training data's width"
        names = self.store.bundle(model, version, verify=False).metadata.feature_names
        drift = [
            FeatureDrift(feature=f, psi=round(value, 4), drifted=value > self.drift_threshold)
            for f, value in zip(names, feature_psi(features, rows), strict=True)
        ]
        return drift, [d.feature for d in drift if d.drifted], name, None

    def _reference(self, model: str, version: int) -> tuple[str, np.ndarray] | None:
        bundle = self.store.bundle(model, version, verify=False)
        key = (model, version, bundle.digest)
        with self._lock:
            if key in self._references:
                return self._references[key]
        try:
            dataset = bundle.training_data()
        except InvalidBundle:
            dataset = None
        found = None if dataset is None else (bundle.metadata.dataset.name, dataset.features)
        with self._lock:
            self._references[key] = found
        return found


def _how_many(condition):
    return sa.func.coalesce(sa.func.sum(sa.case((condition, 1), else_=0)), 0)


def _labelled_counts(labelled: list, *, by_version: bool) -> sa.Select:
    """The labelled rows' confusion counts and the rank sum of the positive ones (the ROC
    area is the Mann-Whitney U statistic: ranks by probability, ties sharing their mean)."""
    version, probability = predictions.c.version, predictions.c.probability
    partition = [version] if by_version else []
    mean_rank = (
        sa.func.rank().over(partition_by=partition or None, order_by=probability)
        + (sa.func.count().over(partition_by=[*partition, probability]) - 1) / 2.0
    )
    ranked = (
        sa.select(version, predictions.c.label, predictions.c.predicted, mean_rank.label("rank"))
        .where(*labelled)
        .subquery()
    )
    label, predicted = ranked.c.label, ranked.c.predicted
    query = sa.select(
        *([ranked.c.version] if by_version else []),
        sa.func.count().label("labelled"),
        _how_many((label == 1) & (predicted == 1)).label("tp"),
        _how_many((label == 0) & (predicted == 0)).label("tn"),
        _how_many((label == 0) & (predicted == 1)).label("fp"),
        _how_many((label == 1) & (predicted == 0)).label("fn"),
        sa.func.coalesce(sa.func.sum(sa.case((label == 1, ranked.c.rank), else_=0)), 0).label(
            "positive_ranks"
        ),
    )
    return query.group_by(ranked.c.version) if by_version else query


def _figures(logged: int, counts) -> LiveFigures:
    if counts is None or not counts.labelled:
        return LiveFigures(predictions=logged, labelled=0)
    tp, tn, fp, fn = counts.tp, counts.tn, counts.fp, counts.fn
    positives, negatives = tp + fn, tn + fp
    roc_auc = None  # undefined with one class only
    if positives and negatives:
        u = float(counts.positive_ranks) - positives * (positives + 1) / 2
        roc_auc = u / (positives * negatives)
    return LiveFigures(
        predictions=logged,
        labelled=counts.labelled,
        accuracy=(tp + tn) / counts.labelled,
        precision=tp / (tp + fp) if tp + fp else 0.0,
        recall=tp / (tp + fn) if tp + fn else 0.0,
        roc_auc=roc_auc,
    )
