"""Turning JSON values into (N, F) float arrays, with errors that name the offending element."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import TypeAdapter, ValidationError

from modelserve.errors import InvalidInput, PayloadTooLarge
from modelserve.protocol.types import Number, Row

_ROWS = TypeAdapter(list[Row])
_COLUMN = TypeAdapter(list[Number])


def field_path(root: str, loc: tuple[Any, ...]) -> str:
    path = root
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def invalid(root: str, error: ValidationError) -> InvalidInput:
    first = error.errors()[0]
    path = field_path(root, first["loc"])
    return InvalidInput(f"{path}: {first['msg']}", field=path)


def rows_to_array(value: Any, root: str, n_features: int, max_rows: int) -> np.ndarray:
    """A list of rows of numbers into a (N, F) float32 array."""
    if isinstance(value, list) and len(value) > max_rows:
        raise too_many_rows(root, len(value), max_rows)
    try:
        rows = _ROWS.validate_python(value)
    except ValidationError as exc:
        raise invalid(root, exc) from exc
    if not rows:
        raise InvalidInput(f"{root}: the batch is empty", field=root)
    for i, row in enumerate(rows):
        if len(row) != n_features:
            raise InvalidInput(
                f"{root}[{i}]: expected {n_features} values, found {len(row)}", field=f"{root}[{i}]"
            )
    return check_finite(np.asarray(rows, dtype=np.float32), root)


def column_to_array(value: Any, root: str) -> np.ndarray:
    try:
        column = np.asarray(_COLUMN.validate_python(value), dtype=np.float32)
    except ValidationError as exc:
        raise invalid(root, exc) from exc
    return check_finite(column, root)


def check_value_count(document: bytes, n_features: int, max_rows: int) -> None:
    """Refuse, before parsing it, a JSON document that holds more values than ``max_rows`` rows
    could: parsing builds a Python object per value, so eight megabytes of ``[],`` would take
    hundreds. A document holds at most one scalar more than it has commas, and a container per
    opening bracket; counting them costs a scan of the bytes."""
    limit = max_rows * (n_features + 2) + 256  # rows, their separators and the envelope
    values = document.count(b",") + document.count(b"[") + document.count(b"{")
    if values > limit:
        raise PayloadTooLarge(
            f"body: holds more values than {max_rows} rows of {n_features} features "
            f"(the row limit) could; send fewer rows per request",
            field="body",
        )


def too_many_rows(root: str, rows: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"{root}: {rows} rows exceed the limit of {limit}", field=root)


def check_finite(array: np.ndarray, root: str) -> np.ndarray:
    """Refuse NaN and infinity, naming the first one.

    JSON numbers were checked already, but a finite number beyond float32's range (1e39)
    becomes infinite once converted, and binary tensors are never checked before this.
    """
    finite = np.isfinite(array)
    if finite.all():
        return array
    path = root + "".join(f"[{i}]" for i in np.argwhere(~finite)[0])
    raise InvalidInput(
        f"{path}: Input should be a finite number within the float32 range", field=path
    )
