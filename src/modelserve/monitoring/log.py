"""The prediction log's writer: a request thread hands its rows over in a few microseconds;
one thread per process passes them on in batches, to a sink: the database itself
(``DatabaseSink``), or the server's log writer process (``monitoring.shipping``), which keeps
database drivers out of the processes that answer requests.

Writing never slows or fails an answer. The rows waiting for the database are bounded
(``capacity_rows``): while it is slow or down they wait there, and rows beyond the bound are
dropped and counted; a batch the sink refused is tried again, with growing pauses, until
it returns. Each row ends counted once: written, duplicate (its key was logged before) or
dropped (where it was dropped).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Protocol

import numpy as np
import sqlalchemy as sa

from modelserve.bulk import at_fork_in_child, current_pid
from modelserve.errors import DatabaseUnavailable, ModelserveError
from modelserve.monitoring.database import Database
from modelserve.monitoring.retention import prune
from modelserve.monitoring.schema import predictions
from modelserve.monitoring.wire import COLUMNS, Served, Timestamps, database_rows

log = logging.getLogger(__name__)

WRITTEN, DUPLICATE, DROPPED = "written", "duplicate", "dropped"
ROWS_METRIC = (
    "modelserve_prediction_log_rows",
    "Rows handed to the prediction log: written, duplicate (key logged before) or dropped "
    "(the queue was full while the database was slow or down)",
)
Count = Callable[[str, int], None]
Settled = Callable[[list["Entry"]], None]


class Entry(Protocol):
    """What the log queues: one request's rows (``Served``), or, in the log writer process,
    a web process's frame of them, decoded (``shipping.Shipped``: ``rows`` in the order of
    ``wire.COLUMNS``)."""

    def __len__(self) -> int:
        """Its rows."""


class Sink(Protocol):
    def write(self, batch: list[Entry]) -> int | None:
        """Pass ``batch`` on; the rows newly written to the database, or None where another
        process writes them (and counts them). Raises when it cannot take the batch now."""

    def held_rows(self) -> int:
        """Rows taken by ``write`` whose outcome is not known yet (another process holds
        them): they count against the log's bound."""

    def close(self) -> int:
        """No more writes; returns the rows it took but could not pass on, to count."""

    def prune(self, older_than: datetime) -> None:
        """Delete what retention no longer keeps, where this sink writes the database."""


class DatabaseSink:
    def __init__(self, database: Database):
        self.database = database
        self.timestamps = Timestamps(database.backend)

    def write(self, batch: list[Entry]) -> int:
        # Built before the transaction: SQLite's write lock is held for the insert alone.
        served = [entry for entry in batch if isinstance(entry, Served)]
        rows = database_rows(served, self.timestamps) if served else []
        rows += [row for entry in batch if not isinstance(entry, Served) for row in entry.rows]
        with self.database.transaction() as connection:
            return _write(connection, rows)

    def held_rows(self) -> int:
        return 0

    def close(self) -> int:
        return 0

    def prune(self, older_than: datetime) -> None:
        prune(self.database, older_than)


# What a sink raises when it cannot take a batch now: the batch waits and is tried again.
# Anything else refuses this batch for good (it is counted as dropped) but not the next.
UNAVAILABLE = (
    DatabaseUnavailable,
    OSError,
    sa.exc.OperationalError,
    sa.exc.InterfaceError,
    sa.exc.TimeoutError,
)


