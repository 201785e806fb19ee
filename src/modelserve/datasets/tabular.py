from __future__ import annotations

import csv
import difflib
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

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


ExtraColumns = Literal["ignore", "refuse"]
LABEL = "label"


@dataclass(frozen=True)
class Dataset:
    features: np.ndarray  # (N, F) float32, in the model's feature order
    labels: np.ndarray | None  # (N,) int64 of 0/1, or None for an unlabelled table
    feature_names: tuple[str, ...]
    sha256: str
    lines: np.ndarray  # (N,) the 1-based source line of each row, for messages
    # Header names of the columns the model does not read, in file order.
    ignored_columns: tuple[str, ...] = ()
    # The header's name of the label column; None without a header or a label.
    label_column: str | None = None

    def __len__(self) -> int:
        return len(self.features)


def read_csv(
    path: Path,
    *,
    n_features: int | None = None,
    labels: bool | None = None,
    feature_names: Sequence[str] | None = None,
    label_column: str | None = None,
    extra_columns: ExtraColumns = "ignore",
) -> Dataset:
    """Read a CSV file; see :func:`read_csv_text`."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="data") from exc
    return read_csv_bytes(
        raw,
        source=str(path),
        n_features=n_features,
        labels=labels,
        feature_names=feature_names,
        label_column=label_column,
        extra_columns=extra_columns,
    )


def read_csv_bytes(
    raw: bytes,
    *,
    source: str,
    n_features: int | None = None,
    labels: bool | None = None,
    feature_names: Sequence[str] | None = None,
    label_column: str | None = None,
    extra_columns: ExtraColumns = "ignore",
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
        label_column=label_column,
        extra_columns=extra_columns,
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def read_csv_text(
    text: str,
    *,
    source: str = "input",
    n_features: int | None = None,
    labels: bool | None = None,
    feature_names: Sequence[str] | None = None,
    label_column: str | None = None,
    extra_columns: ExtraColumns = "ignore",
    sha256: str | None = None,
) -> Dataset:
    """Parse a numeric table, with or without a header line and a 0/1 label column.

    ``labels`` set to True requires the label column; False forbids it; None takes it if there.

    With a header and the model's ``feature_names``, columns are found by name in any order
    (exactly, else ignoring case and treating spaces, ``-`` and ``_`` alike) and the features
    come out in the model's order. The label is the column named ``label_column`` (the name
    the model's training data gave it; default ``label``), never a column guessed at: a
    spare 0/1 column is not taken for the true class. Other columns are ignored and listed in
    ``ignored_columns``, or refused with ``extra_columns="refuse"``.

    Without a header, columns are taken by position: ``n_features`` is the model's input width
    when known, and rows may carry that many fields or one more for the label. Without
    ``feature_names`` (training), the header, if any, names the features and the label is the
    column named ``label_column``/``label``, else the last one.
    """
    if extra_columns not in ("ignore", "refuse"):
        raise ValueError(f"extra_columns must be 'ignore' or 'refuse', not {extra_columns!r}")
    records = list(_records(text, source))
    header: list[str] | None = None
    if records and _is_header(records[0][1]):
        header = [f.strip() for f in records[0][1]]
        _refuse_duplicates(header, source, records[0][0])
        records = records[1:]
    digest = sha256 or hashlib.sha256(text.encode()).hexdigest()
    if header is not None and feature_names:
        return _read_by_name(
            records,
            header,
            source=source,
            feature_names=tuple(feature_names),
            labels=labels,
            label_column=label_column,
            extra_columns=extra_columns,
            sha256=digest,
        )
    return _read_by_position(
        records,
        header,
        source=source,
        n_features=n_features,
        labels=labels,
        feature_names=feature_names,
        label_column=label_column,
        sha256=digest,
    )


def _read_by_position(
    records: list[tuple[int, list[str]]],
    header: list[str] | None,
    *,
    source: str,
    n_features: int | None,
    labels: bool | None,
    feature_names: Sequence[str] | None,
    label_column: str | None,
    sha256: str,
) -> Dataset:
    rows: list[list[float]] = []
    line_numbers: list[int] = []
    width: int | None = None
    for line_no, fields in records:
        if width is None:
            width = _check_width(len(fields), n_features, labels, source, line_no)
            if header is not None and width != len(header):
                raise InvalidInput(
                    f"{source} line {line_no}: expected {len(header)} fields like the header, "
                    f"found {width}",
                    line=line_no,
                )
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
    label_at: int | None = None
    if has_labels:
        named = _find_label(header, label_column, taken=set()) if header else None
        if named is None and header and label_column is not None:
            raise _no_label_column(source, label_column)
        label_at = n_cols - 1 if named is None else named
        _check_labels(table[:, label_at], line_numbers, source, label_at, header)
    feature_cols = [c for c in range(n_cols) if c != label_at]
    if header:
        names = tuple(header[c] for c in feature_cols)
    elif feature_names and len(feature_names) == len(feature_cols):
        names = tuple(feature_names)
    else:
        names = default_feature_names(len(feature_cols))
    return Dataset(
        features=np.ascontiguousarray(table[:, feature_cols], dtype=np.float32),
        labels=table[:, label_at].astype(np.int64) if label_at is not None else None,
        feature_names=names,
        sha256=sha256,
        lines=np.asarray(line_numbers),
        label_column=header[label_at] if header and label_at is not None else None,
    )


def _read_by_name(
    records: list[tuple[int, list[str]]],
    header: list[str],
    *,
    source: str,
    feature_names: tuple[str, ...],
    labels: bool | None,
    label_column: str | None,
    extra_columns: ExtraColumns,
    sha256: str,
) -> Dataset:
    feature_cols = _match_features(header, feature_names, source)
    taken = {c for c in feature_cols if c is not None}
    label_at = _find_label(header, label_column, taken) if labels is not False else None
    if label_at is not None:
        taken.add(label_at)
    missing = [name for name, col in zip(feature_names, feature_cols, strict=True) if col is None]
    if missing:
        raise _missing_columns(source, missing, feature_names, header, taken)
    if labels is True and label_at is None:
        rest = [c for c in range(len(header)) if c not in taken]
        others = f" (other columns: {', '.join(_show(header, c) for c in rest)})" if rest else ""
        wanted = label_column or LABEL
        raise InvalidInput(f"{source}: no label column named {wanted!r}{others}", field=LABEL)
    if extra_columns == "refuse":
        _refuse_extra(source, header, taken, feature_names)

    used = [c for c in feature_cols if c is not None]
    if label_at is not None:
        used.append(label_at)
    rows: list[list[float]] = []
    line_numbers: list[int] = []
    for line_no, fields in records:
        if len(fields) != len(header):
            raise InvalidInput(
                f"{source} line {line_no}: expected {len(header)} fields like the header, "
                f"found {len(fields)}",
                line=line_no,
            )
        rows.append(_parse_fields(fields, source, line_no, header, columns=used))
        line_numbers.append(line_no)
    if not rows:
        raise InvalidInput(f"{source}: no data rows", field="data")

    table = np.asarray(rows, dtype=np.float64)
    label_values: np.ndarray | None = None
    if label_at is not None:
        label_values = table[:, -1]
        _check_labels(label_values, line_numbers, source, label_at, header)
    return Dataset(
        features=np.ascontiguousarray(table[:, : len(feature_names)], dtype=np.float32),
        labels=None if label_values is None else label_values.astype(np.int64),
        feature_names=feature_names,
        sha256=sha256,
        lines=np.asarray(line_numbers),
        ignored_columns=tuple(_show(header, c) for c in range(len(header)) if c not in taken),
        label_column=header[label_at] if label_at is not None else None,
    )


def _refuse_extra(
    source: str, header: list[str], taken: set[int | None], feature_names: tuple[str, ...]
) -> None:
    extra = [_show(header, c) for c in range(len(header)) if c not in taken]
    if extra:
        raise InvalidInput(
            f"{source}: columns not used by the model: {', '.join(extra)}; "
            f"the model's features are {', '.join(feature_names)}",
            field=extra[0],
        )


def _key(name: str) -> str:
    """A column name as matched loosely: any case, spaces, ``-`` and ``_`` alike."""
    return re.sub(r"[\s_-]+", "_", name.strip().casefold()).strip("_")


def _match_features(
    header: list[str], feature_names: tuple[str, ...], source: str
) -> list[int | None]:
    """The header column of each feature, or None; exact names first, then loose ones."""
    exact = {name: col for col, name in enumerate(header)}
    cols: list[int | None] = [exact.get(name.strip()) for name in feature_names]
    taken = {c for c in cols if c is not None}
    for i, name in enumerate(feature_names):
        if cols[i] is not None:
            continue
        loose = [c for c, h in enumerate(header) if c not in taken and _key(h) == _key(name)]
        if len(loose) > 1:
            listed = ", ".join(repr(header[c]) for c in loose)
            raise InvalidInput(
                f"{source}: columns {listed} could each be the feature {name!r}: rename all "
                f"but one",
                field=name,
            )
        if loose:
            cols[i] = loose[0]
            taken.add(loose[0])
    return cols


def _find_label(header: list[str], label_column: str | None, taken: set[int]) -> int | None:
    wanted = (label_column or LABEL).strip()
    free = [c for c in range(len(header)) if c not in taken]
    for c in free:
        if header[c] == wanted:
            return c
    loose = [c for c in free if _key(header[c]) == _key(wanted)]
    return loose[0] if len(loose) == 1 else None


def _no_label_column(source: str, label_column: str) -> InvalidInput:
    return InvalidInput(f"{source}: no label column named {label_column!r}", field=LABEL)


def _missing_columns(
    source: str,
    missing: list[str],
    feature_names: tuple[str, ...],
    header: list[str],
    taken: set[int],
) -> InvalidInput:
    unused = {_key(header[c]): header[c] for c in range(len(header)) if c not in taken}
    described = []
    for name in missing:
        close = difflib.get_close_matches(_key(name), list(unused), n=1)
        described.append(f"{name} (did you mean {unused[close[0]]!r}?)" if close else name)
    return InvalidInput(
        f"{source}: missing columns: {', '.join(described)}; "
        f"the model's features are {', '.join(feature_names)}",
        field=missing[0],
    )


def _refuse_duplicates(header: list[str], source: str, line_no: int) -> None:
    seen: set[str] = set()
    for col, name in enumerate(header, start=1):
        if not name:
            # An unnamed column (a spreadsheet's index, say) could not be found again by name.
            raise InvalidInput(
                f"{source} line {line_no}, column {col}: the column has no name in the header",
                field=f"column {col}",
                line=line_no,
            )
        if name in seen:
            raise InvalidInput(
                f"{source} line {line_no}, column {col}: the column name {name!r} appears twice",
                field=name,
                line=line_no,
            )
        seen.add(name)


def _show(header: list[str], col: int) -> str:
    return header[col] or f"column {col + 1}"


def _check_labels(
    values: np.ndarray,
    line_numbers: list[int],
    source: str,
    col: int,
    header: list[str] | None,
) -> None:
    bad = np.flatnonzero((values != 0) & (values != 1))
    if bad.size:
        i = int(bad[0])
        name = header[col] if header and header[col] else LABEL
        raise InvalidInput(
            f"{source} line {line_numbers[i]}, column {col + 1} ({name}): "
            f"label must be 0 or 1, found {values[i]:g}",
            field=LABEL,
            line=line_numbers[i],
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
    return all(_number(f) is None for f in fields)


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


def _number(field: str) -> float | None:
    try:
        return float(field)
    except ValueError:
        return None


def _parse_fields(
    fields: list[str],
    source: str,
    line_no: int | None,
    names: Sequence[str] | None,
    *,
    columns: Sequence[int] | None = None,
) -> list[float]:
    """The numbers of ``columns`` (0-based; default all) of one row, in that order."""
    values = []
    for index in range(len(fields)) if columns is None else columns:
        col, field = index + 1, fields[index]
        value = _number(field)
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
