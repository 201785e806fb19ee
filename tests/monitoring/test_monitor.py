"""Live accuracy and drift, on both databases, from rows logged as the server logs them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
import sqlalchemy as sa

from modelserve.evaluation import evaluate, roc_auc
from modelserve.monitoring.feedback import attach_labels
from modelserve.monitoring.log import DatabaseSink, PredictionLog
from modelserve.monitoring.monitor import Monitor
from modelserve.monitoring.retention import prune
from modelserve.monitoring.schema import predictions
from modelserve.protocol.types import FeedbackLabel
from modelserve.runtime import load_runtime

GLUCOSE = 1


@pytest.fixture
def demo(demo_store):
    bundle = demo_store.bundle("diabetes")
    data = bundle.training_data()
    return demo_store, load_runtime(bundle), data


def _monitor(database, store, **options) -> Monitor:
    settings = {"window": timedelta(hours=1), "drift_threshold": 0.2, "drift_min_rows": 200}
    return Monitor(database, store, **{**settings, **options})


def _serve(log: PredictionLog, runtime, rows: np.ndarray, prefix: str, version: int = 1):
    """Each row as one request, as the JSON APIs log it; returns the probabilities."""
    probabilities = runtime.predict(rows.astype(np.float32))
    for i, row in enumerate(rows):
        log.record(
            f"{prefix}-{i}", "v1", "diabetes", version, row[None, :].astype(np.float32),
            probabilities[i : i + 1], runtime.metadata.output.threshold,
        )  # fmt: skip
    assert log.flush()
    return probabilities


def test_live_accuracy_is_that_of_the_labelled_rows(database, demo):
    store, runtime, data = demo
    log = PredictionLog(DatabaseSink(database))
    rows = np.arange(0, 300)
    probabilities = _serve(log, runtime, data.features[rows], "p")
    labelled = rows[::2]  # half of them get their outcome
    attach_labels(
        database,
        "diabetes",
        [FeedbackLabel(request_id=f"p-{i}", label=int(data.labels[i])) for i in labelled],
    )

    report = _monitor(database, store).report("diabetes")

    direct = evaluate(data.labels[labelled], probabilities[labelled], 0.5)
    assert (report.predictions, report.labelled) == (300, 150)
    assert report.live_accuracy == pytest.approx(direct.accuracy)
    assert report.precision == pytest.approx(direct.precision)
    assert report.recall == pytest.approx(direct.recall)
    assert report.roc_auc == pytest.approx(direct.roc_auc)
    assert [(v.version, v.labelled) for v in report.versions] == [(1, 150)]
    assert sum(s.labelled for s in report.series) == 150


def test_the_roc_area_counts_ties_as_half_per_version_and_overall(database, demo):
    store, _, _ = demo
    log = PredictionLog(DatabaseSink(database))
    cases = {  # (probability, label): ties within a class and across classes
        1: [(0.2, 0), (0.2, 1), (0.7, 1), (0.4, 0), (0.7, 0), (0.4, 0)],
        2: [(0.9, 1), (0.1, 0), (0.5, 1), (0.5, 0), (0.2, 1)],
    }
    for version, rows in cases.items():
        for i, (probability, _) in enumerate(rows):
            log.record(
                f"v{version}-{i}", "v1", "diabetes", version, np.zeros((1, 8), np.float32),
                np.array([[probability]], np.float32), 0.5,
            )  # fmt: skip
    assert log.flush()
    attach_labels(
        database,
        "diabetes",
        [
            FeedbackLabel(request_id=f"v{version}-{i}", label=label)
            for version, rows in cases.items()
            for i, (_, label) in enumerate(rows)
        ],
    )

    report = _monitor(database, store).report("diabetes")

    def direct(rows):
        return roc_auc(np.array([label for _, label in rows]), np.array([p for p, _ in rows]))

    assert [v.roc_auc for v in report.versions] == pytest.approx(
        [direct(cases[1]), direct(cases[2])]
    )
    assert report.roc_auc == pytest.approx(direct(cases[1] + cases[2]))
    assert direct(cases[1]) == pytest.approx(0.5)  # ties counted whole: 0.625; not at all: 0.375


def test_figures_are_per_version_and_nothing_labelled_is_null(database, demo):
    store, runtime, data = demo
    log = PredictionLog(DatabaseSink(database))
    _serve(log, runtime, data.features[:10], "a", version=1)
    _serve(log, runtime, data.features[10:30], "b", version=2)
    attach_labels(database, "diabetes", [FeedbackLabel(request_id="b-0", label=1)])

    report = _monitor(database, store).report("diabetes")

    assert [(v.version, v.predictions, v.labelled) for v in report.versions] == [
        (1, 10, 0),
        (2, 20, 1),
    ]
    assert report.versions[0].accuracy is None
    assert _monitor(database, store).report("diabetes", version=1).live_accuracy is None


def test_shifted_glucose_drifts_and_no_other_feature(database, demo):
    store, runtime, data = demo
    log = PredictionLog(DatabaseSink(database))
    rng = np.random.default_rng(11)
    rows = data.features[rng.choice(len(data.features), size=400, replace=True)]
    _serve(log, runtime, rows, "same")
    monitor = _monitor(database, store)
    assert monitor.report("diabetes").drifted == []

    with database.transaction() as connection:
        connection.execute(sa.delete(predictions))
    shifted = rows.copy()
    shifted[:, GLUCOSE] += 40
    _serve(log, runtime, shifted, "shifted")

    report = monitor.report("diabetes")
    assert report.drifted == ["glucose"]
    assert report.drift_reference == "pima-indians-diabetes.csv"
    psi = {d.feature: d.psi for d in report.drift}
    assert psi["glucose"] > 1.0
    assert max(v for f, v in psi.items() if f != "glucose") < 0.1


def test_drift_waits_for_enough_rows(database, demo):
    store, runtime, data = demo
    _serve(PredictionLog(DatabaseSink(database)), runtime, data.features[:50] + 40, "few")
    report = _monitor(database, store).report("diabetes")
    assert report.drifted == []
    assert report.drift_note == "50 recent rows; drift is judged from 200"


def test_retention_deletes_old_rows_in_batches(database, demo):
    store, runtime, data = demo
    _serve(PredictionLog(DatabaseSink(database)), runtime, data.features[:23], "old")
    _serve(PredictionLog(DatabaseSink(database)), runtime, data.features[:5], "new")
    old = datetime.now(timezone.utc) - timedelta(days=40)
    with database.transaction() as connection:
        connection.execute(
            sa.update(predictions)
            .where(predictions.c.request_id.like("old-%"))
            .values(created_at=old)
        )

    assert prune(database, datetime.now(timezone.utc) - timedelta(days=30), batch_rows=5) == 23

    with database.reading() as connection:
        left = connection.execute(sa.select(predictions.c.request_id)).scalars().all()
    assert sorted(left) == [f"new-{i}" for i in range(5)]
