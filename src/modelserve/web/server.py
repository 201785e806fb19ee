"""``modelserve serve``: the Flask app under gunicorn (never Flask's development server)."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile

from gunicorn.app.base import BaseApplication
from pydantic import SecretStr

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


def _when_ready(server) -> None:
    for listener in server.LISTENERS:
        server.log.info("serving on http://%s/", _address(listener))


def _address(listener) -> str:
    host, port = listener.sock.getsockname()[:2]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
