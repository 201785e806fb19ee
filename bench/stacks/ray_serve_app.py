"""Ray Serve serving the same NumPy forward pass (run in its own virtual environment).

python ray_serve_app.py PORT
"""

import os
import sys
import threading

import ray
from numpy_model import NumpyModel
from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse


@serve.deployment(num_replicas=2, ray_actor_options={"num_cpus": 0.5})
class Diabetes:
    def __init__(self) -> None:
        self.model = NumpyModel(os.environ["BENCH_BUNDLE"])

    async def __call__(self, request: Request) -> JSONResponse:
        body = await request.json()
        return JSONResponse({"predictions": self.model.predict(body["instances"]).tolist()})


if __name__ == "__main__":
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": int(sys.argv[1])})
    serve.run(Diabetes.bind(), route_prefix="/v1/models/diabetes:predict")
    threading.Event().wait()
