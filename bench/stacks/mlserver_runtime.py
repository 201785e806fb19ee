"""MLServer serving the same NumPy forward pass as a custom runtime (V2 only)."""

import os

from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from numpy_model import NumpyModel


class Diabetes(MLModel):
    async def load(self) -> bool:
        self.model = NumpyModel(os.environ["BENCH_BUNDLE"])
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        rows = NumpyCodec.decode_input(payload.inputs[0])
        probabilities = self.model.predict(rows)
        return InferenceResponse(
            model_name=self.name,
            outputs=[NumpyCodec.encode_output("probability", probabilities)],
        )
