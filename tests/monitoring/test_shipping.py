"""A web process and the log writer process: what was sent stays held until the writer
confirms its rows are counted, and goes again to the next writer when one dies; a frame the
writer cannot read is counted, not lost and not sent forever."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest
import sqlalchemy as sa

from modelserve.monitoring.database import Database
from modelserve.monitoring.log import DROPPED, WRITTEN, DatabaseSink, PredictionLog
from modelserve.monitoring.schema import predictions
from modelserve.monitoring.shipping import Receiver, ShipSink
from modelserve.monitoring.wire import ACK, FRAME, Served, encode


@pytest.fixture
def start_writer(tmp_path):
    """Starts the log writer process's side on a socket path; returns its database (SQLite)
    and what it counted, frames it could not read included. Stopped after the test."""
    started = []

    def start(path):
        database = Database(f"sqlite:///{tmp_path / 'predictions.db'}")
        counted = []

        def count(outcome, n):
            counted.append((outcome, n))

        sink = DatabaseSink(database)
        writer = PredictionLog(
            sink, count=count, settled=lambda entries: [e.acknowledge() for e in entries]
        )
        receiver = Receiver(path, writer, sink.timestamps, count)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        started.append((receiver, writer))
        return database, counted

    yield start
    for receiver, writer in started:
        receiver.close()
        writer.close()


def test_a_frame_the_dead_writer_never_confirmed_is_written_by_the_next(tmp_path, start_writer):
    path = tmp_path / "log.sock"
    dying = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)  # reads a frame, then dies
    dying.bind(str(path))
    dying.listen()
    web = PredictionLog(ShipSink(path))
    for number in range(3):
        web.record(f"request-{number}", "v1", "diabetes", 1, _row(), np.array([[0.7]]), 0.5)
    assert web.flush()

    connection, _ = dying.accept()
    header = _receive(connection, FRAME.size)
    length, _, rows = FRAME.unpack(header)
    _receive(connection, length)
    assert rows == 3 and web.sink.held_rows() == 3  # sent, not confirmed
    connection.close()
    dying.close()
    path.unlink()

    database, counted = start_writer(path)
    try:
        _wait_until(lambda: web.sink.held_rows() == 0)  # confirmed by the new writer
    finally:
        web.close()
    with database.reading() as reading:
        stored = reading.execute(sa.select(predictions.c.request_id)).scalars().all()
    assert sorted(stored) == ["request-0", "request-1", "request-2"]
    assert counted == [(WRITTEN, 3)]


def test_an_unreadable_frame_is_counted_as_dropped_and_the_next_is_written(tmp_path, start_writer):
    path = tmp_path / "log.sock"
    database, counted = start_writer(path)
    served = [Served("good", "v1", "diabetes", 1, time.time(), _row(), np.array([[0.7]]), 0.5)]
    garbage = b"\xff" * 40
    web = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        web.connect(str(path))
        web.settimeout(10)  # an unanswered frame fails the test, not hangs it
        web.sendall(FRAME.pack(len(garbage), 1, 5) + garbage + encode(served, 2))
        acknowledged = {ACK.unpack(_receive(web, ACK.size))[0] for _ in range(2)}
    finally:
        web.close()
    assert acknowledged == {1, 2}  # neither is sent again
    assert sorted(counted) == [(DROPPED, 5), (WRITTEN, 1)]
    with database.reading() as reading:
        assert reading.execute(sa.select(predictions.c.request_id)).scalars().all() == ["good"]


def _row() -> np.ndarray:
    return np.array([[6, 148, 72, 35, 0, 33.6, 0.627, 50]], dtype=np.float32)


def _receive(connection: socket.socket, size: int) -> bytes:
    received = b""
    while len(received) < size:
        chunk = connection.recv(size - len(received))
        assert chunk, "the web process closed the connection"
        received += chunk
    return received


def _wait_until(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.01)  # between readings of a count the writer updates every quarter second
