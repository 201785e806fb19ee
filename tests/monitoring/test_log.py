"""The prediction log's writer, on both databases: every row written once, or counted."""

from __future__ import annotations

import numpy as np
import sqlalchemy as sa

from modelserve.monitoring.database import Database
from modelserve.monitoring.log import DROPPED, DUPLICATE, WRITTEN, DatabaseSink, PredictionLog
from modelserve.monitoring.schema import predictions
from tests.support import postgres

RNG = np.random.default_rng(3)


def _record(log: PredictionLog, request_id: str, rows: int, model: str = "diabetes") -> None:
    features = RNG.uniform(0, 200, size=(rows, 8)).astype(np.float32)
    probabilities = RNG.uniform(size=(rows, 1)).astype(np.float32)
    log.record(request_id, "v1", model, 3, features, probabilities, 0.5)


def _rows(database: Database) -> list:
    with database.reading() as connection:
        return connection.execute(sa.select(predictions).order_by(*predictions.primary_key)).all()


def test_every_row_is_written_once_with_what_was_served(database):
    counted = []
    log = PredictionLog(
        DatabaseSink(database), count=lambda outcome, n: counted.append((outcome, n))
    )
    features = np.array([[6, 148, 72, 35, 0, 33.6, 0.627, 50], [1, 85, 66, 29, 0, 26.6, 0.351, 31]])
    probabilities = np.array([[0.83], [0.04]], dtype=np.float32)
    log.record("req-1", "v2", "diabetes", 4, features.astype(np.float32), probabilities, 0.5)
    for i in range(300):
        _record(log, f"bulk-{i}", 1 + i % 3)

    assert log.flush()

    rows = _rows(database)
    assert len(rows) == 2 + sum(1 + i % 3 for i in range(300))
    first, second = [row for row in rows if row.request_id == "req-1"]
    assert (first.request_id, first.row, second.row) == ("req-1", 0, 1)
    assert (first.model, first.version, first.route) == ("diabetes", 4, "v2")
    assert first.features == [6.0, 148.0, 72.0, 35.0, 0.0, 33.6, 0.627, 50.0]
    assert (first.predicted, second.predicted) == (1, 0)
    assert abs(first.probability - 0.83) < 1e-6
    assert first.label is None
    assert first.created_at.tzinfo is None or first.created_at.utcoffset().total_seconds() == 0
    assert log.totals == {WRITTEN: len(rows), DUPLICATE: 0, DROPPED: 0}
    assert sum(n for outcome, n in counted if outcome == WRITTEN) == len(rows)


def test_a_reused_request_id_keeps_its_first_row_and_is_counted(database):
    log = PredictionLog(DatabaseSink(database))
    _record(log, "client-chosen", 1)
    assert log.flush()
    _record(log, "client-chosen", 1)
    _record(log, "fresh", 1)
    assert log.flush()
    assert [r.request_id for r in _rows(database)] == ["client-chosen", "fresh"]
    assert log.totals == {WRITTEN: 2, DUPLICATE: 1, DROPPED: 0}


def test_rows_wait_while_the_database_is_down_and_beyond_the_bound_are_counted():
    with postgres.PrivateServer() as server:  # not started yet: the database is down
        log = PredictionLog(DatabaseSink(Database(server.url())), capacity_rows=10)
        for i in range(6):
            _record(log, f"r{i}", 2)  # 12 rows for room for 10

        assert not log.flush()  # refused: the rows stay
        assert log.pending_rows() == 10
        assert log.totals == {WRITTEN: 0, DUPLICATE: 0, DROPPED: 2}

        server.start()
        assert log.flush()
    assert log.totals == {WRITTEN: 10, DUPLICATE: 0, DROPPED: 2}
    assert log.pending_rows() == 0


def test_sampling_records_about_its_share(database):
    log = PredictionLog(DatabaseSink(database), sample=0.25)
    for i in range(2000):
        _record(log, f"s{i}", 1)
    assert log.flush()
    assert 400 <= log.totals[WRITTEN] <= 600  # binomial(2000, 0.25): 500 ± 5 sigma


class _RefusesFirst:
    """A sink that refuses its first batch for good, then takes every one."""

    def __init__(self, error: Exception):
        self.error, self.batches = error, []

    def write(self, batch):
        if self.error is not None:
            error, self.error = self.error, None
            raise error
        self.batches.append(batch)
        return sum(map(len, batch))

    def held_rows(self) -> int:
        return 0

    def close(self) -> int:
        return 0

    def prune(self, older_than) -> None:
        pass


def test_a_batch_refused_for_good_is_counted_and_the_log_goes_on():
    sink = _RefusesFirst(ValueError("a bad row"))
    log = PredictionLog(sink)
    _record(log, "bad", 3)
    assert log.flush()
    _record(log, "good", 2)
    assert log.flush()
    assert log.totals == {WRITTEN: 2, DUPLICATE: 0, DROPPED: 3}
    assert [s.request_id for batch in sink.batches for s in batch] == ["good"]


def test_rows_the_sink_cannot_take_at_close_are_counted_as_dropped():
    sink = _RefusesFirst(OSError("the writer is gone"))
    log = PredictionLog(sink)
    _record(log, "late", 4)
    assert not log.close()
    assert log.totals == {WRITTEN: 0, DUPLICATE: 0, DROPPED: 4}
    assert log.pending_rows() == 0
