"""The wire format from a web process to the log writer process: what is decoded is what
was served, row by row."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np

from modelserve.monitoring.wire import COLUMNS, FRAME, Served, Timestamps, decode, encode


def test_a_frame_decodes_to_the_rows_served_whatever_their_shapes():
    at = 1_796_000_000.123456  # 2026-11-30 00:53:20.123456 UTC
    batch = [
        Served("one", "v1", "diabetes", 3, at, _floats([[6, 148, 0.627]]), _floats([[0.8]]), 0.5),
        Served(
            "two",
            "v2",
            "diabetes",
            3,
            at + 1,
            _floats([[1, 2, 3], [4, 5, 6]]),
            _floats([[0.2], [0.6]]),
            0.5,
        ),  # fmt: skip
        Served("wide", "v2", "other", 1, at, _floats([[0.1] * 5]), _floats([[0.4]]), 0.3),
    ]
    frame = encode(batch, 41)
    length, number, rows = FRAME.unpack_from(frame)
    assert (length, number, rows) == (len(frame) - FRAME.size, 41, 4)

    decoded = [
        dict(zip(COLUMNS, row, strict=True))
        for row in decode(frame[FRAME.size :], Timestamps("sqlite"))
    ]

    assert [(r["request_id"], r["row"], r["route"], r["model"]) for r in decoded] == [
        ("one", 0, "v1", "diabetes"),
        ("two", 0, "v2", "diabetes"),
        ("two", 1, "v2", "diabetes"),
        ("wide", 0, "v2", "other"),
    ]
    # Floats as the answer showed them: the shortest text of each float32.
    assert [r["features"] for r in decoded] == [
        "[6.0,148.0,0.627]", "[1.0,2.0,3.0]", "[4.0,5.0,6.0]", "[0.1,0.1,0.1,0.1,0.1]",
    ]  # fmt: skip
    assert [r["probability"] for r in decoded] == [0.8, 0.2, 0.6, 0.4]
    assert [r["predicted"] for r in decoded] == [1, 0, 1, 1]  # each by its model's threshold
    assert decoded[0]["created_at"] == "2026-11-30 00:53:20.123456"
    assert decoded[1]["created_at"] == "2026-11-30 00:53:21.123456"


def test_times_reach_each_database_in_utc_as_it_takes_them():
    at = 1_796_000_000.5
    assert Timestamps("sqlite")([at]) == ["2026-11-30 00:53:20.500000"]
    assert Timestamps("postgresql")([at]) == [
        datetime(2026, 11, 30, 0, 53, 20, 500000, tzinfo=timezone.utc)
    ]


def _floats(rows: list[list[float]]) -> np.ndarray:
    return np.array(rows, dtype=np.float32)
