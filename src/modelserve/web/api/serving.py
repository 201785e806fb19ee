"""Which model a prediction request runs on."""

from __future__ import annotations

from modelserve.runtime import ModelRuntime
from modelserve.web.api.http import Request
from modelserve.web.observability import note_model
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
