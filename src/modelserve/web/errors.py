"""Every error mapped once to an HTTP status; the JSON APIs and the pages both answer with it."""

from __future__ import annotations

import logging

from modelserve import errors
from modelserve.web.documents import json_body

log = logging.getLogger(__name__)

STATUS = {
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.PayloadTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.PredictionNotFound: 404,
    errors.AlreadyLabelled: 409,
    errors.InvalidInput: 400,
    errors.ModelNotFound: 404,
    errors.StoreConflict: 409,
    errors.InvalidBundle: 503,
    errors.BundleFetchFailed: 503,
    errors.BackendUnavailable: 503,
    errors.DatabaseUnavailable: 503,
    errors.BackendFailed: 502,
    errors.BackendTimeout: 504,
}
RETRY_AFTER_SECONDS = 5


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


def json_error(message: str, field: str | None = None) -> bytes:
    document = {"error": message}
    if field:
        document["field"] = field
    return json_body(document)


def error_headers(status: int) -> tuple[tuple[str, str], ...]:
    """Headers an error answer carries besides its Content-Type."""
    if status == 503:
        return (("Retry-After", str(RETRY_AFTER_SECONDS)),)
    if status == 401:
        return (("WWW-Authenticate", 'Bearer realm="modelserve"'),)
    return ()
