from __future__ import annotations

import csv
import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from modelserve.errors import InvalidInput

PIMA_FEATURES = (
    "pregnancies",
    "glucose",
    "blood_pressure",
    "skin_thickness",
    "insulin",
    "bmi",
    "diabetes_pedigree",
    "age",
)


def default_feature_names(n_features: int) -> tuple[str, ...]:
    """Names for a header-less table: the Pima schema when it fits, else x1..xN."""
    if n_features == len(PIMA_FEATURES):
        return PIMA_FEATURES
    return tuple(f"x{i}" for i in range(1, n_features + 1))


@dataclass(frozen=True)
class Dataset:
    features: np.ndarray  # (N, F) float32
    labels: np.ndarray | None  # (N,) int64 of 0/1, or None for an unlabelled table
    feature_names: tuple[str, ...]
    sha256: str
    lines: np.ndarray  # (N,) the 1-based source line of each row, for messages

    def __len__(self) -> int:
        return len(self.features)


def read_csv(
    path: Path,
    *,
    n_features: int | None = None,
    labels: bool | None = None,
    feature_names: Sequence[str] | None = None,
) -> Dataset:
    """Read a CSV file; see :func:`read_csv_text`."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="data") from exc
    return read_csv_bytes(
        raw, source=str(path), n_features=n_features, labels=labels, feature_names=feature_names
    )


def read_csv_bytes(
    raw: bytes,
    *,
    source: str,
    n_features: int | None = None,
    labels: bool | None = None,
    feature_names: Sequence[str] | None = None,
) -> Dataset:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{source}: not UTF-8 text (byte {exc.start})") from exc
    # The digest of the file as stored, so it matches `sha256sum` of the training data.
    return read_csv_text(
        text,
        source=source,
        n_features=n_features,
        labels=labels,
        feature_names=feature_names,
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def read_csv_text(
    text: str,
    *,
    source: str = "input",
    n_features: int | None = None,
    labels: bool | None = None,
    feature_names: Sequence[str] | None = None,
    sha256: str | None = None,
) -> Dataset:
    """Parse a numeric table, with or without a header line and a trailing 0/1 label column.

    ``n_features`` is the model's input width when known: rows may then carry that many fields,
    or one more for the label. Without it (training), the last column is the label. ``labels``
    set to True requires the label column; False forbids it. ``feature_names`` (the model's)
    name columns in error messages when the table has no header.
    """
    rows: list[list[float]] = []
    line_numbers: list[int] = []
    header: list[str] | None = None
    width: int | None = None

    for line_no, fields in _records(text, source):
        if header is None and not rows and _is_header(fields):
            header = [f.strip() for f in fields]
            continue
        if width is None:
            width = _check_width(len(fields), n_features, labels, source, line_no)
        elif len(fields) != width:
            raise InvalidInput(
                f"{source} line {line_no}: expected {width} fields like the first row, "
                f"found {len(fields)}",
                line=line_no,
            )
        rows.append(_parse_fields(fields, source, line_no, header or feature_names))
        line_numbers.append(line_no)

    if not rows:
        raise InvalidInput(f"{source}: no data rows", field="data")

    table = np.asarray(rows, dtype=np.float64)
    n_cols = table.shape[1]
    has_labels = n_features is None or n_cols == n_features + 1
    n_feat = n_cols - 1 if has_labels else n_cols
    if has_labels:
        label_col = table[:, -1]
        bad = np.flatnonzero((label_col != 0) & (label_col != 1))
        if bad.size:
            i = int(bad[0])
            raise InvalidInput(
                f"{source} line {line_numbers[i]}, column {n_cols} (label): "
                f"label must be 0 or 1, found {label_col[i]:g}",
                field="label",
                line=line_numbers[i],
            )
    if header:
        names = tuple(header[:n_feat])
    elif feature_names and len(feature_names) == n_feat:
        names = tuple(feature_names)
    else:
        names = default_feature_names(n_feat)
    return Dataset(
        features=np.ascontiguousarray(table[:, :n_feat], dtype=np.float32),
        labels=table[:, -1].astype(np.int64) if has_labels else None,
        feature_names=names,
        sha256=sha256 or hashlib.sha256(text.encode()).hexdigest(),
        lines=np.asarray(line_numbers),
    )


def parse_row(
    text: str, n_features: int, *, source: str = "row", feature_names: Sequence[str] | None = None
) -> np.ndarray:
    """Parse one comma-separated row of exactly ``n_features`` numbers into a (1, F) array."""
    records = list(_records(text, source))
    if len(records) != 1:
        raise InvalidInput(f"{source}: expected one line of {n_features} numbers", field=source)
    _, fields = records[0]
    if len(fields) != n_features:
        raise InvalidInput(
            f"{source}: expected {n_features} numbers, found {len(fields)}", field=source
        )
    return np.asarray([_parse_fields(fields, source, None, feature_names)], dtype=np.float32)


def _records(text: str, source: str = "the CSV"):
    reader = csv.reader(text.splitlines())
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field longer than the csv module's limit
            line = reader.line_num
            raise InvalidInput(f"{source} line {line}: {exc}", line=line) from None
        if fields and any(f.strip() for f in fields):
            yield reader.line_num, fields


def _is_header(fields: list[str]) -> bool:
    # A header is a line where no field is a number; one typo in a data row does not qualify.
    return all(not _looks_numeric(f) for f in fields)


def _looks_numeric(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _check_width(
    n_fields: int, n_features: int | None, labels: bool | None, source: str, line_no: int
) -> int:
    if n_features is None:
        if n_fields < 2:
            raise InvalidInput(
                f"{source} line {line_no}: expected feature columns and a label column, "
                f"found {n_fields} field",
                line=line_no,
            )
        return n_fields
    allowed = {False: [n_features], True: [n_features + 1], None: [n_features, n_features + 1]}
    if n_fields not in allowed[labels]:
        expected = {
            False: f"{n_features} fields",
            True: f"{n_features + 1} fields ({n_features} features and the label)",
            None: f"{n_features} fields, or {n_features + 1} with the label",
        }[labels]
        raise InvalidInput(
            f"{source} line {line_no}: expected {expected}, found {n_fields}", line=line_no
        )
    return n_fields


FLOAT32_MAX = float(np.finfo(np.float32).max)


def _parse_fields(
    fields: list[str], source: str, line_no: int | None, names: Sequence[str] | None
) -> list[float]:
    values = []
    for col, field in enumerate(fields, start=1):
        try:
            value = float(field)
        except ValueError:
            value = None
        # Beyond float32's range a value becomes infinite once the model reads it.
        if value is None or not math.isfinite(value) or abs(value) > FLOAT32_MAX:
            where = f"line {line_no}, " if line_no is not None else ""
            name = names[col - 1] if names and col <= len(names) else None
            if name is None and names and col == len(names) + 1:
                name = "label"
            if value is None:
                problem = "is not a number"
            elif math.isfinite(value):
                problem = "is too large for float32"
            else:
                problem = "is not a finite number"
            raise InvalidInput(
                f"{source} {where}column {col}{f' ({name})' if name else ''}: "
                f"{field.strip()!r} {problem}",
                field=name or f"column {col}",
                line=line_no,
            )
        values.append(value)
    return values
