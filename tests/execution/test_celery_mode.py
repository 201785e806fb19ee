"""Celery mode end to end: the real web server, real workers, the machine's RabbitMQ."""

import contextlib
import json
import re
import socket
import sqlite3
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import requests

from modelserve.bundles import ModelStore
from modelserve.datasets import read_csv
from modelserve.errors import InvalidInput, ModelNotFound
from modelserve.runtime import NumpyRuntime
from modelserve.settings import demo_bundle_path
from tests.support.metrics import samples_once
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


def test_pages_work_through_workers(celery_server, server):
    page = requests.get(f"{celery_server.url}/").text
    assert "celery</strong> mode" in page
    # The model's whole dataset, predicted by the workers, as the embedded server does.
    summaries = []
    for url in (celery_server.url, server.url):
        with requests.Session() as browser:
            form = browser.get(f"{url}/predictions").text
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
            posted = browser.post(
                f"{url}/predictions/data", data={"csrf_token": token, "model": "diabetes"}
            )
            assert posted.status_code == 200 and "/results/" in posted.url
            summaries.append(
                re.search(r'<dl class="summary" id="summary">.*?</dl>', posted.text, re.S).group(0)
            )
    assert summaries[0] == summaries[1] and "765" in summaries[0]


def celery_executor(env: dict[str, str], timeout: float = 5):
    from modelserve.execution.celery import CeleryExecutor
    from modelserve.settings import Settings
    from modelserve.worker.app import create_celery

    settings = Settings(broker_url=env["MODELSERVE_BROKER_URL"], queue=env["MODELSERVE_QUEUE"])
    return CeleryExecutor(create_celery(settings), timeout=timeout)


def test_worker_errors_come_back_as_the_same_errors(celery_env, celery_server, tmp_path):
    # Straight to the executor, so the worker (not the web tier's checks) finds the fault.
    executor = celery_executor(celery_env)
    elsewhere = ModelStore(tmp_path / "elsewhere")
    elsewhere.add(demo_bundle_path(), "nope")
    unknown = NumpyRuntime(elsewhere.bundle("nope", 1)).load()
    # The worker asks the web node for it, whose store has no such model either.
    with pytest.raises(ModelNotFound, match="no model 'nope'"):
        executor.predict(unknown, np.ones((1, 8), dtype=np.float32))
    demo = NumpyRuntime(ModelStore(Path(celery_env["MODELSERVE_STORE"])).bundle("diabetes")).load()
    with pytest.raises(InvalidInput, match=r"shape \[N, 8\], got \[1, 7\]") as error:
        executor.predict(demo, np.ones((1, 7), dtype=np.float32))
    assert error.value.field == "inputs"


def test_an_answer_sent_while_nobody_listens_waits_for_the_listener(celery_env, celery_worker):
    # A task may be sent while the reply listener (re)connects: declaring the reply queue
    # before the task keeps the worker's answer until the listener consumes again.
    from modelserve.worker.app import PREDICT_TASK

    executor = celery_executor(celery_env)
    listener = executor.replies
    app = executor.app
    with app.producer_pool.acquire(block=True) as producer:
        listener.declare(producer, {})
        app.send_task(
            PREDICT_TASK,
            kwargs={"model": "diabetes", "version": None, "digest": None, "rows": [ROW]},
            task_id="early-answer",
            reply_to=listener.queue.name,
            producer=producer,
        )
    with app.connection_for_write() as connection, connection.channel() as channel:
        deadline = time.monotonic() + 10
        while True:  # until the worker's answer waits in the queue, nobody consuming it yet
            waiting = channel.queue_declare(listener.queue.name, passive=True)
            if waiting.message_count == 1 or time.monotonic() > deadline:
                break
    assert (waiting.message_count, waiting.consumer_count) == (1, 0)
    answer = listener.expect("early-answer")
    listener.start()
    try:
        assert answer.result(timeout=5)["result"]["version"] == 1
    finally:
        listener.stop()


def test_readiness_is_a_round_trip_through_a_worker(celery_server):
    ready = requests.get(f"{celery_server.url}/readyz").json()
    assert ready.pop("round_trip").startswith("answered")
    assert ready.pop("worker", None) in (None, socket.gethostname())
    assert ready == {"ready": True, "mode": "celery", "broker": "reachable"}


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
    assert ready.status_code == 503 and ready.json()["workers"] == "no answer within 1 s"
    assert requests.get(f"{no_worker_server.url}/v2/health/ready").status_code == 503


def test_queue_wait_is_measured(celery_server):
    assert predict(celery_server.url, [ROW]).status_code == 200
    count = ("modelserve_queue_wait_seconds_count", ())
    assert samples_once(celery_server.url, lambda now: now.get(count, 0) >= 1).get(count, 0) >= 1


def test_each_prediction_is_logged_once_by_the_web_side(celery_server, web_store, pima_csv):
    rows = read_csv(pima_csv).features[:20].tolist()
    prefix = f"once-{uuid.uuid4().hex[:8]}"
    for i, row in enumerate(rows):
        answer = predict(celery_server.url, [row], headers={"X-Request-ID": f"{prefix}-{i}"})
        assert answer.status_code == 200
    multi = predict(celery_server.url, rows[:3], headers={"X-Request-ID": f"{prefix}-multi"})
    assert multi.status_code == 200

    database = web_store.root.parent / "predictions.db"
    query = "SELECT request_id, row, route FROM predictions WHERE request_id LIKE ?"
    deadline = time.monotonic() + 10
    while len(logged := _rows(database, query, f"{prefix}-%")) < len(rows) + 3:
        assert time.monotonic() < deadline, logged
        time.sleep(0.05)  # between readings of a log written every quarter second
    assert sorted(logged) == sorted(
        [(f"{prefix}-{i}", 0, "v1") for i in range(len(rows))]
        + [(f"{prefix}-multi", row, "v1") for row in range(3)]
    )


def _rows(database: Path, query: str, pattern: str) -> list[tuple]:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        try:
            return connection.execute(query, (pattern,)).fetchall()
        except sqlite3.OperationalError:  # the table: made by the server's first write
            return []
