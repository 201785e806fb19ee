"""The task's logic, without a broker."""

import json

from modelserve.runtime import ModelCache
from modelserve.settings import Settings
from modelserve.worker.app import celery_config, run_prediction
from tests.web.conftest import ROW


def test_answers_are_plain_json(demo_store):
    answer = run_prediction(ModelCache(demo_store), "diabetes", None, None, [ROW, ROW])
    assert json.loads(json.dumps(answer)) == answer
    assert answer["model"] == "diabetes" and answer["version"] == 1
    assert len(answer["probabilities"]) == 2 and 0 < answer["probabilities"][0] < 1


def test_errors_come_back_as_data(demo_store):
    cache = ModelCache(demo_store)
    unknown = run_prediction(cache, "nope", None, None, [ROW])["error"]
    assert unknown["kind"] == "ModelNotFound" and "nope" in unknown["message"]
    narrow = run_prediction(cache, "diabetes", None, None, [ROW[:7]])["error"]
    assert narrow == {
        "kind": "InvalidInput",
        "field": "inputs",
        "message": "expected a batch of shape [N, 8], got [1, 7]",
    }
    ragged = run_prediction(cache, "diabetes", None, None, [ROW, ROW[:3]])["error"]
    assert ragged["kind"] == "InvalidInput" and ragged["field"] == "rows"


def test_configuration_is_json_only_with_late_acks():
    config = celery_config(Settings(broker_url="amqp://u:p@broker:5672//", queue="q1"))
    assert config["accept_content"] == ["json"]
    assert config["task_serializer"] == config["result_serializer"] == "json"
    assert config["task_acks_late"] and config["task_reject_on_worker_lost"]
    assert config["worker_prefetch_multiplier"] == 1
    assert config["task_time_limit"] >= 30 and config["broker_heartbeat"] <= 30
    assert config["task_default_queue"] == "q1"