class PredictionLog:
    FLUSH_SECONDS = 0.25  # rows reach the database within about this long
    BATCH_ROWS = 2000
    RETRY_SECONDS = (0.25, 0.5, 1.0, 2.0)  # a database back is used within 2 s
    PRUNE_SECONDS = 600.0

    def __init__(
        self,
        sink: Sink,
        *,
        capacity_rows: int = 50_000,
        sample: float = 1.0,
        retention: timedelta | None = None,
        count: Count | None = None,
        settled: Settled | None = None,
    ):
        """``settled`` learns of entries once their rows are counted (written, duplicate or
        dropped): the log writer process then tells the web process that sent them."""
        self.sink = sink
        self.capacity_rows = capacity_rows
        self.sample = sample
        self.retention = retention
        self._count = count or (lambda outcome, rows: None)
        self._settled = settled or (lambda entries: None)
        self.totals = {WRITTEN: 0, DUPLICATE: 0, DROPPED: 0}  # this process's, for tests
        self._pending: deque[Entry] = deque()
        self._pending_rows = 0
        self._lock = threading.Lock()  # guards the pending queue and its row count
        self._writing = threading.Lock()  # one batch at a time: the writer or a flush()
        self._wake = threading.Event()
        self._writer_pid: int | None = None
        self._closed = False
        self._retries = 0
        at_fork_in_child(self._forked)

    # -- request threads -------------------------------------------------------------------
    def record(
        self,
        request_id: str,
        route: str,
        model: str,
        version: int,
        features: np.ndarray,
        probabilities: np.ndarray,
        threshold: float,
    ) -> None:
        if self.sample < 1.0 and random.random() >= self.sample:
            return
        self.accept(
            Served(
                request_id, route, model, version, time.time(), features, probabilities, threshold
            )
        )

    def accept(self, entry: Entry) -> None:
        """Rows to write, unless the rows waiting already fill the queue."""
        rows = len(entry)
        with self._lock:
            accepted = self._pending_rows + self.sink.held_rows() + rows <= self.capacity_rows
            if accepted:
                self._pending.append(entry)
                self._pending_rows += rows
        if not accepted:
            self._counted(DROPPED, rows)
            self._settled([entry])
        if self._writer_pid != current_pid():
            self._start_writer()

    # -- any thread --------------------------------------------------------------------------
    def flush(self) -> bool:
        """Write what is pending now, in the caller's thread; False if the sink refused."""
        while self._pending:
            if not self._write_batch():
                return False
        return True

    def close(self) -> bool:
        """Stop the writer after writing what is pending (at a process's exit); what cannot
        be written now is counted as dropped."""
        self._closed = True
        self._wake.set()
        flushed = self.flush()
        with self._lock:
            rows, self._pending_rows = self._pending_rows, 0
            left = list(self._pending)
            self._pending.clear()
        self._counted(DROPPED, rows + self.sink.close())
        self._settled(left)
        return flushed

    def pending_rows(self) -> int:
        return self._pending_rows

    # -- the writer thread -------------------------------------------------------------------
    def _start_writer(self) -> None:
        with self._lock:
            if self._writer_pid == current_pid():
                return
            self._writer_pid = current_pid()
        threading.Thread(target=self._write_often, name="prediction-log", daemon=True).start()
        if self.retention is not None:
            threading.Thread(target=self._prune_often, name="log-retention", daemon=True).start()

    def _write_often(self) -> None:
        while not self._closed:
            self._wake.wait(self.FLUSH_SECONDS)  # a deadline for pending rows, not a sync
            self._wake.clear()
            while self._pending and self._write_batch():
                pass
            if self._retries:
                pause = self.RETRY_SECONDS[min(self._retries, len(self.RETRY_SECONDS)) - 1]
                time.sleep(pause)

    def _write_batch(self) -> bool:
        with self._writing:
            batch = self._take()
            if not batch:
                return True
            rows = sum(map(len, batch))
            try:
                written = self.sink.write(batch)
            except UNAVAILABLE as exc:
                self._put_back(batch)
                if self._retries == 0:
                    log.warning("prediction log: cannot write, rows wait: %s", _described(exc))
                self._retries += 1
                return False
            except Exception:  # noqa: BLE001 - one bad batch must not stop the log
                log.exception("prediction log: a batch of %d rows was refused; dropped", rows)
                written = None
                self._counted(DROPPED, rows)
            if self._retries:
                log.info("prediction log: writing again")
                self._retries = 0
            with self._lock:
                self._pending_rows -= rows
            if written is not None:
                self._counted(WRITTEN, written)
                self._counted(DUPLICATE, rows - written)
            self._settled(batch)
            return True

    def _take(self) -> list[Entry]:
        batch, rows = [], 0
        with self._lock:
            while self._pending and rows < self.BATCH_ROWS:
                entry = self._pending.popleft()
                batch.append(entry)
                rows += len(entry)
        return batch

    def _put_back(self, batch: list[Entry]) -> None:
        with self._lock:
            self._pending.extendleft(reversed(batch))

    def _prune_often(self) -> None:
        # A thread of its own: a long first deletion must not hold rows back from the database.
        while not self._closed:
            try:
                self.sink.prune(datetime.now(timezone.utc) - self.retention)
            except Exception as exc:  # noqa: BLE001 - tried again at the next turn
                log.warning("prediction log: could not delete old rows: %s", _described(exc))
            time.sleep(self.PRUNE_SECONDS)  # a schedule, not a wait on work

    def _counted(self, outcome: str, rows: int) -> None:
        if rows:
            self.totals[outcome] += rows
            self._count(outcome, rows)

    def _forked(self) -> None:
        # The parent's rows are the parent's to write; its threads did not come along.
        self._pending.clear()
        self._pending_rows = 0
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._wake = threading.Event()
        self._retries = 0
        self.totals = dict.fromkeys(self.totals, 0)


