"""Flask's JSON through orjson: the same documents, written in a fraction of the time."""

from __future__ import annotations

import decimal
from datetime import date
from typing import Any

import numpy as np
import orjson
from flask import Response
from flask.json.provider import JSONProvider
from werkzeug.http import http_date

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def _default(value: Any) -> Any:
    """What Flask's own provider writes for types JSON lacks, and NumPy scalars."""
    if isinstance(value, date):
        return http_date(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    if hasattr(value, "__html__"):
        return str(value.__html__())
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def json_body(document: Any) -> bytes:
    """A JSON answer's body, as every route writes it (Flask's views and the prediction lane)."""
    return orjson.dumps(document, default=_default, option=_OPTIONS | orjson.OPT_APPEND_NEWLINE)


class OrjsonProvider(JSONProvider):
    """Keys keep their order (the protocols' field order); responses end with a newline, as
    Flask's own provider writes them."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return orjson.dumps(obj, default=_default, option=_OPTIONS).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        body = json_body(self._prepare_response_obj(args, kwargs))
        return self._app.response_class(body, mimetype="application/json")
