"""Broker outages and worker deaths, through a proxy the test cuts (never the machine's broker)."""

import json
import os
import signal
import threading
import time
import uuid

import pytest
import requests

from modelserve.settings import Settings
from modelserve.worker.app import create_celery
from tests.support.processes import Server, Worker
from tests.support.proxy import TcpProxy
from tests.web.conftest import ROW

TIMEOUT = 8


@pytest.fixture
def proxy():
    proxy = TcpProxy(("127.0.0.1", 5672))
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def env(base_env, proxy):
    return {
        **base_env,
        "MODELSERVE_BROKER_URL": f"amqp://guest:guest@127.0.0.1:{proxy.port}//",
        "MODELSERVE_QUEUE": f"faults-{uuid.uuid4().hex[:8]}",
        "MODELSERVE_REQUEST_TIMEOUT": str(TIMEOUT),
    }


def predict(url: str) -> requests.Response:
    return requests.post(
        f"{url}/v1/models/diabetes:predict", json={"instances": [ROW]}, timeout=TIMEOUT + 10
    )


def test_broker_outage_answers_503_then_recovers_without_restarts(env, proxy):
    worker = Worker(env)
    server = Server(env, workers=1)
    try:
        assert predict(server.url).status_code == 200
        proxy.stop()
        for _ in range(3):
            started = time.monotonic()
            response = predict(server.url)
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"] == "5"
            assert "broker" in response.json()["error"]
            assert time.monotonic() - started < TIMEOUT
        assert requests.get(f"{server.url}/readyz").status_code == 503

        proxy.start()
        # The worker reconnects on its own schedule; every attempt meanwhile must answer
        # promptly (503 or 504), and one must succeed well within a minute.
        deadline = time.monotonic() + 60
        statuses = []
        while time.monotonic() < deadline:
            statuses.append(predict(server.url).status_code)
            if statuses[-1] == 200:
                break
        assert statuses[-1] == 200, statuses
        assert set(statuses) <= {200, 503, 504}
        assert [predict(server.url).status_code for _ in range(5)] == [200] * 5
        assert worker.popen.poll() is None and server.popen.poll() is None
    finally:
        server.stop()
        worker.stop()


def reserved_by(settings: Settings, task_holder: str) -> bool:
    inspect = create_celery(settings).control.inspect(timeout=1.0)
    for tasks in (inspect.active() or {}, inspect.reserved() or {}):
        for node, items in tasks.items():
            if node == task_holder and items:
                return True
    return False


def test_a_worker_killed_mid_task_loses_no_request(env):
    first = Worker(env)
    server = Server(env, workers=1)
    second = None
    try:
        (child,) = first.child_pids()
        node = json.loads(first.log.matching("worker ready")[0])["node"]
        os.kill(child, signal.SIGSTOP)  # the task reaches this process and stays there
        answer = {}
        request = threading.Thread(target=lambda: answer.update(response=predict(server.url)))
        request.start()
        settings = Settings(broker_url=env["MODELSERVE_BROKER_URL"], queue=env["MODELSERVE_QUEUE"])
        deadline = time.monotonic() + 20
        while not reserved_by(settings, node):
            assert time.monotonic() < deadline, "the task never reached the first worker"
        first.stop(signal.SIGKILL)
        second = Worker(env)
        request.join(TIMEOUT + 15)
        assert answer["response"].status_code == 200, answer["response"].text
        assert len(answer["response"].json()["predictions"]) == 1
    finally:
        server.stop()
        first.stop(signal.SIGKILL)
        if second is not None:
            second.stop()
