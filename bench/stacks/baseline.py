"""THE BASELINE: the original tutorial's design, kept only for comparison.

Flask takes the request and hands it to a Celery worker over RabbitMQ; the worker loads the
Keras model from disk for every single task, as the tutorial's worker did, then predicts.

    gunicorn baseline:web          # the front end
    celery -A baseline worker      # the worker
"""

import os

from celery import Celery
from flask import Flask, jsonify, request

celery = Celery("baseline", broker=os.environ["BENCH_BROKER"], backend="rpc://")
celery.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_default_queue=os.environ.get("BENCH_QUEUE", "baseline"),
)


@celery.task(name="baseline.predict")
def predict(instances):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    model = keras.saving.load_model(os.path.join(os.environ["BENCH_BUNDLE"], "model.keras"))
    return model.predict_on_batch(__import__("numpy").asarray(instances, "float32")).tolist()


web = Flask(__name__)


@web.post("/v1/models/diabetes:predict")
def handle():
    result = predict.delay(request.get_json()["instances"])
    return jsonify({"predictions": result.get(timeout=60)})
