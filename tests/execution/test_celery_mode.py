"""Celery mode end to end: the real gunicorn server, real workers, the machine's RabbitMQ."""

import json
import re
import time
import uuid

import numpy as np
import pytest
import requests

from modelserve.datasets import read_csv
from modelserve.errors import InvalidInput, ModelNotFound
from modelserve.settings import demo_bundle_path
from tests.support.processes import Server
from tests.web.conftest import ROW


def predict(url: str, rows, **kwargs) -> requests.Response:
    return requests.post(f"{url}/v1/models/diabetes:predict", json={"instances": rows}, **kwargs)


def test_both_modes_give_identical_answers(server, celery_server, pima_csv):
    rows = read_csv(pima_csv).features[:100].tolist()
    embedded = predict(server.url, rows)
    celery = predict(celery_server.url, rows)
    assert embedded.status_code == celery.status_code == 200
    assert embedded.json() == celery.json()
    assert celery.headers["X-Model-Version"] == "1"
    infer = {
        "inputs": [
            {
                "name": "features",
                "shape": [100, 8],
                "datatype": "FP64",
                "data": np.ravel(rows).tolist(),
            }
        ]
    }
    assert (
        requests.post(f"{server.url}/v2/models/diabetes/infer", json=infer).json()
        == requests.post(f"{celery_server.url}/v2/models/diabetes/infer", json=infer).json()
    )


def test_pages_work_through_workers(celery_server):
    page = requests.get(f"{celery_server.url}/").text
    assert "celery</strong> mode" in page


def test_worker_errors_come_back_as_the_same_errors(celery_env, celery_worker):
    # Straight to the executor, so the worker (not the web tier's checks) finds the fault.
    from modelserve.execution.celery import CeleryExecutor
    from modelserve.settings import Settings
    from modelserve.worker.app import create_celery

    executor = CeleryExecutor(
        create_celery(
            Settings(
                broker_url=celery_env["MODELSERVE_BROKER_URL"], queue=celery_env["MODELSERVE_QUEUE"]
            )
        ),
        timeout=5,
    )
    with pytest.raises(ModelNotFound, match="no model 'nope'"):
        executor.predict("nope", None, np.ones((1, 8), dtype=np.float32))
    with pytest.raises(InvalidInput, match=r"shape \[N, 8\], got \[1, 7\]") as error:
        executor.predict("diabetes", None, np.ones((1, 7), dtype=np.float32))
    assert error.value.field == "inputs"


def test_a_reply_that_arrives_before_the_caller_listens_is_kept(celery_env, celery_worker):
    # The caller starts consuming its reply queue only once it waits for the answer: the
    # send itself must create the queue, or a quick worker's reply is dropped.
    from amqp.exceptions import NotFound

    from modelserve.settings import Settings
    from modelserve.worker.app import PREDICT_TASK, create_celery

    settings = Settings(
        broker_url=celery_env["MODELSERVE_BROKER_URL"], queue=celery_env["MODELSERVE_QUEUE"]
    )
    app = create_celery(settings)
    result = app.send_task(PREDICT_TASK, args=["diabetes", None, [ROW], None])
    with app.connection_for_write() as connection, connection.channel() as channel:
        deadline = time.monotonic() + 10
        while True:  # until the worker's reply waits in the queue, nobody consuming it yet
            try:
                waiting = channel.queue_declare(app.backend.oid, passive=True)
            except NotFound:
                pytest.fail("the reply queue was gone when the worker answered")
            if waiting.message_count == 1 or time.monotonic() > deadline:
                break
    assert (waiting.message_count, waiting.consumer_count) == (1, 0)
    assert result.get(timeout=5)["version"] == 1


def test_readiness_reports_broker_and_workers(celery_server):
    ready = requests.get(f"{celery_server.url}/readyz").json()
    assert ready == {
        "ready": True,
        "mode": "celery",
        "broker": "reachable",
        "workers": "1 answering",
    }


def test_each_worker_process_loads_the_model_once(celery_server, celery_worker):
    for _ in range(30):
        assert predict(celery_server.url, [ROW]).status_code == 200
    loads = [json.loads(line) for line in celery_worker.log.matching("loaded diabetes version 1")]
    children = set(celery_worker.child_pids())
    assert len(children) == 2
    assert sorted(record["pid"] for record in loads) == sorted(children)


def test_workers_follow_a_promotion_without_restart(celery_server, celery_worker, web_store):
    added = web_store.add(demo_bundle_path())
    try:
        web_store.promote("diabetes", added.version, "test promotion")
        answers = {predict(celery_server.url, [ROW]).headers["X-Model-Version"] for _ in range(8)}
        assert answers == {str(added.version)}
        assert celery_worker.log.matching(f"loaded diabetes version {added.version}")
    finally:
        web_store.rollback("diabetes", reason="test done")
    assert predict(celery_server.url, [ROW]).headers["X-Model-Version"] == "1"


@pytest.fixture
def no_worker_server(celery_env):
    """A server whose queue no worker consumes."""
    process = Server(
        {
            **celery_env,
            "MODELSERVE_QUEUE": f"nobody-{uuid.uuid4().hex[:8]}",
            "MODELSERVE_REQUEST_TIMEOUT": "1.5",
        },
        workers=1,
    )
    yield process
    process.stop()


def test_no_worker_answers_504_after_the_request_timeout(no_worker_server):
    started = time.monotonic()
    response = predict(no_worker_server.url, [ROW], timeout=30)
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert "no worker answered within 1.5 s" in response.json()["error"]
    assert 1.5 <= elapsed < 5
    ready = requests.get(f"{no_worker_server.url}/readyz")
    assert ready.status_code == 503 and ready.json()["workers"] == "none answered"
    assert requests.get(f"{no_worker_server.url}/v2/health/ready").status_code == 503


def test_queue_wait_is_measured(celery_server):
    assert predict(celery_server.url, [ROW]).status_code == 200
    metrics = requests.get(f"{celery_server.url}/metrics").text
    count = re.search(r"^modelserve_queue_wait_seconds_count (\S+)$", metrics, re.M)
    assert count and float(count.group(1)) >= 1
