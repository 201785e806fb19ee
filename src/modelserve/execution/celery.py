"""Celery mode: requests go to workers as tasks over RabbitMQ, and answers come back over it.

With adaptive batching (the default in this mode) one task carries the rows of every request
that arrived together; without it, each request is one task. A task names the model version
by number and by digest, so a worker runs exactly the content that validated the rows, and a
worker node that lacks it fetches it first (``distribution``).

The client side only: the tasks themselves live in ``modelserve.worker``; answers arrive
through this process's reply listener (``execution.replies``).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import numpy as np
from celery import Celery, states
from kombu.exceptions import OperationalError

from modelserve import errors
from modelserve.errors import BackendFailed, BackendTimeout, BackendUnavailable
from modelserve.execution.base import Batching, Executor, Prediction, Readiness
from modelserve.execution.replies import ReplyListener
from modelserve.runtime import ModelRuntime
from modelserve.worker.app import PING_TASK, PREDICT_TASK

# Readiness is a round trip (publish, a worker, the answer) made within READINESS_WINDOW
# seconds; with no answer that recent, a ping task is sent and must come back within
# PING_TIMEOUT, short enough for a probe with a one-second timeout.
READINESS_WINDOW = 2.0
PING_TIMEOUT = 1.0
log = logging.getLogger(__name__)


class CeleryExecutor(Executor):
    mode = "celery"

    def __init__(
        self,
        app: Celery,
        timeout: float,
        batching: Batching | None = None,
        tasks_in_flight: int = 1,
    ):
        self.app = app
        self.timeout = timeout
        self.replies = ReplyListener(app)
        # Started at the first task, in the process that sends it (after the web server forked).
        self._retry_policy = app.conf.task_publish_retry_policy or {}
        connection = app.connection_for_write()  # lazy: never connects, gives error classes
        self._broker_errors = (
            OperationalError,
            *connection.connection_errors,
            *connection.channel_errors,
        )
        self._readiness: tuple[float, Readiness] | None = None
        self._readiness_lock = threading.Lock()
        # Few tasks in flight make large batches: requests that arrive while a task is out
        # join the next one. More in flight keep more workers busy, for heavier models.
        self._batcher = (
            batching.batcher(self._send, max_inflight=tasks_in_flight) if batching else None
        )

    def predict(self, model: ModelRuntime, batch: np.ndarray) -> Prediction:
        if self._batcher is None:
            return self._send(model, batch)
        try:
            # The timeout counts from arrival, so time spent queued behind a batch counts too.
            return self._batcher.submit(model, batch, timeout=self.timeout)
        except FutureTimeout:
            raise BackendTimeout(f"no worker answered within {self.timeout:g} s") from None

    def _send(self, model: ModelRuntime, batch: np.ndarray) -> Prediction:
        answer = self._call(
            PREDICT_TASK,
            {
                "model": model.name,
                "version": model.version,
                "digest": model.digest,
                "rows": batch.tolist(),
                "sent_at": time.time(),
            },
            self.timeout,
            # Celery would otherwise build a printable copy of every row for monitoring.
            summary=f"{{model: {model.name!r}, version: {model.version}, rows: {len(batch)}}}",
        )
        if "error" in answer:
            raise errors.error_from_document(answer["error"])
        return Prediction(
            probabilities=np.asarray(answer["probabilities"], dtype=np.float32).reshape(-1, 1),
            model=answer["model"],
            version=answer["version"],
            queue_wait=answer.get("queue_wait"),
        )

    def _call(self, task: str, kwargs: dict, timeout: float, summary: str | None = None) -> Any:
        """Send ``task`` and wait up to ``timeout`` seconds for its answer; ``summary`` is
        what Celery shows of the arguments."""
        self.replies.start()
        task_id = str(uuid.uuid4())
        answer = self.replies.expect(task_id)
        try:
            try:
                with self.app.producer_pool.acquire(block=True) as producer:
                    self.replies.declare(producer, self._retry_policy)
                    self.app.send_task(
                        task,
                        kwargs=kwargs,
                        task_id=task_id,
                        reply_to=self.replies.queue.name,
                        expires=timeout,
                        producer=producer,
                        argsrepr="()",
                        kwargsrepr=summary,
                    )
            except self._broker_errors as exc:
                raise BackendUnavailable(f"the message broker is unreachable: {exc}") from exc
            self.replies.sent(task_id)
            try:
                meta = answer.result(timeout)
            except FutureTimeout:
                raise BackendTimeout(f"no worker answered within {timeout:g} s") from None
        finally:
            self.replies.discard(task_id)
        return _result(meta, timeout)

    def readiness(self, model: str) -> Readiness:
        """Ready if a task made the whole trip (publish, a worker, the answer) within
        ``READINESS_WINDOW`` seconds: an answer to any request counts, or else to a ping
        sent now. Cached as long, so frequent probes cost one ping per window at most."""
        with self._readiness_lock:
            now = time.monotonic()
            if self._readiness is None or now - self._readiness[0] > READINESS_WINDOW:
                self._readiness = (now, self._round_trip())
            return self._readiness[1]

    def _round_trip(self) -> Readiness:
        first = not self.replies.started
        self.replies.start()
        # Answers come back through the listener: no round trip while it reconnects. The
        # first probe gives it time to connect once.
        if not self.replies.connected.wait(PING_TIMEOUT if first else 0):
            return Readiness(False, {"round_trip": "failed", "broker": "unreachable"})
        if self.replies.answered_within(READINESS_WINDOW):
            return Readiness(True, {"round_trip": "answered", "broker": "reachable"})
        started = time.monotonic()
        try:
            answer = self._call(PING_TASK, {}, PING_TIMEOUT)
        except BackendUnavailable as exc:
            log.warning("readiness: %s", exc)
            return Readiness(False, {"round_trip": "failed", "broker": "unreachable"})
        except errors.ModelserveError as exc:
            log.warning("readiness: a ping found no way back: %s", exc)
            return Readiness(
                False,
                {
                    "round_trip": "failed",
                    "broker": "reachable",
                    "workers": f"no answer within {PING_TIMEOUT:g} s",
                },
            )
        took = (time.monotonic() - started) * 1000
        return Readiness(
            True,
            {
                "round_trip": f"answered in {took:.1f} ms",
                "broker": "reachable",
                "worker": str(answer.get("node")),
            },
        )


def _result(meta: dict, timeout: float) -> Any:
    status = meta.get("status")
    if status == states.SUCCESS:
        return meta["result"]
    if status == states.REVOKED:  # it expired in the queue before a worker took it
        raise BackendTimeout(f"no worker answered within {timeout:g} s")
    failure = meta.get("result") or {}
    kind = failure.get("exc_type", status) if isinstance(failure, dict) else status
    if kind == "TimeLimitExceeded":
        raise BackendTimeout(f"the worker ran out of time ({kind})")
    # The task itself crashed; the worker's log has the trace.
    raise BackendFailed(f"the worker failed: {kind}")
