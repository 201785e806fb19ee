"""``modelserve serve``: the web application under granian (a Rust HTTP server, WSGI).

Granian parses HTTP and holds connections in Rust, so a client that sends its request slowly
costs a connection, not a Python thread; a request reaches Python once its headers are in.
Its WSGI threads (``blocking_threads`` per process) run the application; in Celery mode many
of them wait on workers at once.

The listening sockets are made here, before the server processes start, so a client that
connects while they load waits in the socket's queue instead of being refused: one socket per
process on a port (``SO_REUSEPORT``: the kernel spreads new connections evenly, where on one
shared socket a process can end up with every keep-alive client), or the one inherited socket
of ``--bind-fd`` (socket activation), whose queue outlives a restart.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import os
import secrets
import shutil
import socket
import tempfile
from functools import partial
from pathlib import Path

from granian._granian import SocketHolder
from granian.constants import Interfaces
from granian.http import HTTP1Settings
from granian.server import MPServer
from pydantic import SecretStr

from modelserve.errors import ModelserveError
from modelserve.settings import Settings

BACKLOG = 1024
HEADER_READ_TIMEOUT_MS = 10_000  # a client still sending its headers after this is cut off
# Python threads per process that may run requests at once. Embedded mode needs few (the GIL),
# but each request whose body still arrives holds one, so there are plenty.
BLOCKING_THREADS = 256
DEFER_ACCEPT_SECONDS = 10
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
log = logging.getLogger("modelserve.web.server")


class _Server(MPServer):
    """granian's process manager, serving on sockets made (or inherited) before it starts.

    It relies on two of granian's internals (pinned in pyproject.toml): how a worker is given
    the socket it serves (``_shd``/``_sso``) and where the server would otherwise make its own
    (``_init_shared_socket``).
    """

    def __init__(self, listeners: list[socket.socket], **options):
        super().__init__("modelserve.web.app:create_app", **options)
        self._listeners = listeners

    def _init_shared_socket(self) -> None:
        self._ssp = None

    def _spawn_worker(self, idx, target, callback_loader):
        listener = self._listeners[idx % len(self._listeners)]
        self._sso = listener
        self._shd = SocketHolder(listener.fileno(), listener.family == socket.AF_UNIX, BACKLOG)
        return super()._spawn_worker(idx, target, callback_loader)

    def _drop_shared_socket(self) -> None:
        for listener in self._listeners:
            listener.close()
        self._sso = None


def run(settings: Settings, bind_fd: int | None = None) -> None:
    """Serve until stopped. Prepares what every server process must share, then forks."""
    from modelserve.logs import configure_logging

    # The main process writes to the same stream as the server processes: its lines (and
    # granian's, which go through logging) are JSON lines like theirs.
    configure_logging(settings.log_level)
    if settings.secret_key is None:
        # One key for all processes, so a form rendered by one validates in another.
        settings = settings.model_copy(update={"secret_key": SecretStr(secrets.token_hex(32))})
    if bind_fd is not None:
        listeners = [socket.socket(fileno=bind_fd)]
    else:
        listeners = [listen(settings.host, settings.port) for _ in range(settings.web_workers)]
    for listener in (s for s in listeners if s.family != socket.AF_UNIX):
        # A connection is accepted once its request has begun to arrive. A server process
        # that stops closes the connections it holds that carry no request yet; without this,
        # a client whose bytes were still in flight at that moment lost its request.
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, DEFER_ACCEPT_SECONDS)
    metrics_dir = tempfile.mkdtemp(prefix="modelserve-metrics-")
    # prometheus_client reads this when first imported, which must happen after this line.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    log_writer = None
    if settings.prediction_log:
        from modelserve.monitoring.shipping import WriterProcess

        log_writer = WriterProcess(settings, Path(metrics_dir))
        log_writer.start()
    bound = listeners[0].getsockname()
    host, port = (bound[:2]) if isinstance(bound, tuple) else ("127.0.0.1", 0)
    server = _Server(
        listeners,
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        workers=settings.web_workers,
        blocking_threads=settings.web_threads or BLOCKING_THREADS,
        backlog=BACKLOG,
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_READ_TIMEOUT_MS),
        log_level=settings.log_level.lower(),
        log_dictconfig=_log_config(settings.log_level),
        respawn_failed_workers=True,
        workers_kill_timeout=int(settings.request_timeout) + 5,
    )
    mode = "celery" if settings.broker_url else "embedded"
    url = f"http://{_address(listeners[0])}/"
    log.info(
        "serving %s (%s mode) on %s", settings.model, mode, url, extra={"url": url, "mode": mode}
    )
    try:
        log_socket = log_writer.path if log_writer is not None else None
        server.serve(target_loader=partial(_load, settings, _address(listeners[0]), log_socket))
    finally:
        if log_writer is not None:
            log_writer.stop()  # after the server processes: it writes what they sent last
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _load(settings: Settings, address: str, log_socket: Path | None, target: str):
    """Runs in each server process: the application, and what the process serves beside it."""
    from modelserve.logs import configure_logging

    configure_logging(settings.log_level)
    try:
        return _start(settings, address, log_socket)
    except Exception:
        # Raised, it would reach multiprocessing, which prints it as plain text among the
        # JSON lines; granian sees the exit status either way and respawns the process.
        log.exception("server process could not start")
        raise SystemExit(1) from None


def _start(settings: Settings, address: str, log_socket: Path | None):
    from multiprocessing.util import Finalize

    from modelserve.logs import access_log
    from modelserve.web.app import create_app

    _return_large_blocks()
    app = create_app(settings, log_socket=log_socket)
    # A server process ends with os._exit, which skips atexit: the last pending metrics and
    # access lines are written by multiprocessing's own exit hook instead.
    Finalize(None, app.services.metrics.flush, exitpriority=10)
    Finalize(None, app.services.canary.flush, exitpriority=10)
    Finalize(None, access_log.flush, exitpriority=10)
    if app.services.predictions is not None:
        Finalize(None, app.services.predictions.close, exitpriority=10)
    if settings.broker_url is not None:
        _serve_bundles(settings)
    # What the process built to serve lives as long as it does: kept out of the collector's
    # reach, a full collection no longer walks it (once per 8 s under load with logging on,
    # 2 to 3 µs a request).
    gc.freeze()
    log.info("serving on http://%s/", address)  # its socket listens: connections wait there
    return app


def _return_large_blocks() -> None:
    """Large blocks (request bodies) go back to the system once freed.

    glibc raises its mmap threshold to the size of each large block freed, up to 32 MB, so
    after one 8 MB body the next ones come from per-thread arenas, which keep them: four
    concurrent 8 MB bodies left 50 MB behind for good. A fixed threshold stops that.
    """
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, 128 * 1024)
    except (OSError, AttributeError):  # not glibc: its allocator makes its own choices
        pass


def _serve_bundles(settings: Settings) -> None:
    """This node's store is the source of truth: worker nodes fetch versions from it."""
    from modelserve.bundles import ModelStore
    from modelserve.distribution.server import BundleServer
    from modelserve.worker.app import create_celery

    BundleServer(create_celery(settings), ModelStore(settings.store), settings.queue).start()


