"""The prediction lane answers exactly as Flask's views would, and leaves the rest to Flask."""

from __future__ import annotations

import gzip
import json
import logging

import numpy as np
import pytest
from flask import request_started
from pydantic import SecretStr

from modelserve.errors import BackendUnavailable
from modelserve.execution.embedded import EmbeddedExecutor
from modelserve.runtime import ModelCache
from modelserve.settings import Settings
from modelserve.web.app import create_app

ROW = [6, 148, 72, 35, 0, 33.6, 0.627, 50]
V1 = "/v1/models/diabetes:predict"
V2 = "/v2/models/diabetes/infer"

REQUESTS = {
    "rows": (V1, {"instances": [ROW, ROW]}),
    "columns": (V1, {"inputs": {"features": [ROW]}}),
    "named features": (V1, {"instances": [dict(zip("abcdefgh", ROW, strict=True))]}),
    "a version": ("/v1/models/diabetes/versions/1:predict", {"instances": [ROW]}),
    "no such version": ("/v1/models/diabetes/versions/9:predict", {"instances": [ROW]}),
    "no such model": ("/v1/models/nope:predict", {"instances": [ROW]}),
    "a short row": (V1, {"instances": [ROW[:7]]}),
    "a string": (V1, {"instances": [["6", *ROW[1:]]]}),
    "too many rows": (V1, {"instances": [ROW] * 6}),
    "not JSON": (V1, b"{instances"),
    "v2": (
        V2,
        {"inputs": [{"name": "features", "shape": [1, 8], "datatype": "FP32", "data": ROW}]},
    ),
    "v2 a version": (
        "/v2/models/diabetes/versions/1/infer",
        {"inputs": [{"name": "features", "shape": [1, 8], "datatype": "FP64", "data": ROW}]},
    ),
    "v2 binary output": (
        V2,
        {
            "inputs": [{"name": "features", "shape": [1, 8], "datatype": "FP32", "data": ROW}],
            "outputs": [{"name": "probability", "parameters": {"binary_data": True}}],
        },
    ),
    "v2 wrong shape": (
        V2,
        {"inputs": [{"name": "features", "shape": [1, 7], "datatype": "FP32", "data": ROW[:7]}]},
    ),
}


class FailingExecutor(EmbeddedExecutor):
    """Runs nothing: fails as a broken backend would."""

    def __init__(self, cache: ModelCache, error: Exception):
        super().__init__(cache)
        self.error = error

    def predict(self, model, batch):
        raise self.error


def apps(settings: Settings, executor=None):
    """The application as served, and the same application with Flask answering everything."""
    served = create_app(settings, executor)
    flask_only = create_app(settings, executor)
    observer = flask_only.wsgi_app
    observer.wsgi_app = observer.wsgi_app.flask_wsgi
    return served, flask_only


def answered_by_flask(app) -> list:
    seen = []
    request_started.connect(lambda sender, **_: seen.append(sender), app, weak=False)
    return seen


def post(app, path, document, **kwargs):
    data = document if isinstance(document, bytes) else json.dumps(document)
    kwargs.setdefault("content_type", "application/json")
    return app.test_client().post(path, data=data, **kwargs)


def same(a, b):
    assert a.status == b.status
    assert a.get_data() == b.get_data()

    def headers(response):  # every header but the request id, which differs by design
        return sorted((k, v) for k, v in response.headers.items() if k != "X-Request-ID")

    assert headers(a) == headers(b)


@pytest.fixture
def settings(demo_store, pima_csv):
    return Settings(store=demo_store.root, data=pima_csv, max_batch_rows=5)


@pytest.mark.parametrize("case", REQUESTS)
def test_the_lane_answers_as_flask_does(settings, case):
    path, document = REQUESTS[case]
    served, flask_only = apps(settings)
    by_flask = answered_by_flask(served)
    lane, flask = post(served, path, document), post(flask_only, path, document)
    same(lane, flask)
    assert by_flask == []  # the lane answered it
    assert lane.headers["X-Request-ID"]


