"""The OpenAPI 3.1 document for both JSON APIs, built from the protocol's typed models."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel

from modelserve import __version__
from modelserve.bundles.store import MODEL_NAME
from modelserve.protocol import types as t

REF = "#/components/schemas/{model}"


def _schemas(*models: type[BaseModel]) -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(name: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


ERRORS = {
    "400": _json("ErrorResponse", "Malformed request; `field` names the culprit"),
    "401": _json("ErrorResponse", "Missing or wrong bearer token (when one is configured)"),
    "404": _json("ErrorResponse", "Unknown model or version"),
}
BODY_ERRORS = {
    **ERRORS,
    "413": _json("ErrorResponse", "Body or batch above the configured limits"),
    "415": _json("ErrorResponse", "Unsupported Content-Type"),
    "503": _json("ErrorResponse", "Broker unreachable; retry after Retry-After seconds"),
    "504": _json("ErrorResponse", "No worker answered in time"),
}

FEEDBACK_ERRORS = {
    **BODY_ERRORS,
    "404": _json("ErrorResponse", "Unknown model, or no logged prediction with that id"),
    "409": _json("ErrorResponse", "A prediction named was labelled before; nothing recorded"),
    "503": _json("ErrorResponse", "The prediction log's database cannot be reached"),
}
FEEDBACK = "Attach true classes to earlier predictions by request id (all or none)"

NAME = {
    "name": "model_name",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": f"^{MODEL_NAME.pattern}$"},
}
VERSION = {
    "name": "version",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1},
}

NUMBER = {"type": "number"}
ROW = {"type": "array", "items": NUMBER}
PREDICT_REQUEST = {
    "title": "PredictRequest",
    "description": "TensorFlow Serving predict request: `instances` (rows) or `inputs` (columns).",
    "oneOf": [
        {
            "type": "object",
            "required": ["instances"],
            "properties": {
                "signature_name": {"type": "string"},
                "instances": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"oneOf": [ROW, {"type": "object", "additionalProperties": True}]},
                },
            },
            "additionalProperties": False,
        },
        {
            "type": "object",
            "required": ["inputs"],
            "properties": {
                "signature_name": {"type": "string"},
                "inputs": {
                    "oneOf": [
                        {"type": "array", "items": ROW},
                        {"type": "object", "additionalProperties": True},
                    ]
                },
            },
            "additionalProperties": False,
        },
    ],
}


def _get(summary: str, response: str, *params, errors=ERRORS, tag: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "tags": [tag],
            "parameters": list(params),
            "responses": {"200": _json(response, summary), **errors},
        }
    }


def _post(
    summary: str, request: str, response: str, *params, tag: str, errors=None
) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "tags": [tag],
            "parameters": list(params),
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref(request)}},
            },
            "responses": {"200": _json(response, summary), **(errors or BODY_ERRORS)},
        }
    }


@cache
def openapi_document() -> dict[str, Any]:
    schemas = _schemas(
        t.ModelStatusResponse,
        t.ModelMetadataResponse,
        t.PredictResponseRows,
        t.PredictResponseColumns,
        t.ErrorResponse,
        t.MetadataServerResponse,
        t.MetadataModelResponse,
        t.LiveResponse,
        t.ReadyResponse,
        t.ModelReadyResponse,
        t.InferenceRequest,
        t.InferenceResponse,
        t.FeedbackRequest,
        t.FeedbackResponse,
    )
    schemas["PredictRequest"] = PREDICT_REQUEST
    # `instances` are answered as `predictions`, `inputs` as `outputs`.
    schemas["PredictResponse"] = {
        "oneOf": [_ref("PredictResponseRows"), _ref("PredictResponseColumns")]
    }
    v1, v2, ops = "TensorFlow Serving REST (v1)", "Open Inference Protocol (v2)", "Operations"
    paths = {
        "/v1/models/{model_name}": _get("Version status", "ModelStatusResponse", NAME, tag=v1),
        "/v1/models/{model_name}/versions/{version}": _get(
            "Status of one version", "ModelStatusResponse", NAME, VERSION, tag=v1
        ),
        "/v1/models/{model_name}/metadata": _get(
            "Signature of the current version", "ModelMetadataResponse", NAME, tag=v1
        ),
        "/v1/models/{model_name}/versions/{version}/metadata": _get(
            "Signature of one version", "ModelMetadataResponse", NAME, VERSION, tag=v1
        ),
        "/v1/models/{model_name}:predict": _post(
            "Predict with the current version",
            "PredictRequest",
            "PredictResponse",
            NAME,
            tag=v1,
        ),
        "/v1/models/{model_name}/versions/{version}:predict": _post(
            "Predict with one version",
            "PredictRequest",
            "PredictResponse",
            NAME,
            VERSION,
            tag=v1,
        ),
        "/v2": _get("Server metadata", "MetadataServerResponse", errors={}, tag=v2),
        "/v2/health/live": _get("Liveness", "LiveResponse", errors={}, tag=v2),
        "/v2/health/ready": _get("Readiness", "ReadyResponse", errors={}, tag=v2),
        "/v2/models/{model_name}": _get("Model metadata", "MetadataModelResponse", NAME, tag=v2),
        "/v2/models/{model_name}/versions/{version}": _get(
            "Metadata of one version", "MetadataModelResponse", NAME, VERSION, tag=v2
        ),
        "/v2/models/{model_name}/ready": _get(
            "Model readiness", "ModelReadyResponse", NAME, tag=v2
        ),
        "/v2/models/{model_name}/versions/{version}/ready": _get(
            "Readiness of one version", "ModelReadyResponse", NAME, VERSION, tag=v2
        ),
        "/v2/models/{model_name}/infer": _post(
            "Inference with the current version",
            "InferenceRequest",
            "InferenceResponse",
            NAME,
            tag=v2,
        ),
        "/v2/models/{model_name}/versions/{version}/infer": _post(
            "Inference with one version",
            "InferenceRequest",
            "InferenceResponse",
            NAME,
            VERSION,
            tag=v2,
        ),
        "/v1/models/{model_name}:feedback": _post(
            FEEDBACK, "FeedbackRequest", "FeedbackResponse", NAME, tag=v1, errors=FEEDBACK_ERRORS
        ),
        "/v2/models/{model_name}/feedback": _post(
            FEEDBACK, "FeedbackRequest", "FeedbackResponse", NAME, tag=v2, errors=FEEDBACK_ERRORS
        ),
        "/healthz": {
            "get": {
                "summary": "Liveness",
                "tags": [ops],
                "responses": {"200": {"description": "alive"}},
            }
        },
        "/readyz": {
            "get": {
                "summary": "Model loaded; in Celery mode, broker and a worker",
                "tags": [ops],
                "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}},
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "modelserve",
            "version": __version__,
            "description": "TensorFlow Serving REST and Open Inference Protocol V2 APIs.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        # The token is optional: only servers started with MODELSERVE_API_TOKEN require it.
        "security": [{}, {"bearer": []}],
    }
