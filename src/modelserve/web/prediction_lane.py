"""The prediction routes, answered without Flask's request machinery.

Flask's request context, URL matching, signals and response object cost several times what a
one-row prediction itself costs (``bench/PROFILE.md``). This WSGI middleware answers
``:predict`` and ``/infer`` requests with the views' own functions (``api_v1.predict_answer``,
``api_v2.infer_answer``) and the same error documents, so a client cannot tell the two apart.

Whatever is out of the ordinary goes to Flask unread, which answers it as it answers every
route: a bearer token that does not match, a compressed, chunked or oversized body (or one
without a Content-Length), a Content-Type the route does not read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from flask import Flask
from werkzeug.http import HTTP_STATUS_CODES

from modelserve.bundles.store import MODEL_NAME
from modelserve.protocol import v2
from modelserve.web import api_v1, api_v2
from modelserve.web.api import Answer, accepted_type, token_matches
from modelserve.web.app import Services
from modelserve.web.errors import describe, json_error
from modelserve.web.observability import request_id_of, served_outside_flask

# The URL converters of the prediction routes, as regular expressions.
_CONVERTERS = {
    "<model_name:name>": f"(?P<name>{MODEL_NAME.pattern})",
    "<int:version>": r"(?P<version>\d+)",
}
_BINARY_HEADER = "HTTP_" + v2.BINARY_HEADER.upper().replace("-", "_")


@dataclass(frozen=True)
class _Route:
    rule: str  # as Flask's URL map has it: the route's name in logs and metrics
    pattern: re.Pattern
    binary: bool  # reads application/octet-stream bodies too
    answer: Callable[[Services, str, int | None, bytes, dict], Answer]


def _v1_predict(svc: Services, name: str, version: int | None, body: bytes, environ: dict):
    return api_v1.predict_answer(svc, name, version, body)


def _v2_infer(svc: Services, name: str, version: int | None, body: bytes, environ: dict):
    return api_v2.infer_answer(svc, name, version, body, environ.get(_BINARY_HEADER))


_ANSWERS = {"api_v1.predict": (_v1_predict, False), "api_v2.infer": (_v2_infer, True)}


class PredictionLane:
    """WSGI middleware in front of a Flask application's own ``wsgi_app``.

    Made once the application's blueprints are registered: it reads their routes.
    """

    def __init__(self, app: Flask):
        self.flask_wsgi = app.wsgi_app
        self.config = app.config  # MAX_CONTENT_LENGTH: the body limit Flask applies
        self.services: Services = app.extensions["modelserve"]
        # Built from Flask's own rules, so the two can never disagree on what a route is.
        self.routes = [
            _Route(rule.rule, _pattern(rule.rule), binary, answer)
            for endpoint, (answer, binary) in _ANSWERS.items()
            for rule in app.url_map.iter_rules(endpoint)
        ]

    def __call__(self, environ: dict, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            path = environ.get("PATH_INFO", "")
            for route in self.routes:
                matched = route.pattern.fullmatch(path)
                if matched is not None:
                    length = self._ordinary_length(environ, route)
                    if length is not None:
                        return self._answer(environ, start_response, route, matched, length)
                    break
        return self.flask_wsgi(environ, start_response)

    def _ordinary_length(self, environ: dict, route: _Route) -> int | None:
        """The body's length if the request is ordinary, None if Flask should answer it."""
        token = self.services.settings.api_token
        if token is not None and not token_matches(environ.get("HTTP_AUTHORIZATION", ""), token):
            return None
        if environ.get("HTTP_CONTENT_ENCODING") or environ.get("HTTP_TRANSFER_ENCODING"):
            return None
        mimetype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        if not accepted_type(mimetype, binary=route.binary):
            return None
        given = environ.get("CONTENT_LENGTH", "")
        if not (given.isascii() and given.isdigit()):
            return None
        length, limit = int(given), self.config["MAX_CONTENT_LENGTH"]
        return length if limit is None or length <= limit else None

    def _answer(self, environ: dict, start_response, route: _Route, matched: re.Match, length: int):
        version = matched.groupdict().get("version")
        try:
            body = environ["wsgi.input"].read(length)
            answer = route.answer(
                self.services,
                matched["name"],
                None if version is None else int(version),
                body,
                environ,
            )
        except Exception as exc:  # noqa: BLE001 - answered as Flask's error handlers answer
            served_outside_flask(environ, route.rule)
            status, message, field = describe(exc, request_id_of(environ))
            payload, extra = json_error(status, message, field)
            headers = [("Content-Type", "application/json"), *extra.items()]
        else:
            served_outside_flask(environ, route.rule, answer.prediction, answer.rows)
            status, payload = 200, answer.body
            headers = [("Content-Type", answer.content_type), *answer.headers]
        headers.append(("Content-Length", str(len(payload))))
        start_response(f"{status} {HTTP_STATUS_CODES[status].upper()}", headers)
        return [payload]


def _pattern(rule: str) -> re.Pattern:
    parts = re.split(r"(<[^>]+>)", rule)
    # A converter missing here fails at start, not by sending every request to Flask.
    return re.compile("".join(_CONVERTERS[p] if p.startswith("<") else re.escape(p) for p in parts))
