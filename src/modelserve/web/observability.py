"""Request ids, one structured log line per request, and request metrics.

A WSGI middleware around everything the server answers (the JSON APIs and the pages): it times
the whole request and costs a few microseconds (metrics and log lines are written in bulk, off
the request's thread). Handlers tell it, through the WSGI environ,
which route answered (:func:`note_route`) and which model (:func:`note_prediction`,
:func:`note_model`).
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import NamedTuple

from modelserve.logs import access_log
from modelserve.protocol.types import REQUEST_ID_PATTERN
from modelserve.runtime import Prediction
from modelserve.web.services import Services

REQUEST_ID_HEADER = "X-Request-ID"
MODEL_VERSION_HEADER = "X-Model-Version"
MODEL_NAME_HEADER = "X-Model-Name"
UNMATCHED = "unmatched"
_VALID_REQUEST_ID = re.compile(REQUEST_ID_PATTERN)
# Keys of the WSGI environ, in the namespace PEP 3333 leaves to applications.
_REQUEST_ID = "modelserve.request_id"
_SERVED = "modelserve.served"
_ROUTE = "modelserve.route"
log = logging.getLogger(__name__)


class _Served(NamedTuple):
    model: str
    version: int
    rows: int | None = None
    prediction: Prediction | None = None
    routed: bool = False  # the server chose the version (current or canary), not the client


def note_route(environ: dict, route: str) -> None:
    """The route that answers, as its rule reads: the label of its metrics and log lines."""
    environ[_ROUTE] = route


def note_prediction(environ: dict, prediction: Prediction, rows: int) -> None:
    """Called by every handler that ran a model: headers, log fields and metrics follow."""
    routed = environ.get(_SERVED, _UNROUTED).routed
    environ[_SERVED] = _Served(prediction.model, prediction.version, rows, prediction, routed)


def note_model(environ: dict, name: str, version: int, routed: bool = False) -> None:
    """The model that answers (a prediction about to run, metadata, a status page);
    ``routed`` if the server chose its version."""
    environ[_SERVED] = _Served(name, version, routed=routed)


_UNROUTED = _Served("", 0)
_NOBODY = (None, None, None, None, False)


def request_id_of(environ: dict) -> str | None:
    return environ.get(_REQUEST_ID)


def _new_request_id() -> str:
    # The time in milliseconds, then 80 random bits (as a UUIDv7 has them). The id is also a
    # prediction's feedback key: the random part keeps it from being guessed from another
    # (a counter would let a client label its neighbours' predictions); the time first makes
    # the prediction log's index on it grow at its end, where random keys touched a page
    # anywhere in it for each row.
    return f"{time.time_ns() // 1_000_000:012x}{os.urandom(10).hex()}"


class RequestObserver:
    """WSGI middleware: gives each request an id, then logs and measures its answer."""

    def __init__(self, wsgi_app, services: Services):
        self.wsgi_app = wsgi_app
        self.metrics = services.metrics
        self.cache = services.cache
        self.canary = services.canary

    def __call__(self, environ: dict, start_response):
        started = time.perf_counter()
        incoming = environ.get("HTTP_X_REQUEST_ID")
        rid = incoming if incoming and _VALID_REQUEST_ID.match(incoming) else _new_request_id()
        environ[_REQUEST_ID] = rid
        status = 500  # unless the application starts a response

        def start_observed(status_line: str, headers: list, exc_info=None):
            nonlocal status
            status = int(status_line[:3])
            headers.append((REQUEST_ID_HEADER, rid))
            served = environ.get(_SERVED)
            if served is not None:
                headers.append((MODEL_NAME_HEADER, served.model))
                headers.append((MODEL_VERSION_HEADER, str(served.version)))
            return start_response(status_line, headers, exc_info)

        try:
            return self.wsgi_app(environ, start_observed)
        finally:
            try:
                self._record(environ, rid, status, time.perf_counter() - started)
            except Exception:  # noqa: BLE001 - a failed log line must not fail the answer
                log.exception("request %s: could not record it", rid)

    def _record(self, environ: dict, rid: str, status: int, elapsed: float) -> None:
        route = environ.get(_ROUTE, UNMATCHED)
        method = environ["REQUEST_METHOD"]
        model, version, rows, prediction, routed = environ.get(_SERVED) or _NOBODY
        self.metrics.observe(route, method, status, elapsed, prediction, rows)
        if routed:  # a prediction whose version the server chose, answered or failed
            canary = self.cache.canary(model)
            if canary is not None:
                self.canary.observe(model, canary, version, status, elapsed)
        access_log.write(
            {
                "request_id": rid,
                "method": method,
                "path": environ.get("PATH_INFO"),
                "route": route,
                "status": status,
                "duration_ms": round(elapsed * 1000, 3),
                "model": model,
                "version": version,
                "rows": rows,
                "remote": environ.get("REMOTE_ADDR"),
            }
        )
