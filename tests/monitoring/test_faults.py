"""PostgreSQL stopped under load: answers keep flowing, the log's losses are counted, and
logging resumes by itself when the database returns."""

from __future__ import annotations

import time
from datetime import datetime, timezone

import psycopg
import pytest

from modelserve.bundles import ModelStore
from modelserve.datasets import read_csv
from modelserve.runtime import load_runtime
from modelserve.settings import demo_bundle_path
from tests.support import postgres
from tests.support.metrics import wait_until_logged
from tests.support.processes import Server
from tests.support.traffic import Traffic, phase, table

CLIENTS = 8
ANSWERS_PER_PHASE = 600
QUEUE_ROWS = 200  # small, so that the outage overflows it and the drops must be counted


@pytest.fixture
def database():
    with postgres.PrivateServer() as server:
        server.start()
        yield server


def test_postgresql_stopped_mid_run(database, tmp_path, pima_csv):
    root = tmp_path / "store"
    ModelStore(root).seed(demo_bundle_path(), "diabetes")
    server = Server(
        {
            "MODELSERVE_STORE": str(root),
            "MODELSERVE_DATABASE_URL": database.url(),
            "MODELSERVE_PREDICTION_LOG_QUEUE_ROWS": str(QUEUE_ROWS),
        }
    )
    data = read_csv(pima_csv, labels=True)
    expected = load_runtime(ModelStore(root).bundle("diabetes")).predict(data.features)[:, 0]
    rows = data.features.tolist()
    try:
        with Traffic(server.url, rows, clients=CLIENTS, timeout=10) as traffic:
            start, began = time.monotonic(), datetime.now(timezone.utc)
            _wait_for_rows_after(database.url(), began)  # logging works before the fault
            traffic.wait_for_answers(start, ANSWERS_PER_PHASE)
            database.stop()
            stopped = time.monotonic()
            traffic.wait_for_answers(stopped, ANSWERS_PER_PHASE)
            back = datetime.now(timezone.utc)
            database.start()
            restarted = time.monotonic()
            _wait_for_rows_after(database.url(), back)  # logging resumed, by itself
            traffic.wait_for_answers(restarted, ANSWERS_PER_PHASE)
        end = time.monotonic() + 60
        outcomes = list(traffic.outcomes)
        answered = sum(o.status == 200 for o in outcomes)
        counts = wait_until_logged(server.url, answered)
    finally:
        server.stop()

    def is_right(outcome) -> bool:
        return abs(outcome.probability - expected[outcome.row]) < 1e-5

    phases = [
        phase("before", outcomes, start, stopped, start, is_right),
        phase("stopped", outcomes, stopped, restarted, stopped, is_right),
        phase("back", outcomes, restarted, end, restarted, is_right),
    ]
    report = f"{table(phases)}\nlog: {counts}"
    # Every request answered, rightly, while the database was away.
    assert all(p.ok == p.sent and p.wrong == 0 and p.lost == 0 for p in phases), report
    # Every row is accounted for: written once, or dropped and counted.
    assert counts.get("duplicate", 0) == 0, report
    assert counts["written"] + counts.get("dropped", 0) == answered, report
    assert counts.get("dropped", 0) > 0, report  # the outage overflowed the queue
    with psycopg.connect(database.url()) as connection:
        written = connection.execute("SELECT count(*) FROM predictions").fetchone()[0]
    assert written == counts["written"], report
    print(report)  # shown with -rP: what was sent, answered, wrong, lost, logged


def _wait_for_rows_after(url: str, moment: datetime, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    query = "SELECT count(*) FROM predictions WHERE created_at > %s"
    with psycopg.connect(url, autocommit=True) as connection:
        while True:
            try:
                if connection.execute(query, (moment,)).fetchone()[0] > 0:
                    return
            except psycopg.errors.UndefinedTable:
                pass  # the server's first write creates it
            assert time.monotonic() < deadline, f"nothing logged within {timeout} s"
            time.sleep(0.05)  # between readings of a log written every quarter second
