"""Open Inference Protocol V2 (KServe / Triton REST): ``/v2/...``."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from modelserve.protocol import v2
from modelserve.web.api import BINARY_TYPE, Answer, request_body, respond
from modelserve.web.app import Services, services
from modelserve.web.observability import note_model

blueprint = Blueprint("api_v2", __name__)


@blueprint.get("/v2")
def server_metadata():
    return jsonify(v2.server_metadata().model_dump())


@blueprint.get("/v2/health/live")
def live():
    return jsonify({"live": True})


@blueprint.get("/v2/health/ready")
def ready():
    return _readiness(services().settings.model, {})


@blueprint.get("/v2/models/<model_name:name>")
@blueprint.get("/v2/models/<model_name:name>/versions/<int:version>")
def model_metadata(name: str, version: int | None = None):
    svc = services()
    runtime = svc.cache.get(name, version)
    note_model(runtime.name, runtime.version)
    return jsonify(v2.model_metadata(runtime.metadata, svc.store.versions(name)).model_dump())


@blueprint.get("/v2/models/<model_name:name>/ready")
@blueprint.get("/v2/models/<model_name:name>/versions/<int:version>/ready")
def model_ready(name: str, version: int | None = None):
    services().cache.get(name, version)  # 404 for an unknown model or version
    return _readiness(name, {"name": name})


def _readiness(model: str, body: dict):
    readiness = services().executor.readiness(model)
    response = jsonify({**body, "ready": readiness.ready})
    response.status_code = 200 if readiness.ready else 503
    return response


@blueprint.post("/v2/models/<model_name:name>/infer")
@blueprint.post("/v2/models/<model_name:name>/versions/<int:version>/infer")
def infer(name: str, version: int | None = None):
    body = request_body(binary=True)
    return respond(
        infer_answer(services(), name, version, body, request.headers.get(v2.BINARY_HEADER))
    )


def infer_answer(
    svc: Services, name: str, version: int | None, body: bytes, header_length: str | None
) -> Answer:
    model = svc.cache.get(name, version)
    decoded = v2.decode_infer(body, header_length, model.metadata, svc.settings.max_batch_rows)
    # The version that passed validation is the one that runs, whatever switches meanwhile.
    prediction = svc.executor.predict(model, decoded.batch)
    payload, json_length = v2.encode_infer(
        decoded, prediction.probabilities, model.metadata, prediction.version
    )
    rows = len(decoded.batch)
    if json_length is None:
        return Answer(payload, "application/json", prediction, rows)
    headers = ((v2.BINARY_HEADER, str(json_length)),)
    return Answer(payload, BINARY_TYPE, prediction, rows, headers)
