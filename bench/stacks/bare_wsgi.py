"""The bare limit: one WSGI callable, no framework. It parses the body with orjson, runs the
NumPy forward pass and writes JSON, for both protocols: what the hardware and the HTTP server
allow. Served by granian and by gunicorn in bench/run.py."""

import os

import numpy as np
import orjson
from numpy_model import NumpyModel

model = NumpyModel(os.environ["BENCH_BUNDLE"])
V1 = "/v1/models/diabetes:predict"
V2 = "/v2/models/diabetes/infer"


def app(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    path = environ["PATH_INFO"]
    if path == V1:
        answer = {"predictions": model.predict(orjson.loads(body)["instances"]).tolist()}
    elif path == V2:
        tensor = orjson.loads(body)["inputs"][0]
        rows = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
        probabilities = model.predict(rows)
        answer = {
            "model_name": "diabetes",
            "outputs": [
                {
                    "name": "probability",
                    "shape": list(probabilities.shape),
                    "datatype": "FP32",
                    "data": probabilities.reshape(-1).tolist(),
                }
            ],
        }
    else:
        start_response("404 Not Found", [("Content-Length", "0")])
        return [b""]
    payload = orjson.dumps(answer)
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    )
    return [payload]
