"""The server's log writer process, and how the web processes hand it their rows.

A database driver in a process that answers requests costs more than its own work: its
waits on the database hand the interpreter lock back and forth with the request threads
(with PostgreSQL the server answered 40 % fewer requests; a separate process writing the
same rows cost 12 %). So ``modelserve serve`` starts one log writer process beside its web
processes: they send it their batches over a Unix socket (``ShipSink``), and it alone writes
the database, with the same bounded queue, batching, retries and counts as ever.

The wire format, defined here only: a 4-byte big-endian length, then one JSON document, a
list of requests, each ``[request_id, route, model, version, at, threshold, features,
probabilities, classes]`` (features a list of rows; floats as their shortest float32 form).
The web process decides the classes, as it served them; the writer process reads the lists
as they are, with no arrays to build.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import struct
import threading
import time
from pathlib import Path

import numpy as np
import orjson

from modelserve.evaluation import classify
from modelserve.monitoring.log import PredictionLog, Served

log = logging.getLogger(__name__)

_LENGTH = struct.Struct(">I")
SEND_TIMEOUT_SECONDS = 2.0  # a writer that stopped reading makes rows wait, not requests
SOCKET_NAME = "prediction-log.sock"


def encode(batch: list[Served]) -> bytes:
    sizes = [len(s.features) for s in batch]
    scores = np.concatenate([s.probabilities.reshape(-1) for s in batch])
    classes = classify(scores, np.repeat([s.threshold for s in batch], sizes))
    requests, start = [], 0
    for s, size in zip(batch, sizes, strict=True):
        end = start + size
        requests.append(
            [
                s.request_id,
                s.route,
                s.model,
                s.version,
                s.at,
                s.threshold,
                s.features,
                scores[start:end],
                classes[start:end],
            ]  # fmt: skip
        )
        start = end
    body = orjson.dumps(requests, option=orjson.OPT_SERIALIZE_NUMPY)
    return _LENGTH.pack(len(body)) + body


def decode(body: bytes) -> list[Served]:
    return [
        Served(request_id, route, model, version, at, features, probabilities, threshold, classes)
        for request_id, route, model, version, at, threshold, features, probabilities, classes in (
            orjson.loads(body)
        )
    ]


class ShipSink:
    """A web process's way to the log writer process: one connection per process."""

    def __init__(self, path: Path):
        self.path = path
        self._socket: socket.socket | None = None
        self._pid: int | None = None

    def write(self, batch: list[Served]) -> None:
        frame = encode(batch)
        try:
            self._connected().sendall(frame)
        except OSError:
            self._drop_connection()  # part of a frame may be gone: the writer discards it
            raise

    def prune(self, older_than) -> None:
        """The writer process deletes old rows."""

    def _connected(self) -> socket.socket:
        if self._socket is None or self._pid != os.getpid():
            connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            connection.settimeout(SEND_TIMEOUT_SECONDS)
            try:
                connection.connect(str(self.path))
            except OSError:
                connection.close()
                raise
            self._socket, self._pid = connection, os.getpid()
        return self._socket

    def _drop_connection(self) -> None:
        if self._socket is not None and self._pid == os.getpid():
            self._socket.close()
        self._socket = None


class Receiver:
    """The writer process's side: reads frames from every web process into ``log``."""

    READERS_STOP_SECONDS = 5.0

    def __init__(self, path: Path, log_: PredictionLog):
        self.path = path
        self.log = log_
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
        with connection, connection.makefile("rb") as stream:
            while header := stream.read(_LENGTH.size):
                if len(header) < _LENGTH.size:
                    return
                (length,) = _LENGTH.unpack(header)
                body = stream.read(length)
                if len(body) < length:
                    return  # the sender failed mid-frame and sends it again
                for served in decode(body):
                    self.log.accept(served)

    def close(self) -> None:
        """Take no more connections; read what the web processes sent before they closed
        theirs (they have stopped by now)."""
        self.listener.close()
        deadline = time.monotonic() + self.READERS_STOP_SECONDS
        for reader in self._readers:
            reader.join(max(0.0, deadline - time.monotonic()))


def run_writer(settings, path: Path) -> None:
    """The log writer process: receive rows until SIGTERM, then write what is pending."""
    from prometheus_client import Counter

    from modelserve.errors import DatabaseUnavailable
    from modelserve.logs import configure_logging
    from modelserve.monitoring.database import Database, database_url
    from modelserve.monitoring.log import ROWS_METRIC, DatabaseSink

    configure_logging(settings.log_level)
    counter = Counter(*ROWS_METRIC, ["outcome"])  # its samples join the web processes'
    database = Database(database_url(settings))
    try:
        database.engine()  # connected and migrated now, not in the middle of serving
    except DatabaseUnavailable as exc:
        log.warning("prediction log: %s; rows wait until it is back", exc.local_message())
    writer = PredictionLog(
        DatabaseSink(database),
        capacity_rows=settings.prediction_log_queue_rows,
        retention=settings.prediction_log_retention,
        count=lambda outcome, rows: counter.labels(outcome).inc(rows),
    )
    receiver = Receiver(path, writer)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the terminal's ^C is the server's to handle
    threading.Thread(target=receiver.serve_forever, name="log-receiver", daemon=True).start()
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
