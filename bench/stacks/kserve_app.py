"""KServe's model server with the same NumPy forward pass, for both protocols.

python kserve_app.py PORT
"""

import os
import sys
import uuid

import kserve
from kserve import InferOutput, InferRequest, InferResponse
from numpy_model import NumpyModel


class Diabetes(kserve.Model):
    def __init__(self):
        super().__init__("diabetes")
        self.load()

    def load(self) -> bool:
        self.model = NumpyModel(os.environ["BENCH_BUNDLE"])
        self.ready = True
        return True

    def predict(self, payload, headers=None, response_headers=None):
        if isinstance(payload, InferRequest):
            probabilities = self.model.predict(payload.inputs[0].as_numpy())
            output = InferOutput(
                name="probability", shape=list(probabilities.shape), datatype="FP32"
            )
            output.set_data_from_numpy(probabilities, binary_data=False)
            return InferResponse(
                model_name=self.name,
                infer_outputs=[output],
                response_id=payload.id or str(uuid.uuid4()),
            )
        return {"predictions": self.model.predict(payload["instances"]).tolist()}


if __name__ == "__main__":
    kserve.ModelServer(http_port=int(sys.argv[1]), workers=2, enable_grpc=False).start([Diabetes()])
