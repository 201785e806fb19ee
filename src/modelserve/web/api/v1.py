"""TensorFlow Serving REST API: ``/v1/models/<name>[/versions/<v>][:predict|/metadata]``."""

from __future__ import annotations

from modelserve.protocol import v1
from modelserve.web.api.http import Answer, Request, Route
from modelserve.web.api.serving import model_for, run
from modelserve.web.observability import note_model
from modelserve.web.services import Services


def status(svc: Services, request: Request) -> Answer:
    """The served version (the current one, loaded), or a requested one once it loads."""
    runtime = svc.cache.get(request.args["name"], request.args.get("version"))  # 404: unknown
    return Answer(v1.model_status([runtime.version]).model_dump())


def metadata(svc: Services, request: Request) -> Answer:
    runtime = svc.cache.get(request.args["name"], request.args.get("version"))
    note_model(request.environ, runtime.name, runtime.version)
    return Answer(v1.model_metadata(runtime.metadata).model_dump())


def predict(svc: Services, request: Request) -> Answer:
    model = model_for(svc, request)
    batch, fmt = v1.decode_predict(request.body, model.metadata, svc.settings.max_batch_rows)
    # The version that passed validation is the one that runs, whatever switches meanwhile.
    prediction = run(svc, request.environ, "v1", model, batch)
    return Answer(v1.encode_predict(prediction.probabilities, fmt))


_MODEL = "/v1/models/<model_name:name>"
_VERSION = _MODEL + "/versions/<int:version>"
ROUTES = (
    Route(_MODEL, status),
    Route(_VERSION, status),
    Route(_MODEL + "/metadata", metadata),
    Route(_VERSION + "/metadata", metadata),
    Route(_MODEL + ":predict", predict, ("POST",), reads="json"),
    Route(_VERSION + ":predict", predict, ("POST",), reads="json"),
)
