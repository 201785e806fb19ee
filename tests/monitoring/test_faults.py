"""Faults of the prediction log under load: answers keep flowing, the log's losses are
counted, and logging resumes by itself. PostgreSQL stopped; the log writer process killed."""

from __future__ import annotations

import json
import math
import os
import signal
import sqlite3
import time
from datetime import datetime, timezone

import numpy as np
import psycopg
import pytest

from modelserve.bundles import ModelStore
from modelserve.datasets import read_csv
from modelserve.runtime import load_runtime
from modelserve.settings import demo_bundle_path
from tests.support import postgres
from tests.support.answers import SAME_PROBABILITY
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
    env = {
        "MODELSERVE_DATABASE_URL": database.url(),
        "MODELSERVE_PREDICTION_LOG_QUEUE_ROWS": str(QUEUE_ROWS),
    }
    server, expected, rows = _serving(tmp_path, pima_csv, env)
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
        outcomes = list(traffic.outcomes)
        answered = sum(o.status == 200 for o in outcomes)
        counts = wait_until_logged(server.url, answered)
    finally:
        server.stop()

    phases = _phases(outcomes, expected, before=start, stopped=stopped, back=restarted)
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


def test_log_writer_process_killed_mid_run(tmp_path, pima_csv):
    """The web processes keep what they sent until the writer process has counted it, and
    send it again to the one started in its place: every answered row is stored."""
    server, expected, rows = _serving(tmp_path, pima_csv, {})
    try:
        writer = _writer_pid(server, 1)
        with Traffic(server.url, rows, clients=CLIENTS, timeout=10) as traffic:
            start = time.monotonic()
            traffic.wait_for_answers(start, ANSWERS_PER_PHASE)
            os.kill(writer, signal.SIGKILL)
            killed = time.monotonic()
            assert _writer_pid(server, 2) != writer  # the server started another
            traffic.wait_for_answers(killed, ANSWERS_PER_PHASE)
            back = time.monotonic()
            traffic.wait_for_answers(back, ANSWERS_PER_PHASE)
        outcomes = list(traffic.outcomes)
        answered = sum(o.status == 200 for o in outcomes)
        counts = wait_until_logged(server.url, answered)
    finally:
        server.stop()

    phases = _phases(outcomes, expected, before=start, killed=killed, back=back)
    with sqlite3.connect(tmp_path / "predictions.db") as connection:
        stored = connection.execute("SELECT count(*) FROM predictions").fetchone()[0]
    report = f"{table(phases)}\nlog: {counts}; rows stored: {stored}"
    assert all(p.ok == p.sent and p.wrong == 0 and p.lost == 0 for p in phases), report
    # Each request is one row: every answer's row is stored, and counted once. A batch the
    # killed process had written but not acknowledged comes back as duplicates.
    assert stored == answered, report
    assert counts.get("dropped", 0) == 0, report
    assert counts["written"] + counts.get("duplicate", 0) == answered, report
    print(report)


def _serving(tmp_path, pima_csv, env: dict[str, str]) -> tuple[Server, np.ndarray, list]:
    """The server on a store holding the demo model; the probability it must give each Pima
    row, and the rows."""
    root = tmp_path / "store"
    ModelStore(root).seed(demo_bundle_path(), "diabetes")
    server = Server({"MODELSERVE_STORE": str(root), **env})
    data = read_csv(pima_csv, labels=True)
    expected = load_runtime(ModelStore(root).bundle("diabetes")).predict(data.features)[:, 0]
    return server, expected, data.features.tolist()


def _phases(outcomes, expected: np.ndarray, **starts: float) -> list:
    """Each phase from its start to the next one's (the last to the end)."""

    def is_right(outcome) -> bool:
        return abs(outcome.probability - expected[outcome.row]) <= SAME_PROBABILITY

    names, times = list(starts), [*starts.values(), math.inf]
    return [
        phase(name, outcomes, times[i], times[i + 1], times[i], is_right)
        for i, name in enumerate(names)
    ]


def _writer_pid(server: Server, started: int) -> int:
    """The pid of the ``started``-th log writer process the server started."""
    lines = server.log.wait_for(r'"message":"prediction log writer ready"', count=started)
    return json.loads(lines[started - 1])["pid"]


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
