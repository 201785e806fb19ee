"""Which model a prediction request runs on, and running it."""

from __future__ import annotations

import numpy as np

from modelserve.runtime import ModelRuntime, Prediction
from modelserve.web.api.http import Request
from modelserve.web.observability import note_model, note_prediction, request_id_of
from modelserve.web.services import Services

# A client's stable identity (a user, a session): while a canary runs, requests with the same
# key go to the same version.
CLIENT_KEY_HEADER = "X-Client-Key"


def model_for(svc: Services, request: Request) -> ModelRuntime:
    """The version the path names; otherwise the current one, or a canary for its share of
    requests, noted before it runs, so that a failure counts against the version that failed."""
    name, version = request.args["name"], request.args.get("version")
    if version is not None:
        return svc.cache.get(name, version)  # a 404 names no version that does not exist
    version = svc.cache.route(name, request.header(CLIENT_KEY_HEADER))
    note_model(request.environ, name, version, routed=True)
    return svc.cache.get(name, version)


def run(
    svc: Services, environ: dict, route: str, model: ModelRuntime, batch: np.ndarray
) -> Prediction:
    """Run ``batch`` on exactly ``model``; the headers, metrics and access log learn what
    answered, and the prediction log records it under the request's id (the feedback key)."""
    prediction = svc.executor.predict(model, batch)
    note_prediction(environ, prediction, len(batch))
    if svc.predictions is not None:
        svc.predictions.record(
            request_id_of(environ),
            route,
            prediction.model,
            prediction.version,
            batch,
            prediction.probabilities,
            model.metadata.output.threshold,
        )
    return prediction
