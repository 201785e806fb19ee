"""Operations endpoints: liveness, readiness, Prometheus metrics, the OpenAPI document."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from modelserve.web.app import services
from modelserve.web.openapi import openapi_document

blueprint = Blueprint("ops", __name__)


@blueprint.get("/healthz")
def healthz():
    return jsonify({"status": "alive"})


@blueprint.get("/readyz")
def readyz():
    svc = services()
    readiness = svc.executor.readiness(svc.settings.model)
    response = jsonify({"ready": readiness.ready, "mode": svc.executor.mode, **readiness.checks})
    response.status_code = 200 if readiness.ready else 503
    return response


@blueprint.get("/metrics")
def metrics():
    body, content_type = services().metrics.exposition()
    return Response(body, content_type=content_type)


@blueprint.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())
