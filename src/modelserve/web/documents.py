"""JSON documents as every route writes them: orjson, keys in their given order, a final
newline."""

from __future__ import annotations

import decimal
from datetime import date
from typing import Any

import numpy as np
import orjson
from werkzeug.http import http_date

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_APPEND_NEWLINE


def _default(value: Any) -> Any:
    """Types JSON lacks, written as Flask writes them, and NumPy scalars."""
    if isinstance(value, date):
        return http_date(value)
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def json_body(document: Any) -> bytes:
    return orjson.dumps(document, default=_default, option=_OPTIONS)
