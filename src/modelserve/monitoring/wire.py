"""What the prediction log records of one answered request, and the wire format that
carries it from a web process to the log writer process, defined here only.

A web process sends frames: a header (``FRAME``: the body's length, the frame's number, its
rows), then the body: a 4-byte length and a JSON list of requests, each ``[request_id, route,
model, version, at, rows, width]``, then every request's features (float32, row by row), the
probabilities (float32) and the classes served (uint8), each for all rows in order. The log
writer process answers with the numbers (``ACK``) of the frames it is done with, in any
order. ``decode`` turns a body into the database's rows; a process that writes its own log
builds them the same way (``database_rows``).
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np
import orjson

from modelserve.evaluation import classify

FRAME = struct.Struct(">IQI")  # body length, frame number, rows
ACK = struct.Struct(">Q")
_LENGTH = struct.Struct(">I")
# The order of each row's values, as decode builds them and the log's insert names them.
COLUMNS = (
    "request_id", "row", "created_at", "model", "version", "route", "features", "probability",
    "predicted",
)  # fmt: skip


@dataclass(slots=True)  # not frozen: a frozen one costs each request a microsecond more
class Served:
    """One answered prediction request, as the log receives it."""

    request_id: str
    route: str
    model: str
    version: int
    at: float  # time.time() when answered
    features: np.ndarray  # (N, F)
    probabilities: np.ndarray  # (N, 1)
    threshold: float

    def __len__(self) -> int:
        return len(self.features)


class Timestamps:
    """Times (``time.time()``) as the ``created_at`` column takes them: SQLAlchemy's text form
    on SQLite (which compares times as text), formatted all at once (0.45 µs a row, where one
    by one took 0.8); datetimes in UTC on PostgreSQL, which its binary COPY sends as they are."""

    def __init__(self, backend: str):
        self.postgresql = backend == "postgresql"

    def __call__(self, times: list[float]) -> list:
        if self.postgresql:
            return [datetime.fromtimestamp(at, timezone.utc) for at in times]
        microseconds = (np.array(times) * 1_000_000).astype("datetime64[us]")
        return [text.replace("T", " ") for text in np.datetime_as_string(microseconds).tolist()]


def database_rows(batch: list[Served], timestamps: Timestamps) -> list[tuple]:
    """The rows of ``batch`` as the log writer process builds them from its frame."""
    return decode(encode(batch, 0)[FRAME.size :], timestamps)


def encode(batch: list[Served], number: int) -> bytes:
    sizes = [len(s.features) for s in batch]
    # One copy of the whole batch into float32, not one per request.
    features = np.concatenate([s.features for s in batch], axis=None, dtype=np.float32)
    scores = np.concatenate([s.probabilities for s in batch], axis=None, dtype=np.float32)
    classes = classify(scores, np.repeat([s.threshold for s in batch], sizes))
    requests = orjson.dumps(
        [
            [s.request_id, s.route, s.model, s.version, s.at, len(s.features), s.features.shape[1]]
            for s in batch
        ]
    )
    body = b"".join(
        [
            _LENGTH.pack(len(requests)),
            requests,
            features.tobytes(),
            scores.tobytes(),
            classes.astype(np.uint8).tobytes(),
        ]
    )
    return FRAME.pack(len(body), number, sum(sizes)) + body


def decode(body: bytes, timestamps: Timestamps) -> list[tuple]:
    """A frame's body as the database's rows (``COLUMNS``)."""
    (length,) = _LENGTH.unpack_from(body)
    requests = orjson.loads(body[_LENGTH.size : _LENGTH.size + length])
    rows = sum(request[5] for request in requests)
    values = sum(request[5] * request[6] for request in requests)
    offset = _LENGTH.size + length
    features = np.frombuffer(body, np.float32, values, offset)
    offset += features.nbytes
    probabilities = np.frombuffer(body, np.float32, rows, offset)
    offset += probabilities.nbytes
    classes = np.frombuffer(body, np.uint8, rows, offset).tolist()
    texts = _feature_texts(features, [(request[5], request[6]) for request in requests])
    # Probabilities as the answer showed them: the shortest text of each float32.
    scores = orjson.loads(orjson.dumps(probabilities, option=orjson.OPT_SERIALIZE_NUMPY))
    request_ids, routes, models, versions, times, counts, _widths = zip(*requests, strict=True)
    whens = timestamps(times)
    if rows == len(requests):  # one row each, as most requests have: no repeats to build
        indexes = [0] * rows
    else:
        indexes = [index for count in counts for index in range(count)]

        def each_row(values):
            pairs = zip(values, counts, strict=True)
            return [value for value, count in pairs for _ in range(count)]

        request_ids, whens, models, versions, routes = map(
            each_row, (request_ids, whens, models, versions, routes)
        )
    columns = (request_ids, indexes, whens, models, versions, routes, texts, scores, classes)
    return list(zip(*columns, strict=True))


def _feature_texts(features: np.ndarray, shapes: list[tuple[int, int]]) -> list[str]:
    """Each row's features as JSON text, each float its shortest float32 form (0.627, not
    0.6269999742507935). One dump per run of requests of one width, split at the rows'
    boundaries: a dump per row would cost more than the row's insert."""
    texts, start = [], 0
    for width, runs in itertools.groupby(shapes, key=lambda shape: shape[1]):
        count = sum(rows for rows, _ in runs)
        block = features[start : start + count * width].reshape(count, width)
        start += count * width
        text = orjson.dumps(block, option=orjson.OPT_SERIALIZE_NUMPY).decode()
        texts.extend(f"[{row}]" for row in text[2:-2].split("],["))
    return texts
