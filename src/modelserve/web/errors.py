"""Every error, mapped once to an HTTP status: JSON for the APIs, HTML for the pages."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from modelserve import errors
from modelserve.web.json_provider import json_body
from modelserve.web.observability import request_id

log = logging.getLogger(__name__)

STATUS = {
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.InvalidInput: 400,
    errors.ModelNotFound: 404,
    errors.StoreConflict: 409,
    errors.InvalidBundle: 503,
    errors.BundleFetchFailed: 503,
    errors.BackendUnavailable: 503,
    errors.BackendFailed: 502,
    errors.BackendTimeout: 504,
}
RETRY_AFTER_SECONDS = 5
JSON_PREFIXES = ("/v1/", "/v2", "/openapi.json", "/metrics", "/healthz", "/readyz")


def init_app(app: Flask) -> None:
    app.register_error_handler(errors.ModelserveError, _modelserve_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected)


def status_of(error: errors.ModelserveError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def describe(error: Exception, rid: str | None) -> tuple[int, str, str | None]:
    """The status, message and field an error is answered with; logs what needs a look."""
    if isinstance(error, errors.ModelserveError):
        status = status_of(error)
        if status >= 500:
            log.warning("request %s failed: %s", rid, error)
        return status, str(error), getattr(error, "field", None)
    log.error("request %s failed unexpectedly", rid, exc_info=error)
    return 500, "internal error; the server log has the details", None


def json_error(status: int, message: str, field: str | None = None) -> tuple[bytes, dict]:
    """An API error's body and its headers beyond Content-Type."""
    document = {"error": message}
    if field:
        document["field"] = field
    return json_body(document), _error_headers(status)


def error_response(status: int, message: str, field: str | None = None) -> Response:
    if wants_json():
        body, headers = json_error(status, message, field)
        return Response(body, status, headers, mimetype="application/json")
    page = render_template("error.html", status=status, message=message)
    return Response(page, status, _error_headers(status), mimetype="text/html")


def _error_headers(status: int) -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else {}


def wants_json() -> bool:
    # Without the pages there is no HTML layout to answer in.
    return request.path.startswith(JSON_PREFIXES) or "pages" not in current_app.blueprints


def _modelserve_error(error: errors.ModelserveError) -> Response:
    return error_response(*describe(error, request_id()))


def _csrf_error(error: CSRFError) -> Response:
    return error_response(
        400, f"the form expired or was not sent by this site ({error.description})"
    )


def _http_error(error: HTTPException) -> Response:
    field = None
    message = error.description or error.name
    if error.code == 413:
        field = "body"
        message = f"the request body exceeds the limit of {request.max_content_length} bytes"
        _drain_body()
    response = error_response(error.code or 500, message, field)
    if error.code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def _drain_body(most: int = 64 * 1024 * 1024) -> None:
    """Read (and drop) a refused body, so the client, still sending, receives the 413
    instead of a reset connection. Bodies beyond ``most`` are cut off regardless."""
    remaining = min(request.content_length or 0, most)
    stream = request.environ["wsgi.input"]
    while remaining > 0:
        chunk = stream.read(min(remaining, 65536))
        if not chunk:
            break
        remaining -= len(chunk)


def _unexpected(error: Exception) -> Response:
    return error_response(*describe(error, request_id()))
