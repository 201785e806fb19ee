"""Feedback on both databases: all labels of a call recorded, or none, with clear refusals."""

from __future__ import annotations

import numpy as np
import pytest
import sqlalchemy as sa

from modelserve.errors import AlreadyLabelled, InvalidInput, PredictionNotFound
from modelserve.monitoring.feedback import attach_labels, decode_feedback, read_labels_csv
from modelserve.monitoring.log import DatabaseSink, PredictionLog
from modelserve.monitoring.schema import predictions
from modelserve.protocol.types import FeedbackLabel


@pytest.fixture
def logged(database):
    log = PredictionLog(DatabaseSink(database))
    rows = np.zeros((1, 8), dtype=np.float32)
    for i in range(4):
        log.record(f"one-{i}", "v1", "diabetes", 1, rows, np.array([[0.9]]), 0.5)
    log.record("three", "v2", "diabetes", 1, np.zeros((3, 8), np.float32), np.zeros((3, 1)), 0.5)
    log.record("other-model", "v2", "cancer", 1, rows, np.array([[0.1]]), 0.5)
    assert log.flush()
    return database


def _labels(database) -> dict:
    with database.reading() as connection:
        found = connection.execute(
            sa.select(predictions.c.request_id, predictions.c.row, predictions.c.label)
        ).all()
    return {(r, row): label for r, row, label in found}


def test_labels_attach_by_request_id_and_row(logged):
    given = [
        FeedbackLabel(request_id="one-0", label=1),
        FeedbackLabel(request_id="three", row=2, label=0),
    ]
    assert attach_labels(logged, "diabetes", given) == 2
    labels = _labels(logged)
    assert labels[("one-0", 0)] == 1
    assert labels[("three", 2)] == 0
    assert labels[("three", 0)] is None


@pytest.mark.parametrize(
    ("given", "error", "field"),
    [
        ([("one-1", 0, 1), ("nobody", 0, 1)], PredictionNotFound, "feedback[1].request_id"),
        ([("one-1", 0, 1), ("three", 5, 1)], PredictionNotFound, "feedback[1].request_id"),
        ([("one-1", 0, 1), ("other-model", 0, 1)], PredictionNotFound, "feedback[1].request_id"),
        ([("one-1", 0, 1), ("one-1", 0, 0)], InvalidInput, "feedback[1].request_id"),
        ([("one-1", 0, 1), ("one-0", 0, 0)], AlreadyLabelled, "feedback[1].label"),
    ],
    ids=["unknown", "unknown-row", "other-model", "repeated", "labelled-before"],
)
def test_a_refused_call_records_nothing(logged, given, error, field):
    attach_labels(logged, "diabetes", [FeedbackLabel(request_id="one-0", label=1)])
    before = _labels(logged)
    labels = [FeedbackLabel(request_id=r, row=row, label=label) for r, row, label in given]
    with pytest.raises(error) as refused:
        attach_labels(logged, "diabetes", labels)
    assert refused.value.field == field
    assert _labels(logged) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"feedback": [{"request_id": "a", "label": 2}]}', "feedback[0].label"),
        (b'{"feedback": [{"request_id": "a", "label": true}]}', "feedback[0].label"),
        (b'{"feedback": [{"request_id": "a b", "label": 1}]}', "feedback[0].request_id"),
        (b'{"feedback": [{"request_id": "a", "label": 1, "x": 1}]}', "feedback[0].x"),
        (b'{"feedback": []}', "feedback"),
        (b'{"labels": []}', "feedback"),
        (b"not json", "body"),
    ],
)
def test_malformed_feedback_names_the_field(body, field):
    with pytest.raises(InvalidInput) as refused:
        decode_feedback(body)
    assert refused.value.field == field


def test_a_labels_csv_reads_by_header_and_names_the_bad_line():
    labels = read_labels_csv("label,request_id,row\n1,abc,0\n\n0,def,2\n")
    assert [(x.request_id, x.row, x.label) for x in labels] == [("abc", 0, 1), ("def", 2, 0)]
    assert read_labels_csv("request_id,label\nabc,1\n")[0].row == 0
    with pytest.raises(InvalidInput, match="line 3, label") as refused:
        read_labels_csv("request_id,label\nabc,1\ndef,yes\n")
    assert refused.value.line == 3
    with pytest.raises(InvalidInput, match="missing: label"):
        read_labels_csv("request_id,outcome\nabc,1\n")
