"""Broker outages and worker deaths, through a proxy the test cuts (never the machine's broker)."""

import json
import os
import signal
import threading
import time
import uuid

import numpy as np
import pytest
import requests

from modelserve.bundles import Bundle
from modelserve.datasets import read_csv
from modelserve.runtime import NumpyRuntime
from modelserve.settings import Settings, demo_bundle_path
from modelserve.worker.app import create_celery
from tests.support.answers import SAME_PROBABILITY
from tests.support.processes import Server, Worker
from tests.support.traffic import Outcome, Traffic, phase, table
from tests.web.conftest import ROW

TIMEOUT = 8


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


def test_under_traffic_a_cut_and_a_stall_heal_within_5_s(env, proxy, pima_csv):
    # A stall longer than the request timeout and than the heartbeats allow: answers are
    # lost and connections are dropped on both sides, and must come back by themselves.
    env = {**env, "MODELSERVE_REQUEST_TIMEOUT": "3"}
    rows = read_csv(pima_csv).features[:50].tolist()
    expected = NumpyRuntime(Bundle.open(demo_bundle_path())).load().predict(np.asarray(rows))

    def is_right(outcome: Outcome) -> bool:
        return abs(outcome.probability - float(expected[outcome.row, 0])) <= SAME_PROBABILITY

    worker = Worker(env, concurrency=2)
    server = Server(env, workers=2)
    readiness = []
    try:
        with Traffic(server.url, rows, clients=4, timeout=15) as traffic:
            started = time.monotonic()
            traffic.wait_for_answers(started, 20)
            cut = time.monotonic()
            proxy.stop()
            time.sleep(4)  # the outage itself, not a wait for anything
            restoring = time.monotonic()
            proxy.start()
            restored = time.monotonic()
            traffic.wait_for_answers(restored + 5, 20)

            stalled = time.monotonic()
            proxy.stall()
            readiness.append(wait_for_readiness(server.url, 503, within=5))
            time.sleep(max(0.0, stalled + 12 - time.monotonic()))  # the stall itself
            proxy.resume()
            resumed = time.monotonic()
            readiness.append(wait_for_readiness(server.url, 200, within=5))
            traffic.wait_for_answers(resumed + 5, 20)
            ended = time.monotonic()
        phases = [
            phase("steady", traffic.outcomes, started, cut, started, is_right),
            phase("broker refused 4 s", traffic.outcomes, cut, stalled, restored, is_right),
            phase("connection stalled 12 s", traffic.outcomes, stalled, ended, resumed, is_right),
        ]
        print(table(phases))
        for outcome in traffic.outcomes:
            if outcome.status != 200 and not outcome.sent < restored:
                print(f"{outcome.sent - started:7.3f} {outcome.status} {outcome.error}")
        for result in phases:
            assert result.lost == result.wrong == result.other == 0, result
            assert result.steady_after is not None and result.steady_after <= 5, result
        assert phases[0].ok == phases[0].sent
        # Accepted during the stall, their answers could not come: 504, and no later.
        assert phases[2].timed_out > 0
        stalled_out = [o for o in traffic.outcomes if stalled <= o.sent < resumed - 4]
        assert all(o.status == 504 and o.answered - o.sent < 3.5 for o in stalled_out)
        # During the cut, publishing fails: 503 at once, never a wait for the timeout.
        # (A publish retries once within 0.2 s: one sent just before the end may succeed.)
        refused = [o for o in traffic.outcomes if cut + 1 <= o.sent < restoring - 0.5]
        assert refused and {o.status for o in refused} == {503}
        assert max(o.answered - o.sent for o in refused) < 1
        assert readiness[0] < stalled + 5 and readiness[1] < resumed + 5
        assert worker.popen.poll() is None and server.popen.poll() is None
    finally:
        server.stop()
        worker.stop()


def wait_for_readiness(url: str, status: int, within: float) -> float:
    """Poll ``/readyz`` until it answers ``status``; when it did (monotonic)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            if requests.get(f"{url}/readyz", timeout=within).status_code == status:
                return time.monotonic()
        except requests.RequestException:
            pass
    raise AssertionError(f"/readyz did not answer {status} within {within} s")
