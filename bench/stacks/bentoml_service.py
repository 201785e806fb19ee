"""BentoML 1.4 serving the same NumPy forward pass (run in its own virtual environment)."""

import os

import bentoml
from numpy_model import NumpyModel


@bentoml.service(workers=2, traffic={"timeout": 30})
class Diabetes:
    def __init__(self) -> None:
        self.model = NumpyModel(os.environ["BENCH_BUNDLE"])

    @bentoml.api(route="/v1/models/diabetes:predict")
    def predict(self, instances: list[list[float]]) -> dict:
        return {"predictions": self.model.predict(instances).tolist()}
