"""Microseconds per request in process: the WSGI application called directly, no network.

    python bench/request_path.py

Times one-row `:predict` requests against the bare limit's WSGI handler and against modelserve's
application (embedded mode, metrics in multiprocess mode as `modelserve serve` runs them),
then modelserve again with the access log and then the metrics switched off, to show what
each costs. Best of 5 rounds of 3,000 calls.

    valgrind --tool=callgrind python bench/request_path.py --calls N {bare,modelserve}

only makes N calls to one application, untimed: the difference between two values of N,
divided by their difference, is the instructions per request, the same on every run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROUNDS, CALLS = 5, 3000
BODY = json.dumps({"instances": [[6, 148, 72, 35, 0, 33.6, 0.627, 50]]}).encode()


def environ() -> dict:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/v1/models/diabetes:predict",
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "5100",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(BODY)),
        "HTTP_HOST": "127.0.0.1:5100",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(BODY),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }


def call(app: Callable) -> None:
    def start_response(status, headers, exc_info=None):
        assert status.startswith("200"), status

    body = app(environ(), start_response)
    b"".join(body)
    getattr(body, "close", lambda: None)()


def per_request_us(app: Callable) -> float:
    """Including the metrics and log lines the requests leave to be written in bulk."""
    from modelserve.logs import access_log

    metrics = getattr(getattr(app, "services", None), "metrics", None)
    for _ in range(500):
        call(app)
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(CALLS):
            call(app)
        if metrics is not None:
            metrics.flush()
        access_log.flush()
        best = min(best, (time.perf_counter() - started) / CALLS)
    return best * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, help="Only call one application this many times")
    parser.add_argument("app", nargs="?", choices=["bare", "modelserve"], default="modelserve")
    args = parser.parse_args()
    # Read by prometheus_client when first imported: set before anything imports it.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="modelserve-metrics-")
    from modelserve import logs
    from modelserve.bundles import ModelStore
    from modelserve.settings import Settings, demo_bundle_path
    from modelserve.web.app import create_app

    os.environ["BENCH_BUNDLE"] = str(demo_bundle_path())
    sys.path.insert(0, str(HERE / "stacks"))
    from bare_wsgi import app as bare

    logs.configure_logging("INFO")
    logs.access_log.stream = open(os.devnull, "w")  # noqa: SIM115 - for the whole run
    store = tempfile.mkdtemp(prefix="modelserve-store-")
    ModelStore(Path(store)).seed(demo_bundle_path(), "diabetes")

    def modelserve(*, metrics: bool = True):
        app = create_app(Settings(store=store))
        if not metrics:
            app.services.metrics.observe = lambda *fields: None
        return app

    def without_access_log():
        logs.access_log.write = lambda fields: None  # last measurement: never restored
        return modelserve()

    if args.calls is not None:
        app = bare if args.app == "bare" else modelserve()
        for _ in range(args.calls):
            call(app)
        if app is not bare:
            app.services.metrics.flush()
        logs.access_log.flush()
        return

    rows = [
        ("bare limit's handler", per_request_us(bare)),
        ("modelserve", per_request_us(modelserve())),
        ("modelserve, no metrics", per_request_us(modelserve(metrics=False))),
        ("modelserve, no access log", per_request_us(without_access_log())),
    ]
    for name, us in rows:
        print(f"{name:28s} {us:7.1f} µs per request")


if __name__ == "__main__":
    main()
