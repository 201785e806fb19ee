"""Structured logging: one JSON object per line, extra fields included."""

from __future__ import annotations

import atexit
import json
import logging
import sys
import time
from select import PIPE_BUF

import orjson

from modelserve.bulk import Bulk, current_pid

# Attributes every LogRecord has; anything else was passed as ``extra`` and is logged.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}


_second: tuple[int, str] = (0, "")  # the last second formatted, and how


def _timestamp(created: float) -> str:
    """ISO 8601 in UTC with milliseconds; the date and time part is formatted once a second."""
    global _second
    seconds, cached = int(created), _second  # one read: another thread may replace it
    if cached[0] != seconds:
        cached = _second = (seconds, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)))
    return f"{cached[1]}.{int((created - seconds) * 1000):03d}+00:00"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extra = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if record.exc_info:
            extra["exception"] = self.formatException(record.exc_info)
        message = record.getMessage()
        return _line(record.created, record.levelname, record.name, record.process, message, extra)


def _line(created: float, level: str, logger: str, pid, message: str, fields: dict) -> str:
    """One log line: the fields every line has, then the others that are set."""
    document = {
        "time": _timestamp(created),
        "level": level.lower(),
        "logger": logger,
        "pid": pid,
        "message": message,
    }
    for key, value in fields.items():
        if value is not None:
            document[key] = value
    return _encode(document)


def _encode(document: dict) -> str:
    # orjson: a tenth of the json module's time, which counts on a line per request.
    try:
        return orjson.dumps(document, default=str, option=orjson.OPT_NON_STR_KEYS).decode()
    except orjson.JSONEncodeError:  # what only the json module writes: lone surrogates, huge ints
        return json.dumps(document, default=str)


class AccessLog:
    """One JSON line per request, in the same shape as every other log line.

    Written straight to the stream once configured: building a logging record per request
    costs more than the prediction itself. Lines are formatted and written in bulk, within
    ``FLUSH_SECONDS``, off the request's thread. Until configured, lines go through ``logging``.
    """

    FLUSH_SECONDS = 0.1
    MAX_PENDING = 4096

    def __init__(self) -> None:
        self.stream = None
        self._logger = logging.getLogger("modelserve.access")
        self._bulk: Bulk[tuple[float, int, dict]] = Bulk(
            self._write_lines, self.FLUSH_SECONDS, self.MAX_PENDING
        )

    def write(self, fields: dict) -> None:
        if self.stream is None:
            self._logger.info("request", extra=fields)
        else:
            self._bulk.add((time.time(), current_pid(), fields))

    def flush(self) -> None:
        self._bulk.flush()

    def _write_lines(self, entries: list[tuple[float, int, dict]]) -> None:
        stream = self.stream
        if stream is None:
            return
        # Whole lines in writes of at most PIPE_BUF bytes: the processes of a server share
        # one stderr, and a write that size to a pipe is never interleaved with another's.
        chunk, size = [], 0
        for created, pid, fields in entries:
            line = _line(created, "info", "modelserve.access", pid, "request", fields) + "\n"
            if chunk and size + len(line) > PIPE_BUF:
                stream.write("".join(chunk))
                chunk, size = [], 0
            chunk.append(line)
            size += len(line)
        stream.write("".join(chunk))
        stream.flush()


access_log = AccessLog()
atexit.register(access_log.flush)


def configure_logging(level: str = "INFO") -> None:
    """JSON lines on stderr for the whole process (called by the serve and worker commands)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    access_log.stream = sys.stderr if root.isEnabledFor(logging.INFO) else None
    # A library's warning would otherwise be printed as plain text between the JSON lines.
    logging.captureWarnings(True)
    # Celery logs every task received and done at INFO: too much for one line per request.
    for chatty in ("celery.worker.strategy", "celery.app.trace"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))
