"""What both JSON APIs share: the bearer-token guard, body and Content-Type checks, the
answer of a prediction, and the URL converter for model names."""

from __future__ import annotations

import hmac
import zlib
from dataclasses import dataclass

from flask import Response, request
from pydantic import SecretStr
from werkzeug.routing import BaseConverter

from modelserve.bundles.store import MODEL_NAME
from modelserve.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType
from modelserve.execution import Prediction
from modelserve.web.app import services
from modelserve.web.errors import error_response
from modelserve.web.observability import record_prediction

JSON_TYPES = ("application/json", "application/x-www-form-urlencoded", "text/plain")
BINARY_TYPE = "application/octet-stream"
API_BLUEPRINTS = ("api_v1", "api_v2")


class ModelNameConverter(BaseConverter):
    """Model names as the store accepts them; no ':' so ``name:predict`` routes stay apart."""

    regex = MODEL_NAME.pattern


@dataclass(frozen=True)
class Answer:
    """A prediction's HTTP answer, made without Flask: the views and the prediction lane
    (``web.prediction_lane``) send the same bytes."""

    body: bytes
    content_type: str
    prediction: Prediction
    rows: int
    headers: tuple[tuple[str, str], ...] = ()


def respond(answer: Answer) -> Response:
    record_prediction(answer.prediction, answer.rows)
    return Response(answer.body, headers=answer.headers, mimetype=answer.content_type)


def token_matches(authorization: str, token: SecretStr) -> bool:
    scheme, _, given = authorization.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode(), token.get_secret_value().encode()
    )


def require_token():
    """``before_request`` when a token is configured: the JSON APIs answer 401 without it."""
    if request.blueprint not in API_BLUEPRINTS or request.path.startswith("/v2/health/"):
        return None
    if token_matches(request.headers.get("Authorization", ""), services().settings.api_token):
        return None
    response = error_response(401, "missing or wrong bearer token", "Authorization")
    response.headers["WWW-Authenticate"] = 'Bearer realm="modelserve"'
    return response


def request_body(*, binary: bool = False) -> bytes:
    """The raw body of a POST, after checking its Content-Type.

    JSON is accepted with no Content-Type, or with the form type that ``curl -d`` sends (the
    TensorFlow Serving documentation's examples do), so those clients work unchanged.
    """
    mimetype = request.mimetype
    if not accepted_type(mimetype, binary=binary):
        raise UnsupportedMediaType(
            f"Content-Type {mimetype!r} is not accepted; send application/json"
            + (
                " or application/octet-stream with Inference-Header-Content-Length"
                if binary
                else ""
            )
        )
    return _decoded(request.get_data(cache=False))


def accepted_type(mimetype: str, *, binary: bool) -> bool:
    """Whether a body of this type (lower case, no parameters; empty: none given) is read."""
    if not mimetype or mimetype in JSON_TYPES or mimetype.endswith("+json"):
        return True
    return binary and mimetype == BINARY_TYPE


def _decoded(body: bytes) -> bytes:
    """Undo the Content-Encoding clients such as tritonclient may apply, within the size limit."""
    encoding = (request.content_encoding or "identity").lower()
    if encoding == "identity":
        return body
    if encoding not in ("gzip", "deflate"):
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not accepted")
    limit = services().settings.max_body_bytes
    # gzip: a gzip header; deflate: a zlib stream, as HTTP means by "deflate".
    inflater = zlib.decompressobj(wbits=31 if encoding == "gzip" else 15)
    try:
        data = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise InvalidInput(f"the body is not valid {encoding} data", field="body") from exc
    if len(data) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(
            f"the decompressed body exceeds the limit of {limit} bytes", field="body"
        )
    return data
