"""``modelserve serve``: the Flask app under gunicorn (never Flask's development server)."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import tempfile

from gunicorn.app.base import BaseApplication
from gunicorn.util import is_ipv6
from pydantic import SecretStr

from modelserve.errors import ModelserveError
from modelserve.settings import Settings


class WebServer(BaseApplication):
    def __init__(self, settings: Settings, bind: str):
        self.settings = settings
        self.bind = bind
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        for key, value in {
            "bind": [self.bind],
            # Each worker listens on a socket of its own and the kernel spreads new
            # connections over them. On one shared socket, the process that wins the accept
            # race keeps a keep-alive client's connection for good, and one worker could end
            # up with every client while the other idles (measured: half the throughput).
            # One worker, or an inherited socket (--bind-fd), keeps the shared socket: its
            # queue outlives a worker's restart, where a worker's own socket takes the
            # connections waiting in it down with it.
            "reuse_port": s.web_workers > 1 and not self.bind.startswith("fd://"),
            "workers": s.web_workers,
            # Threads let one process wait on several Celery answers at once.
            "worker_class": "gthread",
            "threads": s.threads,
            "timeout": int(s.request_timeout) + 30,
            "graceful_timeout": int(s.request_timeout) + 5,
            "accesslog": None,  # the app logs one structured line per request itself
            "errorlog": "-",
            "loglevel": s.log_level.lower(),
            "proc_name": "modelserve-web",
            "child_exit": _child_exit,
            "when_ready": _when_ready,
            "post_worker_init": _worker_started,
            # Several servers may run on one host: no shared control socket in $HOME.
            "control_socket_disable": True,
        }.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def load(self):
        from modelserve.logs import configure_logging
        from modelserve.web.app import create_app

        configure_logging(self.settings.log_level)
        return create_app(self.settings)


def run(settings: Settings, bind: str) -> None:
    """Serve until stopped. Prepares what every worker process must share, then forks."""
    if settings.secret_key is None:
        # One key for all workers, so a form rendered by one validates in another.
        settings = settings.model_copy(update={"secret_key": SecretStr(secrets.token_hex(32))})
    metrics_dir = tempfile.mkdtemp(prefix="modelserve-metrics-")
    # prometheus_client reads this when first imported, which must happen after this line.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        WebServer(settings, bind).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _child_exit(server, worker) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def check_address_free(host: str, port: int) -> None:
    """Fail at once, with a clear message, if something already listens there.

    With per-worker sockets a second modelserve on the same port would otherwise join the
    first one's share of connections, and anything else there makes workers fail to boot.
    """
    family = socket.AF_INET6 if is_ipv6(host) else socket.AF_INET  # as gunicorn decides
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # ignore TIME_WAIT
            probe.bind((host, port))
    except OSError as exc:
        raise ModelserveError(
            f"cannot listen on {address(host, port)}: {exc.strerror or exc}"
        ) from None


def _when_ready(server) -> None:
    for listener in server.LISTENERS:  # a shared socket: listening from now on
        server.log.info("serving on http://%s/", _address(listener))


def _worker_started(worker) -> None:
    settings: Settings = worker.app.settings
    if settings.broker_url is not None:
        _serve_bundles(settings)
    _worker_ready(worker)


def _serve_bundles(settings: Settings) -> None:
    """This node's store is the source of truth: worker nodes fetch versions from it."""
    from modelserve.bundles import ModelStore
    from modelserve.distribution.server import BundleServer
    from modelserve.worker.app import create_celery

    BundleServer(create_celery(settings), ModelStore(settings.store), settings.queue).start()


def _worker_ready(worker) -> None:
    if not (worker.cfg.reuse_port and hasattr(socket, "SO_REUSEPORT")):  # gunicorn's own test
        return
    for listener in worker.sockets:  # a socket of its own: this worker accepts from now on
        worker.log.info("serving on http://%s/", _address(listener))


def address(host: str, port: int) -> str:
    """``host:port`` as gunicorn binds it and a URL shows it (IPv6 in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _address(listener) -> str:
    return address(*listener.sock.getsockname()[:2])