class ChosenThreadCount(logging.Filter):
    """Drops granian's advice to run fewer threads than BLOCKING_THREADS: chosen on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Python threads, which seems quite high" not in record.getMessage()


def _log_config(level: str) -> dict:
    """granian's own log lines as JSON lines, like every other line modelserve writes."""
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "stream": "ext://sys.stderr",
        "filters": ["threads"],
    }
    return {
        "formatters": {"json": {"()": "modelserve.logs.JsonFormatter"}},
        "filters": {"threads": {"()": "modelserve.web.server.ChosenThreadCount"}},
        "handlers": {"console": handler, "access": handler},
        "loggers": {
            "_granian": {"handlers": ["console"], "level": level.upper(), "propagate": False},
            "granian.access": {"handlers": ["access"], "level": "WARNING", "propagate": False},
        },
    }


def listen(host: str, port: int) -> socket.socket:
    """A listening socket that shares its port with the server's other processes."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


def check_address_free(host: str, port: int) -> None:
    """Fail at once, with a clear message, if something already listens there.

    With per-process sockets sharing a port, a second modelserve on the same port would
    otherwise join the first one's share of connections.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT
            probe.bind((host, port))
    except OSError as exc:
        raise ModelserveError(
            f"cannot listen on {address(host, port)}: {exc.strerror or exc}"
        ) from None


def address(host: str, port: int) -> str:
    """``host:port`` as a URL shows it (IPv6 in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _address(listener: socket.socket) -> str:
    bound = listener.getsockname()
    if listener.family == socket.AF_UNIX:
        return f"unix:{bound}"
    return address(*bound[:2])
