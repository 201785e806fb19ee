"""The server's log writer process, and how the web processes hand it their rows.

A database driver in a process that answers requests costs more than its own work: its
waits on the database hand the interpreter lock back and forth with the request threads
(with PostgreSQL the server answered 40 % fewer requests; a separate process writing the
same rows cost 12 %). So ``modelserve serve`` starts one log writer process beside its web
processes: they send it their batches over a Unix socket (``ShipSink``, in the format of
``monitoring.wire``), and it alone writes the database, with the same bounded queue,
batching, retries and counts as ever. It runs at a lower priority than the web processes:
under a load that takes every core, answers come first, and rows wait (past the bound they
are dropped, counted).

A web process keeps each batch it sent until the writer process acknowledges it, which it
does once the batch's rows are counted (written, duplicate or dropped). If the writer
process dies, the web process sends what it holds again to the one started in its place:
nothing is lost uncounted. A batch the dead process had written but not yet acknowledged
comes back as duplicates, counted so.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import os
import signal
import socket
import struct
import threading
import time
from functools import partial
from pathlib import Path

from modelserve.bulk import at_fork_in_child
from modelserve.monitoring.log import DROPPED, DUPLICATE, WRITTEN, PredictionLog
from modelserve.monitoring.wire import ACK, FRAME, Served, Timestamps, decode, encode

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 5.0  # a writer process that stopped reading is replaced by a new one
RECONNECT_SECONDS = (0.05, 0.25, 0.5, 1.0)  # while the writer process (re)starts
SOCKET_NAME = "prediction-log.sock"
WRITER_NICENESS = 10


class ShipSink:
    """A web process's way to the log writer process: one connection, kept by a thread that
    reads the acknowledgements and, when the writer process is replaced, connects to the
    new one and sends it every frame not acknowledged yet."""

    def __init__(self, path: Path):
        self.path = path
        self._reset()
        at_fork_in_child(self._reset)

    def _reset(self) -> None:
        self._numbers = itertools.count()
        self._unacknowledged: dict[int, tuple[bytes, int]] = {}  # number: frame, rows
        self._held = 0
        self._lock = threading.Lock()  # guards the frames held and their rows
        self._sending = threading.Lock()  # one frame at a time on the stream
        self._connection: socket.socket | None = None
        self._keeper: threading.Thread | None = None
        self._closed = False

    def write(self, batch: list[Served]) -> None:
        number = next(self._numbers)
        frame = encode(batch, number)
        with self._sending:
            with self._lock:
                self._unacknowledged[number] = (frame, sum(map(len, batch)))
                self._held += self._unacknowledged[number][1]
            if self._connection is not None:
                self._send(self._connection, frame)
            elif self._keeper is None:
                self._keeper = threading.Thread(
                    target=self._keep_connected, name="prediction-log-ship", daemon=True
                )
                self._keeper.start()

    def held_rows(self) -> int:
        return self._held

    def close(self) -> int:
        """Frames sent are the writer process's to count; those it never got are returned
        (and are not sent after)."""
        with self._sending:
            self._closed = True
            if self._connection is None:
                return self._held
            with contextlib.suppress(OSError):
                self._connection.shutdown(socket.SHUT_WR)  # its reader ends after the last frame
            return 0

    def prune(self, older_than) -> None:
        """The writer process deletes old rows."""

    def _keep_connected(self) -> None:
        failures = 0
        while not self._closed:
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.settimeout(SEND_TIMEOUT_SECONDS)
            try:
                connection.connect(str(self.path))
            except OSError:
                connection.close()
                time.sleep(RECONNECT_SECONDS[min(failures, len(RECONNECT_SECONDS) - 1)])
                failures += 1
                continue
            failures = 0
            with self._sending:
                if self._closed:  # what it holds is counted as dropped already
                    connection.close()
                    return
                with self._lock:
                    frames = [frame for frame, _ in self._unacknowledged.values()]
                if all(self._send(connection, frame) for frame in frames):
                    self._connection = connection
            self._read_acknowledgements(connection)
            with self._sending:
                if self._connection is connection:
                    self._connection = None
            connection.close()

    def _send(self, connection: socket.socket, frame: bytes) -> bool:
        try:
            connection.sendall(frame)
            return True
        except OSError:
            # Part of the frame may be gone: the writer process discards it, and it is sent
            # again on the next connection.
            self._connection = None
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)  # its reader of acknowledgements stops
            return False

    def _read_acknowledgements(self, connection: socket.socket) -> None:
        received = b""
        while True:
            try:
                chunk = connection.recv(4096)
            except TimeoutError:
                continue  # nothing to acknowledge lately
            except OSError:
                return
            if not chunk:
                return  # the writer process is gone
            received += chunk
            whole = len(received) - len(received) % ACK.size
            numbers = struct.unpack(f">{whole // ACK.size}Q", received[:whole])
            received = received[whole:]
            with self._lock:
                for number in numbers:
                    _, rows = self._unacknowledged.pop(number, (b"", 0))
                    self._held -= rows


class Shipped:
    """A web process's frame, received by the log writer process: its rows, and the way to
    tell the sender they are counted."""

    __slots__ = ("rows", "acknowledge")

    def __init__(self, rows: list[tuple], acknowledge):
        self.rows = rows
        self.acknowledge = acknowledge

    def __len__(self) -> int:
        return len(self.rows)


class Receiver:
    """The writer process's side: reads frames from every web process into ``log``."""

    READERS_STOP_SECONDS = 5.0

    def __init__(self, path: Path, log_: PredictionLog, timestamps: Timestamps, count):
        self.path = path
        self.log = log_
        self.timestamps = timestamps
        self.count = count
        self._readers: list[threading.Thread] = []
        path.unlink(missing_ok=True)
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(str(path))
        os.chmod(path, 0o600)  # only this user's processes hand rows in
        self.listener.listen(64)

    def serve_forever(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return  # closed: the process is stopping
            reader = threading.Thread(target=self._read, args=(connection,), daemon=True)
            reader.start()
            self._readers = [r for r in self._readers if r.is_alive()] + [reader]

    def _read(self, connection: socket.socket) -> None:
        replying = threading.Lock()
        with connection, connection.makefile("rb") as stream:
            while header := stream.read(FRAME.size):
                if len(header) < FRAME.size:
                    return
                length, number, rows = FRAME.unpack(header)
                body = stream.read(length)
                if len(body) < length:
                    return  # the sender failed mid-frame and sends it again
                acknowledge = partial(_acknowledge, connection, replying, number)
                try:
                    shipped = Shipped(decode(body, self.timestamps), acknowledge)
                except Exception:  # noqa: BLE001 - sent again, it would fail again
                    log.exception("prediction log: a frame of %d rows is unreadable", rows)
                    self.count(DROPPED, rows)
                    acknowledge()
                    continue
                self.log.accept(shipped)

    def close(self) -> None:
        """Take no more connections; read what the web processes sent before they closed
        theirs (they have stopped by now)."""
        self.listener.close()
        deadline = time.monotonic() + self.READERS_STOP_SECONDS
        for reader in self._readers:
            reader.join(max(0.0, deadline - time.monotonic()))


def _acknowledge(connection: socket.socket, replying: threading.Lock, number: int) -> None:
    try:
        with replying:
            connection.sendall(ACK.pack(number))
    except OSError:
        pass  # the web process is gone, and with it what it would resend


def run_writer(settings, path: Path) -> None:
    """The log writer process: receive rows until SIGTERM, then write what is pending."""
    from prometheus_client import Counter

    from modelserve.errors import DatabaseUnavailable
    from modelserve.logs import configure_logging
    from modelserve.monitoring.database import Database, database_url
    from modelserve.monitoring.log import ROWS_METRIC, DatabaseSink

    configure_logging(settings.log_level)
    os.nice(WRITER_NICENESS)
    counter = Counter(*ROWS_METRIC, ["outcome"])  # its samples join the web processes'
    counters = {outcome: counter.labels(outcome) for outcome in (WRITTEN, DUPLICATE, DROPPED)}

    def count(outcome: str, rows: int) -> None:
        counters[outcome].inc(rows)

    database = Database(database_url(settings))
    try:
        database.engine()  # connected and migrated now, not in the middle of serving
    except DatabaseUnavailable as exc:
        log.warning("prediction log: %s; rows wait until it is back", exc.local_message())
    sink = DatabaseSink(database)
    writer = PredictionLog(
        sink,
        capacity_rows=settings.prediction_log_queue_rows,
        retention=settings.prediction_log_retention,
        count=count,
        settled=lambda entries: [entry.acknowledge() for entry in entries],
    )
    receiver = Receiver(path, writer, sink.timestamps, count)
    gc.freeze()  # as in a web process: the collector walks only what each frame makes
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's ^C is the server's to handle
    threading.Thread(target=receiver.serve_forever, name="log-receiver", daemon=True).start()
    log.info("prediction log writer ready")
    stopping.wait()
    receiver.close()
    writer.close()  # what cannot be written now is counted as dropped


class WriterProcess:
    """Keeps the log writer process running beside the web processes (restarted if it
    dies), and stops it last, after it wrote what it holds."""

    RESTART_SECONDS = 1.0
    STOP_SECONDS = 10.0

    def __init__(self, settings, folder: Path):
        self.settings = settings
        self.path = folder / SOCKET_NAME
        self._process = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # a restart and the stop do not cross

    def start(self) -> None:
        self._spawn()
        threading.Thread(target=self._supervise, name="log-writer-watch", daemon=True).start()

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.is_alive():
            process.terminate()
            process.join(self.STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()

    def _spawn(self) -> None:
        import multiprocessing

        # Spawned, not forked: a fresh interpreter holds none of the server's sockets (its
        # listening ones included) nor the state of its threads.
        context = multiprocessing.get_context("spawn")
        self._process = context.Process(
            target=run_writer, args=(self.settings, self.path), name="modelserve-log-writer"
        )
        self._process.start()

    def _supervise(self) -> None:
        while True:
            self._process.join()
            if self._stopping.wait(self.RESTART_SECONDS):  # one that dies at once must not spin
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                log.error("log writer process exited (%s); restarting it", self._process.exitcode)
                self._spawn()
