"""The Flask application factory. Nothing happens at import; everything hangs off the app."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from flask import Flask, current_app
from flask_wtf.csrf import CSRFProtect

from modelserve.bundles import ModelStore
from modelserve.execution import Executor, create_executor
from modelserve.runtime import ModelCache
from modelserve.settings import Settings, get_settings
from modelserve.web.json_provider import OrjsonProvider
from modelserve.web.metrics import Metrics
from modelserve.web.sessions import PagesOnlySessionInterface


@dataclass
class Services:
    """What request handlers use, built once per process by :func:`create_app`."""

    settings: Settings
    store: ModelStore
    cache: ModelCache  # loaded models: metadata for every request, runs them in embedded mode
    executor: Executor
    metrics: Metrics


def services() -> Services:
    return current_app.extensions["modelserve"]


def create_app(settings: Settings | None = None, executor: Executor | None = None) -> Flask:
    settings = settings or get_settings()
    store = ModelStore(settings.store)  # `modelserve serve` installed the demo bundle if asked
    if executor is None:
        executor = create_executor(settings, store)
    cache = getattr(executor, "cache", None) or ModelCache(store)

    app = Flask(__name__)
    secret = settings.secret_key.get_secret_value() if settings.secret_key else None
    app.config.update(
        SECRET_KEY=secret or secrets.token_hex(32),
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        WTF_CSRF_TIME_LIMIT=None,
        # Only the pages take forms and cookies: they check CSRF tokens (pages.py). The JSON
        # APIs carry nothing a forged cross-site request could abuse and skip the check.
        WTF_CSRF_CHECK_DEFAULT=False,
    )
    app.json = OrjsonProvider(app)
    app.session_interface = PagesOnlySessionInterface()
    metrics = Metrics()
    app.extensions["modelserve"] = Services(settings, store, cache, executor, metrics)

    from modelserve.web import api_v1, api_v2, errors, ops, pages
    from modelserve.web.api import ModelNameConverter, require_token
    from modelserve.web.observability import RequestObserver
    from modelserve.web.prediction_lane import PredictionLane

    app.url_map.converters["model_name"] = ModelNameConverter
    CSRFProtect(app)
    errors.init_app(app)
    if settings.api_token is not None:
        app.before_request(require_token)
    for blueprint in [api_v1.blueprint, api_v2.blueprint, ops.blueprint]:
        app.register_blueprint(blueprint)
    if settings.pages:
        app.register_blueprint(pages.blueprint)
    # The observer outermost, so even a refused request gets its id and log line.
    app.wsgi_app = RequestObserver(PredictionLane(app), metrics)
    return app
