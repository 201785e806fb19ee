"""Celery mode: requests go to workers as tasks over RabbitMQ, and answers come back over it.

With adaptive batching (the default in this mode) one task carries the rows of every request
that arrived together; without it, each request is one task.

The client side only: the tasks themselves live in ``modelserve.worker``.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np
from celery import Celery
from celery.exceptions import TaskRevokedError, TimeLimitExceeded
from celery.exceptions import TimeoutError as CeleryTimeout
from kombu.exceptions import OperationalError

from modelserve import errors
from modelserve.errors import BackendFailed, BackendTimeout, BackendUnavailable
from modelserve.execution.base import Batching, Executor, Prediction, Readiness
from modelserve.worker.app import PREDICT_TASK

READINESS_TTL = 2.0  # seconds
log = logging.getLogger(__name__)

# Errors a worker reports by name; anything else arrives as a plain ModelserveError.
_REMOTE_ERRORS = {
    cls.__name__: cls
    for cls in (
        errors.InvalidInput,
        errors.PayloadTooLarge,
        errors.ModelNotFound,
        errors.InvalidBundle,
    )
}


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
        self._readiness: tuple[float, Readiness] | None = None
        self._readiness_lock = threading.Lock()
        # Few tasks in flight make large batches: requests that arrive while a task is out
        # join the next one. More in flight keep more workers busy, for heavier models.
        self._batcher = (
            batching.batcher(self._send, max_inflight=tasks_in_flight) if batching else None
        )

    def predict(self, model: str, version: int | None, batch: np.ndarray) -> Prediction:
        if self._batcher is None:
            return self._send((model, version), batch)
        try:
            # The timeout counts from arrival, so time spent queued behind a batch counts too.
            return self._batcher.submit((model, version), batch, timeout=self.timeout)
        except FutureTimeout:
            raise BackendTimeout(f"no worker answered within {self.timeout:g} s") from None

    def _send(self, key: tuple[str, int | None], batch: np.ndarray) -> Prediction:
        model, version = key
        try:
            result = self.app.send_task(
                PREDICT_TASK,
                args=[model, version, batch.tolist(), time.time()],
                expires=self.timeout,
                # Celery would otherwise build a printable copy of every row for monitoring.
                argsrepr=f"({model!r}, {version!r}, <{len(batch)} rows>)",
                kwargsrepr="{}",
            )
        except OperationalError as exc:
            raise BackendUnavailable(f"the message broker is unreachable: {exc}") from exc
        try:
            answer = result.get(timeout=self.timeout, propagate=True)
        except (CeleryTimeout, TaskRevokedError, TimeLimitExceeded):
            # Revoked: the task expired in the queue before a worker took it.
            raise BackendTimeout(f"no worker answered within {self.timeout:g} s") from None
        except OperationalError as exc:
            raise BackendUnavailable(f"lost the message broker: {exc}") from exc
        except Exception as exc:  # the task itself crashed; the worker's log has the trace
            raise BackendFailed(f"the worker failed: {type(exc).__name__}") from exc
        finally:
            result.forget()
        if "error" in answer:
            raise _remote_error(answer["error"])
        return Prediction(
            probabilities=np.asarray(answer["probabilities"], dtype=np.float32).reshape(-1, 1),
            model=answer["model"],
            version=answer["version"],
            queue_wait=answer.get("queue_wait"),
        )

    def readiness(self, model: str) -> Readiness:
        """Broker reachable and a worker consuming our queue. Cached briefly: asking the
        workers takes up to a second, and probes may come often."""
        with self._readiness_lock:
            now = time.monotonic()
            if self._readiness is None or now - self._readiness[0] > READINESS_TTL:
                self._readiness = (now, self._probe())
            return self._readiness[1]

    def _probe(self) -> Readiness:
        try:
            with self.app.connection_for_write() as connection:
                connection.ensure_connection(max_retries=1, timeout=2)
            replies = self.app.control.inspect(timeout=1.0).active_queues() or {}
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            log.warning("readiness: broker unreachable: %s", exc)
            return Readiness(False, {"broker": "unreachable"})
        # Workers of other deployments may share the broker: count those on our queue.
        queue = self.app.conf.task_default_queue
        workers = [
            node for node, queues in replies.items() if any(q.get("name") == queue for q in queues)
        ]
        if not workers:
            return Readiness(False, {"broker": "reachable", "workers": "none answered"})
        return Readiness(True, {"broker": "reachable", "workers": f"{len(workers)} answering"})


def _remote_error(error: dict) -> errors.ModelserveError:
    cls = _REMOTE_ERRORS.get(error["kind"], errors.ModelserveError)
    if issubclass(cls, errors.InvalidInput):
        return cls(error["message"], field=error.get("field"))
    return cls(error["message"])
