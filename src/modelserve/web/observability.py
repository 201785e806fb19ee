"""Request ids, one structured log line per request, and request metrics."""

from __future__ import annotations

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from modelserve.execution import Prediction

REQUEST_ID_HEADER = "X-Request-ID"
MODEL_VERSION_HEADER = "X-Model-Version"
MODEL_NAME_HEADER = "X-Model-Name"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")

access_log = logging.getLogger("modelserve.access")


def init_app(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)


def record_prediction(prediction: Prediction, rows: int) -> None:
    """Called by every handler that ran a model: headers, log fields and metrics follow."""
    from modelserve.web.app import services

    g.model = prediction.model
    g.model_version = prediction.version
    g.rows = rows
    metrics = services().metrics
    metrics.batch_rows.observe(rows)
    metrics.model_version.labels(prediction.model).set(prediction.version)
    if prediction.queue_wait is not None:
        metrics.queue_wait.observe(prediction.queue_wait)


def note_model(name: str, version: int) -> None:
    """For responses about a model without a prediction (metadata, status pages)."""
    g.model = name
    g.model_version = version


def _start() -> None:
    g.started = time.perf_counter()
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex


def _finish(response: Response) -> Response:
    from modelserve.web.app import services

    elapsed = time.perf_counter() - g.get("started", time.perf_counter())
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "")
    if g.get("model_version") is not None:
        response.headers[MODEL_NAME_HEADER] = g.model
        response.headers[MODEL_VERSION_HEADER] = str(g.model_version)
    route = request.url_rule.rule if request.url_rule else "unmatched"
    metrics = services().metrics
    metrics.requests.labels(route, request.method, str(response.status_code)).inc()
    metrics.latency.labels(route).observe(elapsed)
    access_log.info(
        "request",
        extra={
            "request_id": g.get("request_id"),
            "method": request.method,
            "path": request.path,
            "route": route,
            "status": response.status_code,
            "duration_ms": round(elapsed * 1000, 3),
            "model": g.get("model"),
            "version": g.get("model_version"),
            "rows": g.get("rows"),
            "remote": request.remote_addr,
        },
    )
    return response
