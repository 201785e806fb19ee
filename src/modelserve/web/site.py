"""The HTML pages: a Flask application of their own, with forms, cookies and CSRF tokens.

The JSON APIs never pass through it (``web.api``), so nothing registered here can touch them.
"""

from __future__ import annotations

from flask import Flask, Response, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from modelserve import errors
from modelserve.web import pages
from modelserve.web.api.http import drain
from modelserve.web.errors import describe, error_headers
from modelserve.web.model_data import ModelDataCache
from modelserve.web.observability import note_route, request_id_of
from modelserve.web.results import ResultStore
from modelserve.web.services import Services

CSRF_SECONDS = 3600  # a form left open longer is sent again from a fresh page
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def create_site(services: Services, secret_key: str) -> Flask:
    # Rooted at this package: templates/ and static/ live beside this module.
    site = Flask("modelserve.web")
    site.config.update(
        SECRET_KEY=secret_key,
        MAX_CONTENT_LENGTH=services.settings.max_body_bytes,
        WTF_CSRF_TIME_LIMIT=CSRF_SECONDS,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_HTTPONLY=True,
    )
    site.extensions["modelserve"] = services
    results = ResultStore(services.settings.results)
    results.claim_folder()  # a folder others could read stops the server here, not a form later
    site.extensions["modelserve.results"] = results
    site.extensions["modelserve.model_data"] = ModelDataCache(
        services.store, services.settings.data
    )
    CSRFProtect(site)
    site.register_blueprint(pages.blueprint)
    site.before_request(_note_route)
    site.after_request(_secure)
    site.register_error_handler(errors.ModelserveError, _error_page)
    site.register_error_handler(CSRFError, _csrf_error)
    site.register_error_handler(HTTPException, _http_error)
    site.register_error_handler(Exception, _error_page)
    return site


def _note_route() -> None:
    if request.url_rule is not None:
        note_route(request.environ, request.url_rule.rule)


def _secure(response: Response) -> Response:
    response.headers.update(SECURITY_HEADERS)
    return response


def error_page(status: int, message: str) -> Response:
    page = render_template("error.html", status=status, message=message)
    return Response(page, status, error_headers(status), mimetype="text/html")


def _error_page(error: Exception) -> Response:
    status, message, _ = describe(error, request_id_of(request.environ))
    return error_page(status, message)


def _csrf_error(error: CSRFError) -> Response:
    return error_page(400, f"the form expired or was not sent by this site ({error.description})")


def _http_error(error: HTTPException) -> Response:
    message = error.description or error.name
    if error.code == 413:
        message = f"the upload exceeds the limit of {request.max_content_length} bytes"
        drain(request.environ, request.max_content_length or 0)
    response = error_page(error.code or 500, message)
    if error.code == 405 and getattr(error, "valid_methods", None):
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response
