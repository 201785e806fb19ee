"""The bare limit: gunicorn + Flask calling the NumPy forward pass directly. No framework,
no validation beyond what NumPy does, no metrics: what the hardware allows."""

import os

from flask import Flask, jsonify, request
from numpy_model import NumpyModel

model = NumpyModel(os.environ["BENCH_BUNDLE"])
app = Flask(__name__)


@app.post("/v1/models/diabetes:predict")
def predict():
    return jsonify({"predictions": model.predict(request.get_json()["instances"]).tolist()})
