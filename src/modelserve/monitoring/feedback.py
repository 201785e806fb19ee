"""Feedback: the true class of earlier predictions, named by their request id (and row).

All of one call's labels are attached in one transaction, or none: a label for an unknown
prediction, one given twice, or one for a prediction labelled before refuses the whole call.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime, timezone

import sqlalchemy as sa
from pydantic import ValidationError

from modelserve.errors import AlreadyLabelled, InvalidInput, PredictionNotFound
from modelserve.monitoring.database import Database
from modelserve.monitoring.schema import predictions
from modelserve.protocol.decoding import field_path
from modelserve.protocol.types import MAX_FEEDBACK_LABELS, FeedbackLabel, FeedbackRequest

CSV_COLUMNS = ("request_id", "label", "row")  # row is optional
_LOOKUP_CHUNK = 400  # keys per query: within every database's bound parameters (999 on old SQLite)
_NAMED = 5  # ids an error names before "and N more"


def decode_feedback(body: bytes) -> list[FeedbackLabel]:
    """A JSON feedback body, its errors naming the field (``feedback[3].label``)."""
    try:
        return FeedbackRequest.model_validate_json(body).feedback
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = first["loc"]
        path = field_path(str(loc[0]), loc[1:]) if loc else "body"
        raise InvalidInput(f"{path}: {first['msg']}", field=path) from None


def read_labels_csv(text: str, source: str = "the CSV") -> list[FeedbackLabel]:
    """``request_id,label[,row]`` with that header, one prediction a line."""
    reader = csv.reader(io.StringIO(text))
    header = [name.strip().lower() for name in next(reader, [])]
    missing = [name for name in CSV_COLUMNS[:2] if name not in header]
    if missing:
        raise InvalidInput(
            f"{source} needs a header naming the columns request_id and label (and, for "
            f"requests of several rows, row); missing: {', '.join(missing)}",
            field=missing[0],
            line=1,
        )
    at = {name: header.index(name) for name in CSV_COLUMNS if name in header}
    labels = []
    for line_no, fields in enumerate(reader, start=2):
        if not any(field.strip() for field in fields):
            continue
        if len(labels) == MAX_FEEDBACK_LABELS:
            raise InvalidInput(
                f"{source} has more than {MAX_FEEDBACK_LABELS} labels; send it in parts",
                line=line_no,
            )
        values = {name: _field(fields, index) for name, index in at.items()}
        try:
            labels.append(
                FeedbackLabel(
                    request_id=values["request_id"],
                    label=_integer(values["label"], "label", source, line_no),
                    row=_integer(values.get("row") or "0", "row", source, line_no),
                )
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            name = str(first["loc"][0])
            raise InvalidInput(
                f"{source}, line {line_no}, {name}: {first['msg']}", field=name, line=line_no
            ) from None
    if not labels:
        raise InvalidInput(f"{source} holds no labels", field="label")
    return labels


def attach_labels(database: Database, model: str, labels: Sequence[FeedbackLabel]) -> int:
    """Record each label on its prediction of ``model``; returns how many (all of them)."""
    _refuse_repeats(labels)
    now = datetime.now(timezone.utc)
    with database.transaction() as connection:
        found = _find(connection, model, labels)
        unknown = [i for i, x in enumerate(labels) if _key(x) not in found]
        if unknown:
            raise PredictionNotFound(
                f"no logged prediction of {model} has "
                f"{_list([_describe(labels[i]) for i in unknown])}; a prediction can be "
                "labelled once logged, within a second of its answer",
                field=f"feedback[{unknown[0]}].request_id",
            )
        labelled = [i for i, x in enumerate(labels) if found[_key(x)] is not None]
        if labelled:
            names = [f"{_describe(labels[i])} (label {found[_key(labels[i])]})" for i in labelled]
            raise AlreadyLabelled(
                f"already labelled: {_list(names)}; nothing was recorded",
                field=f"feedback[{labelled[0]}].label",
            )
        connection.execute(
            sa.update(predictions)
            .where(
                predictions.c.request_id == sa.bindparam("named_request"),
                predictions.c.row == sa.bindparam("named_row"),
            )
            .values(label=sa.bindparam("given"), labelled_at=now),
            [{"named_request": x.request_id, "named_row": x.row, "given": x.label} for x in labels],
        )
    return len(labels)


def _find(connection, model: str, labels: Sequence[FeedbackLabel]) -> dict:
    """(request_id, row) -> label (None if unlabelled) of the named predictions of ``model``."""
    found = {}
    keys = [_key(x) for x in labels]
    pair = sa.tuple_(predictions.c.request_id, predictions.c.row)
    for start in range(0, len(keys), _LOOKUP_CHUNK):
        query = sa.select(predictions.c.request_id, predictions.c.row, predictions.c.label).where(
            predictions.c.model == model, pair.in_(keys[start : start + _LOOKUP_CHUNK])
        )
        # Locked until the transaction ends: two calls labelling one prediction at once on
        # PostgreSQL would otherwise both find it unlabelled (SQLite's write lock does this).
        query = query.with_for_update()
        for request_id, row, label in connection.execute(query):
            found[request_id, row] = label
    return found


def _refuse_repeats(labels: Sequence[FeedbackLabel]) -> None:
    seen: dict[tuple[str, int], int] = {}
    for index, label in enumerate(labels):
        first = seen.setdefault(_key(label), index)
        if first != index:
            raise InvalidInput(
                f"feedback[{index}] names {_describe(label)} again (as feedback[{first}] does)",
                field=f"feedback[{index}].request_id",
            )


def _key(label: FeedbackLabel) -> tuple[str, int]:
    return label.request_id, label.row


def _describe(label: FeedbackLabel) -> str:
    return f"request {label.request_id}" + (f" row {label.row}" if label.row else "")


def _list(names: list[str]) -> str:
    shown = ", ".join(names[:_NAMED])
    return shown + (f" and {len(names) - _NAMED} more" if len(names) > _NAMED else "")


def _field(fields: list[str], index: int) -> str:
    return fields[index].strip() if index < len(fields) else ""


def _integer(value: str, name: str, source: str, line_no: int) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidInput(
            f"{source}, line {line_no}, {name}: {value!r} is not a whole number",
            field=name,
            line=line_no,
        ) from None
