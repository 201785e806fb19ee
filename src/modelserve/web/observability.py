"""Request ids, one structured log line per request, and request metrics."""

from __future__ import annotations

import itertools
import os
import re
import threading
import time
import uuid

from flask import Flask, Response, g, request

from modelserve.execution import Prediction
from modelserve.logs import access_log

REQUEST_ID_HEADER = "X-Request-ID"
MODEL_VERSION_HEADER = "X-Model-Version"
MODEL_NAME_HEADER = "X-Model-Name"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)


def record_prediction(prediction: Prediction, rows: int) -> None:
    """Called by every handler that ran a model: headers, log fields and metrics follow."""
    from modelserve.web.app import services

    g.model = prediction.model
    g.model_version = prediction.version
    g.rows = rows
    services().metrics.observe_prediction(prediction, rows)


def note_model(name: str, version: int) -> None:
    """For responses about a model without a prediction (metadata, status pages)."""
    g.model = name
    g.model_version = version


class _RequestIds:
    """Unique ids without a random draw per request: a random prefix per process (drawn again
    after a fork), then a counter."""

    def __init__(self) -> None:
        self._pid: int | None = None
        self._lock = threading.Lock()

    def __call__(self) -> str:
        if self._pid != os.getpid():
            with self._lock:  # the first requests of a process may race to draw the prefix
                if self._pid != os.getpid():
                    self._ids = (uuid.uuid4().hex[:16], itertools.count())
                    self._pid = os.getpid()
        prefix, counter = self._ids
        return f"{prefix}{next(counter):016x}"


_new_request_id = _RequestIds()


def _start() -> None:
    g.started = time.perf_counter()
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _VALID_REQUEST_ID.match(incoming) else _new_request_id()


def _finish(response: Response) -> Response:
    from modelserve.web.app import services

    # Plain objects, not the context-local proxies: this runs for every request.
    state, req = g._get_current_object(), request._get_current_object()
    elapsed = time.perf_counter() - getattr(state, "started", time.perf_counter())
    request_id = getattr(state, "request_id", "")
    model, version = getattr(state, "model", None), getattr(state, "model_version", None)
    headers = response.headers
    headers[REQUEST_ID_HEADER] = request_id
    if version is not None:
        headers[MODEL_NAME_HEADER] = model
        headers[MODEL_VERSION_HEADER] = str(version)
    route = req.url_rule.rule if req.url_rule else "unmatched"
    status = response.status_code
    services().metrics.observe_request(route, req.method, status, elapsed)
    access_log.write(
        {
            "request_id": request_id,
            "method": req.method,
            "path": req.path,
            "route": route,
            "status": status,
            "duration_ms": round(elapsed * 1000, 3),
            "model": model,
            "version": version,
            "rows": getattr(state, "rows", None),
            "remote": req.remote_addr,
        }
    )
    return response
