"""The one Celery app: its configuration, its task, and the per-process model cache.

Why these settings:

* ``task_acks_late`` + ``task_reject_on_worker_lost``: a task is acknowledged only after it
  ran, so a worker killed in the middle of one leaves it on the queue and RabbitMQ delivers
  it to another worker: no accepted request is lost. Predictions are pure, so running one
  twice is harmless.
* ``worker_prefetch_multiplier = 1``: a worker process reserves one task at a time, so a busy
  or stuck process does not hold requests that an idle one could answer.
* ``task_time_limit``: a task that runs away is killed (and its process replaced) instead of
  blocking a worker forever; tasks also expire with the web request's timeout, so a worker
  never spends time on an answer nobody waits for.
* ``result_backend``: Celery's ``rpc://`` backend (see ``worker.backend``): answers travel
  back over RabbitMQ to the reply queue the task names, the requesting web process's own
  (``execution.replies``), so no second service is needed.
* JSON only: tasks carry plain lists of numbers; pickle is never accepted.
* ``broker_heartbeat`` 10 s, and a consumer that retries every second (``worker.consumer``):
  a stalled connection is found within 20 s, and a worker consumes again within a second of
  the broker coming back, however long it was gone.

A task names its model version by number and by digest (``Bundle.digest``). A worker whose
store lacks that content fetches it from the web node over RabbitMQ (``distribution``),
verifies it and installs it, once per node (``ModelStore.mirror``).
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import time
from typing import Any

import numpy as np
from celery import Celery, signals

from modelserve.bundles import ModelStore
from modelserve.distribution.client import fetch_bundle
from modelserve.errors import InvalidInput, ModelserveError, error_document
from modelserve.runtime import ModelCache
from modelserve.settings import Settings, get_settings

PREDICT_TASK = "modelserve.predict"
PING_TASK = "modelserve.ping"
log = logging.getLogger(__name__)


def celery_config(settings: Settings) -> dict[str, Any]:
    return {
        "broker_url": str(settings.broker_url),
        "result_backend": "modelserve.worker.backend:WorkerResultBackend",
        "result_persistent": False,
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": max(30, 3 * settings.request_timeout),
        "task_default_queue": settings.queue,
        "broker_connection_timeout": 2,
        "broker_connection_retry_on_startup": True,
        "broker_heartbeat": 10,
        "broker_connection_max_retries": None,  # a worker waits for its broker forever
        # After a network fault the worker may reconnect before RabbitMQ has noticed that its
        # old connection is dead; an exclusive control queue would still belong to that one,
        # and Celery gives up for good on the refusal (RESOURCE_LOCKED).
        "control_queue_exclusive": False,
        "worker_consumer": "modelserve.worker.consumer:Consumer",
        # A publish that cannot reach the broker fails fast: the request answers 503.
        "task_publish_retry_policy": {
            "max_retries": 1,
            "interval_start": 0,
            "interval_step": 0.2,
            "interval_max": 0.2,
        },
        "worker_hijack_root_logger": False,
        "worker_send_task_events": False,
        # A task running when the connection drops cannot be acknowledged: cancel it, and
        # RabbitMQ redelivers it (the behaviour Celery 6 makes the default).
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        "task_send_sent_event": False,
    }


def create_celery(settings: Settings) -> Celery:
    app = Celery("modelserve", set_as_current=False)
    app.conf.update(celery_config(settings))
    app.task(name=PREDICT_TASK)(predict)
    app.task(name=PING_TASK)(ping)
    return app


# -- the worker process's side -------------------------------------------------------------

_settings: Settings | None = None
_cache: ModelCache | None = None


def serve_with(settings: Settings) -> None:
    """Settings for this worker; set before the pool forks, so every process inherits them."""
    global _settings, _cache
    _settings, _cache = settings, None


def model_cache() -> ModelCache:
    """This process's cache, made once: a model is loaded once per process, never per task.
    Versions it lacks come from the web node."""
    global _cache, _settings
    if _cache is None:
        _settings = _settings or get_settings()
        fetch = None
        if _settings.broker_url is not None:
            fetch = functools.partial(
                fetch_bundle,
                create_celery(_settings),
                _settings.queue,
                timeout=_settings.request_timeout,
            )
        _cache = ModelCache(ModelStore(_settings.store), fetch=fetch)
    return _cache


@signals.worker_process_init.connect
def _warm_up(**_: Any) -> None:
    settings = _settings or get_settings()
    try:
        runtime = model_cache().current(settings.model)
        log.info("worker process ready with %s version %s", runtime.name, runtime.version)
    except ModelserveError as exc:
        log.info("no model loaded at start (%s); versions come from the web node", exc)


@signals.worker_ready.connect
def _ready(sender=None, **_: Any) -> None:
    log.info("worker ready", extra={"node": getattr(sender, "hostname", None)})


def predict(
    *,
    model: str,
    version: int | None,
    digest: str | None,
    rows: list,
    sent_at: float | None = None,
) -> dict:
    """The task: thin on purpose, the work is in :func:`run_prediction`. Its arguments go by
    name, so a web process and a worker of different releases fail loudly (the worker
    answers with the TypeError), never by reading one argument as another."""
    started = time.time()
    answer = run_prediction(model_cache(), model, version, digest, rows)
    if sent_at is not None:
        answer["queue_wait"] = max(0.0, started - sent_at)
    return answer


def ping() -> dict:
    """The readiness probe's task: its answer proves the whole trip through a worker."""
    return {"node": socket.gethostname(), "pid": os.getpid()}


def run_prediction(
    cache: ModelCache, model: str, version: int | None, digest: str | None, rows: list
) -> dict:
    """Run rows through a model, answering errors as data so they cross JSON unchanged."""
    try:
        runtime = cache.get(model, version, digest)
        probabilities = runtime.predict(np.asarray(rows, dtype=np.float32))
    except ModelserveError as exc:
        return {"error": error_document(exc)}
    except ValueError as exc:  # ragged or non-numeric rows from a client other than ours
        return {"error": error_document(InvalidInput(f"rows: {exc}", field="rows"))}
    return {
        "probabilities": probabilities.reshape(-1).tolist(),
        "model": runtime.name,
        "version": runtime.version,
    }
