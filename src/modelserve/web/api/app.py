"""The JSON APIs as one small WSGI application: every API request comes in here and passes
the same checks (token, Origin, Content-Type, body limit), the same error mapping and the same
answer writing, whatever its route. Flask serves only the pages (``web.site``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from functools import lru_cache
from types import MappingProxyType

from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.http import HTTP_STATUS_CODES
from werkzeug.routing import BaseConverter, Map, Rule

from modelserve.bundles.store import MODEL_NAME
from modelserve.web.api import feedback, ops, v1, v2
from modelserve.web.api.http import (
    Answer,
    Request,
    Route,
    check_content_type,
    check_origin,
    check_token,
    drain,
    hosts_for,
    read_body,
)
from modelserve.web.errors import describe, error_headers, json_error
from modelserve.web.observability import note_route, request_id_of
from modelserve.web.services import Services

ROUTES: tuple[Route, ...] = (*v1.ROUTES, *v2.ROUTES, *feedback.ROUTES, *ops.ROUTES)
# Paths the JSON APIs own; the pages own the rest.
PREFIXES = ("/v1/", "/v2", "/healthz", "/readyz", "/metrics", "/openapi.json")
# Recently matched (path, method) pairs, answered without the router: matching costs more
# than a one-row prediction's validation. Bounded, so clients inventing paths cannot grow it.
MATCHED_PATHS = 1024


class ModelNameConverter(BaseConverter):
    """Model names as the store accepts them; no ':' so ``name:predict`` routes stay apart."""

    regex = MODEL_NAME.pattern


class JsonApi:
    def __init__(self, services: Services, routes: Iterable[Route] = ROUTES):
        self.services = services
        self.token = services.settings.api_token
        self.max_body = services.settings.max_body_bytes
        self.hosts = hosts_for(services.settings.host)
        rules = [Rule(r.rule, endpoint=r, methods=list(r.methods)) for r in routes]
        url_map = Map(rules, converters={"model_name": ModelNameConverter}, strict_slashes=False)
        # Bound once: matching reads only the path and the method.
        self.urls = url_map.bind("modelserve")
        self._match = lru_cache(maxsize=MATCHED_PATHS)(self._route)

    def __call__(self, environ: dict, start_response):
        method = environ["REQUEST_METHOD"]
        try:
            route, args = self._match(environ.get("PATH_INFO") or "/", method)
        except MethodNotAllowed as exc:
            allowed = ", ".join(sorted(exc.valid_methods or ()))
            if method == "OPTIONS":
                answer = Answer(body=b"", headers=(("Allow", allowed),))
            else:
                answer = _error(405, f"{method} is not allowed here; allowed: {allowed}", None)
                answer = replace(answer, headers=(*answer.headers, ("Allow", allowed)))
            return self._send(start_response, answer, method)
        except HTTPException:  # no such route
            answer = _error(404, f"no endpoint at {environ.get('PATH_INFO')}", "path")
            return self._send(start_response, answer, method)
        note_route(environ, route.rule)
        try:
            answer = route.handler(self.services, self._request(environ, route, args))
        except Exception as exc:  # noqa: BLE001 - every error is answered, as describe() maps it
            status, message, field = describe(exc, request_id_of(environ))
            if route.reads is not None:  # refused before its body was read, or while
                drain(environ, self.max_body)
            answer = _error(status, message, field)
        return self._send(start_response, answer, method)

    def _route(self, path: str, method: str) -> tuple[Route, Mapping]:
        """The route and its URL arguments (read-only: the answer is shared); raises
        werkzeug's NotFound or MethodNotAllowed."""
        route, args = self.urls.match(path, method)
        return route, MappingProxyType(args)

    def _request(self, environ: dict, route: Route, args: Mapping) -> Request:
        if route.token:
            check_token(environ, self.token)
        if route.reads is None:
            return Request(environ, args)
        if self.token is None:
            check_origin(environ, self.hosts)
        check_content_type(environ, binary=route.reads == "binary", lenient=self.token is not None)
        return Request(environ, args, read_body(environ, self.max_body))

    @staticmethod
    def _send(start_response, answer: Answer, method: str):
        body = answer.encoded()
        headers = [
            ("Content-Type", answer.content_type),
            ("Content-Length", str(len(body))),
            *answer.headers,
        ]
        status = answer.status
        start_response(f"{status} {HTTP_STATUS_CODES.get(status, 'UNKNOWN').upper()}", headers)
        return [b""] if method == "HEAD" else [body]


def _error(status: int, message: str, field: str | None) -> Answer:
    return Answer(status=status, body=json_error(message, field), headers=error_headers(status))
