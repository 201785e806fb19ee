"""TensorFlow Serving REST API: ``/v1/models/<name>[/versions/<v>][:predict|/metadata]``."""

from __future__ import annotations

from flask import Blueprint, jsonify

from modelserve.protocol import v1
from modelserve.web.api import Answer, request_body, respond
from modelserve.web.app import Services, services
from modelserve.web.json_provider import json_body
from modelserve.web.observability import note_model

blueprint = Blueprint("api_v1", __name__)


@blueprint.get("/v1/models/<model_name:name>")
@blueprint.get("/v1/models/<model_name:name>/versions/<int:version>")
def status(name: str, version: int | None = None):
    """The served version (the current one, loaded), or a requested one once it loads."""
    runtime = services().cache.get(name, version)  # 404 for an unknown model or version
    return jsonify(v1.model_status([runtime.version]).model_dump())


@blueprint.get("/v1/models/<model_name:name>/metadata")
@blueprint.get("/v1/models/<model_name:name>/versions/<int:version>/metadata")
def metadata(name: str, version: int | None = None):
    runtime = services().cache.get(name, version)
    note_model(runtime.name, runtime.version)
    return jsonify(v1.model_metadata(runtime.metadata).model_dump())


@blueprint.post("/v1/models/<model_name:name>:predict")
@blueprint.post("/v1/models/<model_name:name>/versions/<int:version>:predict")
def predict(name: str, version: int | None = None):
    return respond(predict_answer(services(), name, version, request_body()))


def predict_answer(svc: Services, name: str, version: int | None, body: bytes) -> Answer:
    model = svc.cache.get(name, version)
    batch, fmt = v1.decode_predict(body, model.metadata, svc.settings.max_batch_rows)
    # The version that passed validation is the one that runs, whatever switches meanwhile.
    prediction = svc.executor.predict(model, batch)
    document = v1.encode_predict(prediction.probabilities, fmt)
    return Answer(json_body(document), "application/json", prediction, len(batch))
