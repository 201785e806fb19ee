"""Open Inference Protocol V2 against the real server, through Triton's own HTTP client."""

import json

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from modelserve.datasets import read_csv
from modelserve.runtime import load_runtime
from tests.web.conftest import ROW


@pytest.fixture
def client(server):
    client = triton.InferenceServerClient(server.url.removeprefix("http://"))
    yield client
    client.close()


@pytest.fixture(scope="module")
def batch(web_store, pima_csv):
    features = read_csv(pima_csv).features[:32]
    return features, load_runtime(web_store.bundle("diabetes")).predict(features)


def test_server_and_model_metadata(client):
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("diabetes") and client.is_model_ready("diabetes", "1")
    assert not client.is_model_ready("nope")
    server = client.get_server_metadata()
    assert server["name"] == "modelserve" and "binary_tensor_data" in server["extensions"]
    model = client.get_model_metadata("diabetes")
    assert model["versions"] == ["1"]
    assert model["inputs"] == [{"name": "features", "datatype": "FP32", "shape": [-1, 8]}]
    assert [o["name"] for o in model["outputs"]] == ["probability", "class"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("binary", [True, False])
def test_infer_with_the_triton_client(client, batch, dtype, binary):
    features, probabilities = batch
    tensor = triton.InferInput(
        "features", list(features.shape), "FP32" if dtype == np.float32 else "FP64"
    )
    tensor.set_data_from_numpy(features.astype(dtype), binary_data=binary)
    outputs = [
        triton.InferRequestedOutput(name, binary_data=binary) for name in ("probability", "class")
    ]
    result = client.infer("diabetes", [tensor], outputs=outputs, request_id="req-7")
    np.testing.assert_allclose(result.as_numpy("probability"), probabilities, atol=1e-6)
    assert result.as_numpy("probability").shape == (32, 1)
    np.testing.assert_array_equal(result.as_numpy("class"), (probabilities > 0.5).astype(np.int64))
    response = result.get_response()
    assert response["model_version"] == "1" and response["id"] == "req-7"


def test_infer_with_client_defaults_returns_binary_outputs(client, batch):
    features, probabilities = batch
    tensor = triton.InferInput("features", list(features.shape), "FP32")
    tensor.set_data_from_numpy(features)
    result = client.infer("diabetes", [tensor], model_version="1")
    np.testing.assert_allclose(result.as_numpy("probability"), probabilities, atol=1e-6)


def test_compressed_requests(client, batch):
    features, probabilities = batch
    tensor = triton.InferInput("features", list(features.shape), "FP32")
    tensor.set_data_from_numpy(features)
    for algorithm in ("gzip", "deflate"):
        result = client.infer("diabetes", [tensor], request_compression_algorithm=algorithm)
        np.testing.assert_allclose(result.as_numpy("probability"), probabilities, atol=1e-6)


def test_client_sees_clear_errors(client):
    tensor = triton.InferInput("features", [1, 7], "FP32")
    tensor.set_data_from_numpy(np.ones((1, 7), dtype=np.float32))
    with pytest.raises(InferenceServerException, match=r"inputs\[0\]\.shape: expected \[N, 8\]"):
        client.infer("diabetes", [tensor])
    nan = triton.InferInput("features", [1, 8], "FP32")
    nan.set_data_from_numpy(np.full((1, 8), np.nan, dtype=np.float32))
    with pytest.raises(InferenceServerException, match="finite number"):
        client.infer("diabetes", [nan])
    with pytest.raises(InferenceServerException, match="no model 'nope'"):
        client.infer("nope", [nan])


def infer_body(**tensor):
    return {
        "inputs": [{"name": "features", "shape": [1, 8], "datatype": "FP32", "data": ROW, **tensor}]
    }


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (infer_body(datatype="INT32"), 400, "inputs[0].datatype"),
        (infer_body(datatype="FP99"), 400, "body.inputs[0].datatype"),
        (infer_body(name="x"), 400, "inputs[0].name"),
        (infer_body(shape=[1, 7]), 400, "inputs[0].shape"),
        (infer_body(shape=[0, 8], data=[]), 400, "inputs[0].shape"),
        (infer_body(shape=[2, 8]), 400, "inputs[0].data"),
        (infer_body(data=[*ROW[:7], "x"]), 400, "inputs[0].data[7]"),
        (infer_body(data=[ROW[:7] + [1e999]]), 400, "inputs[0].data[0][7]"),
        (infer_body(data=ROW[:7] + [1e39]), 400, "inputs[0].data[7]"),
        (infer_body(shape=[1001, 8], data=[ROW] * 1001), 413, "inputs[0]"),
        ({"inputs": []}, 400, "body.inputs"),
        ({**infer_body(), "outputs": [{"name": "logits"}]}, 400, "outputs[0].name"),
    ],
)
def test_bad_infer_requests_are_4xx_naming_the_field(server, http, body, status, field):
    # json.dumps writes infinity as `Infinity`, which strict JSON clients refuse to send.
    response = http.post(
        f"{server.url}/v2/models/diabetes/infer",
        data=json.dumps(body),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == status, response.text
    assert response.json()["field"] == field


def test_binary_length_mismatch_is_refused(server, http):
    header = (
        b'{"inputs":[{"name":"features","shape":[1,8],"datatype":"FP32",'
        b'"parameters":{"binary_data_size":32}}]}'
    )
    response = http.post(
        f"{server.url}/v2/models/diabetes/infer",
        data=header + b"\0" * 16,
        headers={
            "Inference-Header-Content-Length": str(len(header)),
            "Content-Type": "application/octet-stream",
        },
    )
    assert response.status_code == 400
    assert response.json()["field"] == "inputs[0].parameters.binary_data_size"
    response = http.post(
        f"{server.url}/v2/models/diabetes/infer",
        data=header,
        headers={"Inference-Header-Content-Length": "9999"},
    )
    assert (
        response.status_code == 400
        and response.json()["field"] == "Inference-Header-Content-Length"
    )
