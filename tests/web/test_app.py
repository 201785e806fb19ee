"""The application in process, through werkzeug's test client (no server needed): one way in
for every JSON API request, and the edge cases of the pages."""

import io
import json

import pytest
from pydantic import SecretStr
from werkzeug.test import Client, EnvironBuilder

from modelserve.settings import Settings
from modelserve.web.api.app import ROUTES
from modelserve.web.app import create_app

ROW = [6, 148, 72, 35, 0, 33.6, 0.627, 50]
V1 = "/v1/models/diabetes:predict"
LIMIT = 4096


@pytest.fixture
def settings(demo_store, pima_csv):
    return Settings(store=demo_store.root, data=pima_csv, max_body_bytes=LIMIT, max_batch_rows=50)


@pytest.fixture
def app(settings):
    return create_app(settings)


@pytest.fixture
def client(app):
    return Client(app)


def _call(app, environ: dict):
    """Runs one request with a hand-made environ, as a server that trusts the client would."""
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"], captured["headers"] = int(status[:3]), dict(headers)

    body = b"".join(app(environ, start_response))
    return captured["status"], captured["headers"], json.loads(body)


def test_models_page_reports_unreadable_parts_in_place(client, demo_store):
    broken = demo_store.root / "diabetes" / "7"
    broken.mkdir()
    (broken / "metadata.json").write_text("{not json")
    with open(demo_store.root / "diabetes" / "history.jsonl", "a") as history:
        history.write("garbage\n")
    page = client.get("/models")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "version 7:" in text and "invalid metadata" in text
    assert "unreadable at line 2" in text
    assert "<td>1</td><td>current</td>" in text


def test_responses_keep_the_protocol_field_order(client):
    body = client.get("/v1/models/diabetes/metadata").get_data(as_text=True)
    assert body.index('"model_spec"') < body.index('"metadata"')


def test_no_page_hook_or_extension_reaches_the_json_apis(app, client):
    def broken_hook():
        raise AssertionError("a page hook ran for an API request")

    app.site.before_request(broken_hook)
    assert client.post(V1, json={"instances": [ROW]}).status_code == 200
    assert client.get("/predictions").status_code == 500  # the hook does run for pages


def test_every_guarded_route_checks_the_token_before_anything_else(settings):
    guarded = settings.model_copy(update={"api_token": SecretStr("t" * 32)})
    api = create_app(guarded)
    client = Client(api)
    checked = 0
    for route in ROUTES:
        path = route.rule.replace("<model_name:name>", "nosuch").replace("<int:version>", "9")
        response = client.open(path, method=route.methods[0], data=b"x" * (LIMIT + 1))
        expected = 401 if route.token else None
        if expected:
            checked += 1
            assert response.status_code == 401, path
            assert response.json["field"] == "Authorization"
        else:
            assert response.status_code != 401, path
    assert checked >= 10


def test_a_body_shorter_than_its_content_length_is_refused(app):
    body = json.dumps({"instances": [ROW]}).encode()
    environ = EnvironBuilder(
        path=V1, method="POST", input_stream=io.BytesIO(body), content_type="application/json"
    ).get_environ()
    environ["CONTENT_LENGTH"] = str(len(body) + 10)
    status, _, document = _call(app, environ)
    assert status == 400 and document["field"] == "body"
    assert f"after {len(body)} of its {len(body) + 10} bytes" in document["error"]


@pytest.mark.parametrize("size", [LIMIT - 200, LIMIT + 1])
def test_a_chunked_body_is_held_to_the_limit_while_it_arrives(app, size):
    body = json.dumps({"instances": [ROW]}).encode()
    body += b" " * (size - len(body))
    environ = EnvironBuilder(
        path=V1, method="POST", input_stream=io.BytesIO(body), content_type="application/json"
    ).get_environ()
    environ.pop("CONTENT_LENGTH", None)
    environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    status, _, document = _call(app, environ)
    if size > LIMIT:
        assert status == 413 and document["field"] == "body"
    else:
        assert status == 200 and len(document["predictions"]) == 1


def test_a_method_nobody_uses_is_refused_and_counted_as_other(client):
    for n in range(20):
        response = client.open("/v1/models/diabetes", method=f"BREW{n}")
        assert response.status_code == 405 and response.headers["Allow"] == "GET, HEAD"
    options = client.open(V1, method="OPTIONS")
    assert options.status_code == 200 and options.headers["Allow"] == "POST"
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "BREW" not in metrics
    assert 'method="other",route="unmatched",status="405"} 20.0' in metrics


def test_pages_carry_security_headers_and_a_same_site_cookie(client):
    page = client.get("/predictions")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "SameSite=Lax" in page.headers["Set-Cookie"]
    assert "HttpOnly" in page.headers["Set-Cookie"]


def test_a_form_token_expires(app):
    assert app.site.config["WTF_CSRF_TIME_LIMIT"] == 3600


def test_json_answers_write_what_flasks_own_provider_writes():
    import datetime
    import decimal

    import numpy as np

    from modelserve.web.documents import json_body

    document = {"at": datetime.date(2026, 1, 2), "price": decimal.Decimal("1.5"), 1: np.int64(3)}
    assert json.loads(json_body(document)) == {
        "at": "Fri, 02 Jan 2026 00:00:00 GMT",
        "price": "1.5",
        "1": 3,
    }
    with pytest.raises(TypeError):
        json_body({"unknown": object()})


def test_a_log_line_is_written_even_with_what_orjson_refuses():
    import logging

    from modelserve.logs import JsonFormatter

    record = logging.makeLogRecord({"msg": "odd \udc80 path", "big": 2**70})
    line = json.loads(JsonFormatter().format(record))
    assert line["big"] == 2**70 and line["message"] == "odd \udc80 path"


def test_request_ids_of_a_forked_process_never_repeat_its_parents():
    import os

    from modelserve.web.observability import _new_request_id

    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: its first id, then out without running pytest's teardown
        os.write(write, _new_request_id().encode())
        os._exit(0)
    os.waitpid(child, 0)
    os.close(write)
    theirs, ours = os.read(read, 64).decode(), _new_request_id()
    os.close(read)
    assert theirs[:16] != ours[:16] and len(theirs) == len(ours) == 32


def test_a_cut_off_compressed_body_is_refused(client):
    import gzip

    whole = gzip.compress(json.dumps({"instances": [ROW]}).encode())
    headers = {"Content-Encoding": "gzip"}
    assert client.post(V1, data=whole, headers=headers, content_type="application/json").json
    cut = client.post(V1, data=whole[:-8], headers=headers, content_type="application/json")
    assert cut.status_code == 400 and "complete gzip stream" in cut.json["error"]


def test_a_body_without_a_length_is_read_to_its_end(app):
    body = json.dumps({"instances": [ROW, ROW]}).encode()
    environ = EnvironBuilder(
        path=V1, method="POST", input_stream=io.BytesIO(body), content_type="application/json"
    ).get_environ()
    environ.pop("CONTENT_LENGTH", None)  # as an HTTP/2 request may come
    status, _, document = _call(app, environ)
    assert status == 200 and len(document["predictions"]) == 2


def test_a_page_on_a_rebound_domain_cannot_use_the_api_without_a_token(client):
    json_body = {"instances": [ROW]}
    rebound = {"Origin": "http://attacker.example:5100", "Host": "attacker.example:5100"}
    refused = client.post(V1, json=json_body, headers=rebound)
    assert refused.status_code == 403 and refused.json["field"] == "Origin"
    own = {"Origin": "http://localhost:5100", "Host": "localhost:5100"}
    assert client.post(V1, json=json_body, headers=own).status_code == 200
