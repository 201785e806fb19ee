"""Open Inference Protocol V2 (KServe / Triton REST): ``/v2/...``."""

from __future__ import annotations

from modelserve.protocol import v2
from modelserve.web.api.http import BINARY_TYPE, Answer, Request, Route
from modelserve.web.api.serving import model_for, run
from modelserve.web.observability import note_model
from modelserve.web.services import Services


def server_metadata(svc: Services, request: Request) -> Answer:
    return Answer(v2.server_metadata().model_dump())


def live(svc: Services, request: Request) -> Answer:
    return Answer({"live": True})


def ready(svc: Services, request: Request) -> Answer:
    return _readiness(svc, svc.settings.model, {})


def model_metadata(svc: Services, request: Request) -> Answer:
    name = request.args["name"]
    runtime = svc.cache.get(name, request.args.get("version"))
    note_model(request.environ, runtime.name, runtime.version)
    return Answer(v2.model_metadata(runtime.metadata, svc.store.versions(name)).model_dump())


def model_ready(svc: Services, request: Request) -> Answer:
    name = request.args["name"]
    svc.cache.get(name, request.args.get("version"))  # 404 for an unknown model or version
    return _readiness(svc, name, {"name": name})


def _readiness(svc: Services, model: str, document: dict) -> Answer:
    readiness = svc.executor.readiness(model)
    return Answer({**document, "ready": readiness.ready}, 200 if readiness.ready else 503)


def infer(svc: Services, request: Request) -> Answer:
    model = model_for(svc, request)
    decoded = v2.decode_infer(
        request.body,
        request.header(v2.BINARY_HEADER),
        model.metadata,
        svc.settings.max_batch_rows,
    )
    # The version that passed validation is the one that runs, whatever switches meanwhile.
    prediction = run(svc, request.environ, "v2", model, decoded.batch)
    payload, json_length = v2.encode_infer(
        decoded, prediction.probabilities, model.metadata, prediction.version
    )
    if json_length is None:
        return Answer(body=payload)
    return Answer(
        body=payload, content_type=BINARY_TYPE, headers=((v2.BINARY_HEADER, str(json_length)),)
    )


_MODEL = "/v2/models/<model_name:name>"
_VERSION = _MODEL + "/versions/<int:version>"
ROUTES = (
    Route("/v2", server_metadata),
    Route("/v2/health/live", live, token=False),
    Route("/v2/health/ready", ready, token=False),
    Route(_MODEL, model_metadata),
    Route(_VERSION, model_metadata),
    Route(_MODEL + "/ready", model_ready),
    Route(_VERSION + "/ready", model_ready),
    Route(_MODEL + "/infer", infer, ("POST",), reads="binary"),
    Route(_VERSION + "/infer", infer, ("POST",), reads="binary"),
)
