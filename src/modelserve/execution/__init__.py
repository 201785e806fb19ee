"""Executors: where a validated batch runs. ``embedded`` runs it in the web process;
``celery`` sends it to workers over RabbitMQ. The web tier never knows which one it has."""

from __future__ import annotations

from modelserve.bundles import ModelStore
from modelserve.execution.base import Batching, Executor, Prediction, Readiness
from modelserve.runtime import ModelCache
from modelserve.settings import Settings


def create_executor(settings: Settings, store: ModelStore) -> Executor:
    """The embedded executor, or the Celery one when ``MODELSERVE_BROKER_URL`` is set."""
    batching = (
        Batching(settings.batch_max_size, settings.batch_max_wait_ms / 1000, settings.threads)
        if settings.batching_enabled
        else None
    )
    if settings.broker_url is None:
        from modelserve.execution.embedded import EmbeddedExecutor

        return EmbeddedExecutor(ModelCache(store), batching)
    from modelserve.execution.celery import CeleryExecutor
    from modelserve.worker.app import create_celery

    return CeleryExecutor(
        create_celery(settings),
        settings.request_timeout,
        batching,
        tasks_in_flight=settings.batch_tasks_in_flight,
    )


__all__ = ["Batching", "Executor", "Prediction", "Readiness", "create_executor"]
