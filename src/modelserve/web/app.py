"""The web application factory. Nothing happens at import; everything hangs off the app.

One WSGI application answers every request: the observer (request id, log line, metrics)
outermost, then the JSON APIs for their paths and the pages (a Flask application) for the
rest.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from modelserve.bundles import ModelStore
from modelserve.canary import CanaryJudge
from modelserve.execution import Executor, create_executor
from modelserve.monitoring.database import Database, database_url
from modelserve.monitoring.gauges import MonitorGauges
from modelserve.monitoring.log import DatabaseSink, PredictionLog
from modelserve.monitoring.monitor import Monitor
from modelserve.monitoring.shipping import ShipSink
from modelserve.runtime import ModelCache
from modelserve.settings import Settings, get_settings
from modelserve.web.api import PREFIXES, JsonApi
from modelserve.web.metrics import Metrics
from modelserve.web.observability import RequestObserver
from modelserve.web.services import Services


class WebApplication:
    """Sends each request to the JSON APIs or to the pages, by its path alone."""

    def __init__(self, services: Services):
        self.services = services
        self.api = JsonApi(services)
        self.site = None
        if services.settings.pages:
            from modelserve.web.site import create_site  # Flask: only when pages are served

            secret = services.settings.secret_key
            self.site = create_site(
                services, secret.get_secret_value() if secret else secrets.token_hex(32)
            )
        self.wsgi = RequestObserver(self._dispatch, services)

    def _dispatch(self, environ: dict, start_response):
        if self.site is None or environ.get("PATH_INFO", "").startswith(PREFIXES):
            return self.api(environ, start_response)
        return self.site.wsgi_app(environ, start_response)

    def __call__(self, environ: dict, start_response):
        return self.wsgi(environ, start_response)


def create_app(
    settings: Settings | None = None,
    executor: Executor | None = None,
    log_socket: Path | None = None,
):
    """``log_socket``: the socket of the server's log writer process, which then writes the
    prediction log for this process; without it, this process writes it itself."""
    settings = settings or get_settings()
    store = ModelStore(settings.store)  # `modelserve serve` installed the demo bundle if asked
    if executor is None:
        executor = create_executor(settings, store)
    cache = getattr(executor, "cache", None) or ModelCache(store)
    judge = CanaryJudge(store)
    metrics = Metrics()
    database = Database(database_url(settings))
    predictions = None
    if settings.prediction_log:
        sink = ShipSink(log_socket) if log_socket is not None else DatabaseSink(database)
        predictions = PredictionLog(
            sink,
            capacity_rows=settings.prediction_log_queue_rows,
            sample=settings.prediction_log_sample,
            retention=settings.prediction_log_retention,
            count=metrics.count_logged,
        )
    monitor = Monitor(
        database,
        store,
        window=settings.monitor_window,
        drift_threshold=settings.drift_threshold,
        drift_min_rows=settings.drift_min_rows,
    )
    metrics.add_collector(MonitorGauges(monitor, store.models, settings.monitor_cache_seconds))
    services = Services(
        settings, store, cache, executor, metrics, judge, database, predictions, monitor
    )
    return WebApplication(services)
