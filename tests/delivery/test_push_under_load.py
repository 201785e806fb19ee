"""Pushes while clients keep predicting: no failed request, and the switch is seen at once."""

import uuid

import pytest
import requests

from tests.support.load import ROW, Load
from tests.support.processes import Server, Worker

BROKER = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture(params=["embedded", "celery"])
def serving(request, production):
    """Web server (2 processes) and, in Celery mode, a worker (2 processes) on production."""
    env = dict(production.env)
    processes = []
    if request.param == "celery":
        env.update(
            MODELSERVE_BROKER_URL=BROKER, MODELSERVE_QUEUE=f"delivery-{uuid.uuid4().hex[:8]}"
        )
        processes.append(Worker(env, concurrency=2))
    server = Server(env, workers=2)
    processes.append(server)
    yield server
    for process in reversed(processes):
        process.stop()


def versions_seen(load: Load) -> list[list[str]]:
    return [[a.version for a in answers] for answers in load.answers]


def test_a_push_switches_versions_under_load_without_errors(serving, production, development):
    development.commit_bundle("good")
    with Load(serving.url, clients=4) as load:
        result = development.push()
        assert result.returncode == 0, result.stderr
        load.wait_for_more(5)
    assert {a.status for a in load.all} == {200}
    for seen in versions_seen(load):
        switch = seen.index("2")
        # Each client saw the old version, then only the new one: no flapping back.
        assert seen[:switch] == ["1"] * switch and set(seen[switch:]) == {"2"}
    after = [
        requests.post(
            f"{serving.url}/v1/models/diabetes:predict", json={"instances": [ROW]}
        ).headers["X-Model-Version"]
        for _ in range(10)
    ]
    assert after == ["2"] * 10
    commit = production.store.history("diabetes")[-1].details["commit"]
    page = requests.get(f"{serving.url}/models").text
    assert commit[:12] in page and "accuracy PASS" in page and "latency PASS" in page


def test_a_refused_push_under_load_changes_nothing(serving, production, development):
    development.commit_bundle("poor")
    with Load(serving.url, clients=4) as load:
        result = development.push()
        assert result.returncode != 0
        load.wait_for_more(5)
    assert {a.status for a in load.all} == {200}
    assert {a.version for a in load.all} == {"1"}