_INCOMING = "incoming_predictions"


def _described(error: Exception) -> str:
    return error.local_message() if isinstance(error, ModelserveError) else str(error)


def _write(connection, rows: list[tuple]) -> int:
    """Insert ``rows`` with the driver's bulk path; returns how many were new.

    SQLAlchemy's per-row parameter handling costs more than the database's own insert (on
    SQLite about 12 against 4 microseconds a row); on PostgreSQL COPY costs the client a
    third of what executemany does, and the server less than any INSERT. A key logged before
    (a retried batch the database had committed, a client reusing its X-Request-ID) keeps its
    first row, counted as a duplicate.
    """
    columns = ", ".join(COLUMNS)
    conflict = "ON CONFLICT (request_id, row) DO NOTHING"
    if connection.dialect.name != "postgresql":
        marks = ", ".join("?" * len(COLUMNS))
        insert = f"INSERT INTO {predictions.name} ({columns}) VALUES ({marks}) {conflict}"
        return connection.exec_driver_sql(insert, rows).rowcount
    import psycopg
    from psycopg.errors import UniqueViolation

    try:
        return _copy_new(connection, rows, columns, conflict, UniqueViolation)
    except psycopg.OperationalError as exc:  # the connection failed: the batch waits
        raise DatabaseUnavailable(f"the prediction log's database failed: {exc}") from exc


def _copy_new(connection, rows, columns: str, conflict: str, duplicate) -> int:
    with connection.connection.driver_connection.cursor() as cursor:
        # Straight in, the common case; a key logged before fails the COPY, and the batch
        # goes through a temporary table instead, which INSERT can skip duplicates from.
        cursor.execute("SAVEPOINT log_copy")
        try:
            _copy(cursor, predictions.name, rows)
        except duplicate:
            cursor.execute("ROLLBACK TO SAVEPOINT log_copy")
        else:
            cursor.execute("RELEASE SAVEPOINT log_copy")
            return len(rows)
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_INCOMING} ON COMMIT DELETE ROWS "
            f"AS SELECT {columns} FROM {predictions.name} WITH NO DATA"
        )
        _copy(cursor, _INCOMING, rows)
        cursor.execute(
            f"INSERT INTO {predictions.name} ({columns}) "
            f"SELECT {columns} FROM {_INCOMING} {conflict}"
        )
        return cursor.rowcount


# PostgreSQL's types of ``COLUMNS``, which binary COPY must be told. The features go as JSON
# text, which the server reads into its json column as it would a text COPY's.
_COPY_TYPES = {
    "request_id": "text", "row": "int4", "created_at": "timestamptz", "model": "text",
    "version": "int4", "route": "text", "features": "text", "probability": "float8",
    "predicted": "int2",
}  # fmt: skip


def _copy(cursor, table: str, rows: list[tuple]) -> None:
    # Binary: the writer formats no text. bench/log_copy.py: 0.9 to 1.0 µs a row of the
    # writer's CPU against 1.6 to 2.0 for text; the server's 3.5 to 4.2 µs either way.
    with cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types([_COPY_TYPES[column] for column in COLUMNS])
        for row in rows:
            copy.write_row(row)