@pytest.mark.parametrize(
    ("error", "status"), [(BackendUnavailable("the broker is down"), 503), (OSError("disk"), 500)]
)
def test_backend_failures_are_answered_as_flask_does(settings, demo_store, error, status, caplog):
    executor = FailingExecutor(ModelCache(demo_store), error)
    served, flask_only = apps(settings, executor)
    by_flask = answered_by_flask(served)
    with caplog.at_level(logging.WARNING, logger="modelserve.web.errors"):
        lane = post(served, V1, {"instances": [ROW]})
    lane_logged, caplog.records[:] = list(caplog.records), []
    with caplog.at_level(logging.WARNING, logger="modelserve.web.errors"):
        flask = post(flask_only, V1, {"instances": [ROW]})
    same(lane, flask)
    assert lane.status_code == status and by_flask == []
    rid = lane.headers["X-Request-ID"]
    (record,) = [r for r in lane_logged if rid in r.getMessage()]
    (flask_record,) = caplog.records
    assert (record.levelname, bool(record.exc_info)) == (
        flask_record.levelname,
        bool(flask_record.exc_info),
    )
    assert bool(record.exc_info) == (status == 500)  # an unexpected error logs its trace


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json; charset=utf-8",
        "APPLICATION/JSON",
        None,
        "application/x-www-form-urlencoded",
    ],
)
def test_every_content_type_the_views_read_stays_in_the_lane(settings, content_type):
    served, flask_only = apps(settings)
    by_flask = answered_by_flask(served)
    body = json.dumps({"instances": [ROW]})
    lane = served.test_client().post(V1, data=body, content_type=content_type)
    flask = flask_only.test_client().post(V1, data=body, content_type=content_type)
    same(lane, flask)
    assert lane.status_code == 200 and by_flask == []


def test_binary_tensors_are_answered_as_flask_does(settings):
    header = json.dumps(
        {
            "inputs": [
                {
                    "name": "features",
                    "shape": [2, 8],
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 64},
                }
            ],
            "outputs": [{"name": "probability", "parameters": {"binary_data": True}}],
        }
    ).encode()
    body = header + np.asarray([ROW, ROW], dtype=np.float32).tobytes()
    served, flask_only = apps(settings)
    by_flask = answered_by_flask(served)
    kwargs = {
        "content_type": "application/octet-stream",
        "headers": {"Inference-Header-Content-Length": str(len(header))},
    }
    lane = post(served, V2, body, **kwargs)
    same(lane, post(flask_only, V2, body, **kwargs))
    assert lane.status_code == 200 and by_flask == []
    assert lane.headers["Inference-Header-Content-Length"]


def test_what_is_out_of_the_ordinary_goes_to_flask(settings):
    served, flask_only = apps(settings.model_copy(update={"api_token": SecretStr("s3cret")}))
    by_flask = answered_by_flask(served)
    body = json.dumps({"instances": [ROW]}).encode()

    assert post(served, V1, body).status_code == 401
    assert (
        post(served, V2, REQUESTS["v2"][1], headers={"Authorization": "Bearer no"}).status_code
        == 401
    )
    auth = {"Authorization": "Bearer s3cret"}
    assert post(served, V1, body, content_type="text/html", headers=auth).status_code == 415
    zipped = post(served, V1, gzip.compress(body), headers={**auth, "Content-Encoding": "gzip"})
    assert zipped.status_code == 200
    for odd in (
        {"headers": {**auth, "Transfer-Encoding": "chunked"}},
        {"headers": auth, "environ_overrides": {"CONTENT_LENGTH": ""}},
    ):
        same(post(served, V1, body, **odd), post(flask_only, V1, body, **odd))
    assert len(by_flask) == 6

    answer = post(served, V1, body, headers=auth)
    assert answer.status_code == 200 and len(by_flask) == 6  # ordinary again: the lane
    np.testing.assert_allclose(answer.json["predictions"], zipped.json["predictions"])


def test_too_large_a_body_goes_to_flask(settings):
    served, _ = apps(settings.model_copy(update={"max_body_bytes": 64}))
    by_flask = answered_by_flask(served)
    answer = post(served, V1, {"instances": [ROW, ROW, ROW]})
    assert answer.status_code == 413 and answer.json["field"] == "body"
    assert len(by_flask) == 1


def test_lane_answers_are_logged_under_flasks_route_names(settings, caplog):
    served, _ = apps(settings)
    rules = {rule.rule for rule in served.url_map.iter_rules()}
    with caplog.at_level(logging.INFO, logger="modelserve.access"):
        post(served, V1, {"instances": [ROW]})
        post(served, "/v2/models/diabetes/versions/1/infer", REQUESTS["v2"][1])
        post(served, "/v1/models/nope:predict", {"instances": [ROW]})
    lines = [r for r in caplog.records if r.name == "modelserve.access"]
    assert [(r.route, r.status, r.model) for r in lines] == [
        ("/v1/models/<model_name:name>:predict", 200, "diabetes"),
        ("/v2/models/<model_name:name>/versions/<int:version>/infer", 200, "diabetes"),
        ("/v1/models/<model_name:name>:predict", 404, None),
    ]
    assert {r.route for r in lines} <= rules
