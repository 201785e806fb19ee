"""TensorFlow Serving REST API against the real server (embedded mode)."""

import json

import numpy as np
import pytest

from modelserve.datasets import read_csv
from modelserve.runtime import load_runtime
from tests.web.conftest import ROW, TOKEN


@pytest.fixture(scope="module")
def expected(web_store, pima_csv):
    """What the current model answers for the first 20 rows of the dataset."""
    features = read_csv(pima_csv).features[:20]
    return features, load_runtime(web_store.bundle("diabetes")).predict(features)


def test_row_format_predictions(server, http, expected):
    features, probabilities = expected
    response = http.post(
        f"{server.url}/v1/models/diabetes:predict", json={"instances": features.tolist()}
    )
    assert response.status_code == 200
    predictions = np.asarray(response.json()["predictions"])
    assert predictions.shape == (20, 1)
    np.testing.assert_allclose(predictions, probabilities, atol=1e-6)
    assert response.headers["X-Model-Version"] == "1"
    assert response.headers["X-Model-Name"] == "diabetes"
    assert len(response.headers["X-Request-ID"]) == 32


def test_columnar_format_and_named_inputs(server, http, expected, web_store):
    features, probabilities = expected
    names = web_store.bundle("diabetes").metadata.feature_names
    columnar = http.post(
        f"{server.url}/v1/models/diabetes:predict", json={"inputs": features.tolist()}
    ).json()
    np.testing.assert_allclose(columnar["outputs"], probabilities, atol=1e-6)
    by_feature = http.post(
        f"{server.url}/v1/models/diabetes:predict",
        json={"inputs": {name: features[:, i].tolist() for i, name in enumerate(names)}},
    ).json()
    np.testing.assert_allclose(by_feature["outputs"], probabilities, atol=1e-6)
    named_rows = http.post(
        f"{server.url}/v1/models/diabetes/versions/1:predict",
        json={
            "signature_name": "serving_default",
            "instances": [dict(zip(names, row, strict=True)) for row in features.tolist()],
        },
    ).json()
    np.testing.assert_allclose(named_rows["predictions"], probabilities, atol=1e-6)


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain"])
def test_types_a_browser_sends_cross_site_are_read_only_behind_a_token(
    server, token_server, http, content_type
):
    # `curl -d '{...}'` (the TensorFlow Serving docs' examples) sends a form Content-Type; so
    # does an HTML form on any other site, which could then make predictions unasked.
    body = json.dumps({"instances": [ROW]})
    headers = {"Content-Type": content_type}
    refused = http.post(f"{server.url}/v1/models/diabetes:predict", data=body, headers=headers)
    assert refused.status_code == 415 and refused.json()["field"] == "Content-Type"
    assert "application/json" in refused.json()["error"]
    headers["Authorization"] = f"Bearer {TOKEN}"
    url = f"{token_server.url}/v1/models/diabetes:predict"
    accepted = http.post(url, data=body, headers=headers)
    assert accepted.status_code == 200 and len(accepted.json()["predictions"]) == 1


def test_a_request_another_site_makes_is_refused_without_a_token(server, http):
    url = f"{server.url}/v1/models/diabetes:predict"
    own = http.post(url, json={"instances": [ROW]}, headers={"Origin": server.url})
    assert own.status_code == 200
    foreign = http.post(url, json={"instances": [ROW]}, headers={"Origin": "https://evil.example"})
    assert foreign.status_code == 403 and foreign.json()["field"] == "Origin"


def test_status_and_metadata(server, http):
    status = http.get(f"{server.url}/v1/models/diabetes").json()
    assert status == {
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
        ]
    }
    assert http.get(f"{server.url}/v1/models/diabetes/versions/1").status_code == 200
    metadata = http.get(f"{server.url}/v1/models/diabetes/metadata").json()
    assert metadata["model_spec"] == {"name": "diabetes", "signature_name": "", "version": "1"}
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    dims = signature["inputs"]["features"]["tensor_shape"]["dim"]
    assert [d["size"] for d in dims] == ["-1", "8"]
    assert signature["outputs"]["probability"]["dtype"] == "DT_FLOAT"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ('{"instances": [[1,2', 400, "body"),
        ('{"instances": [[6,148,72,35,0,33.6,0.627]]}', 400, "instances[0]"),
        ('{"instances": [[6,148,72,35,0,33.6,0.627,"x"]]}', 400, "instances[0][7]"),
        ('{"instances": [[6,148,72,35,0,33.6,NaN,50]]}', 400, "instances[0][6]"),
        ('{"instances": [[6,148,72,35,0,33.6,Infinity,50]]}', 400, "instances[0][6]"),
        ('{"instances": [[6,148,72,35,0,33.6,1e999,50]]}', 400, "instances[0][6]"),
        ('{"instances": [[6,148,72,35,0,33.6,1e39,50]]}', 400, "instances[0][6]"),
        ('{"inputs": {"features": [[6,148,72,35,0,33.6,-4e38,50]]}}', 400, "inputs.features[0][6]"),
        ('{"instances": [[6,148,72,35,true,33.6,1,50]]}', 400, "instances[0][4]"),
        ('{"instances": []}', 400, "instances"),
        ('{"instances": [{"glucose": 1}]}', 400, "instances[0].pregnancies"),
        ('{"inputs": {"bogus": [1]}}', 400, "inputs.bogus"),
        ('{"instances": [[1]], "inputs": [[1]]}', 400, "body"),
        ('{"signature_name": "other", "instances": [[1,2,3,4,5,6,7,8]]}', 400, "signature_name"),
        ('{"instances": [[1,2,3,4,5,6,7,8]], "extra": 1}', 400, "body.extra"),
        ("[1, 2]", 400, "body"),
        (json.dumps({"instances": [ROW] * 1001}), 413, "instances"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(server, http, body, status, field):
    response = http.post(
        f"{server.url}/v1/models/diabetes:predict",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text
    assert response.json()["field"] == field
    assert response.json()["error"].startswith(field)


def test_limits_methods_media_types_and_unknown_models(server, http):
    too_big = http.post(
        f"{server.url}/v1/models/diabetes:predict",
        data=b'{"instances": [' + b"[1,2,3,4,5,6,7,8]," * 20000 + b"[1]]}",
        headers={"Content-Type": "application/json"},
    )
    assert too_big.status_code == 413 and too_big.json()["field"] == "body"

    assert (
        http.post(
            f"{server.url}/v1/models/diabetes:predict",
            data="a,b",
            headers={"Content-Type": "text/csv"},
        ).status_code
        == 415
    )
    wrong_method = http.get(f"{server.url}/v1/models/diabetes:predict")
    assert wrong_method.status_code == 405 and "error" in wrong_method.json()
    for path in ("/v1/models/nope:predict", "/v1/models/diabetes/versions/9:predict"):
        response = http.post(f"{server.url}{path}", json={"instances": [ROW]})
        assert response.status_code == 404 and "error" in response.json()
    assert http.get(f"{server.url}/v1/models/nope").status_code == 404
    assert http.get(f"{server.url}/v1/models/diabetes/versions/9/metadata").status_code == 404
    assert http.get(f"{server.url}/v1/nothing").status_code == 404
