"""A RabbitMQ that comes back empty (its data lost, as a container recreated without its
volume): no task queue, no reply queue, the deployment's user made anew from its settings."""

from __future__ import annotations

import json
import shutil
import signal
import time

import numpy as np
import pytest

from modelserve.bundles import ModelStore
from modelserve.datasets import read_csv
from modelserve.runtime import NumpyRuntime
from modelserve.settings import demo_bundle_path
from tests.support.netns import lan
from tests.support.processes import Process, Worker
from tests.support.rabbitmq import RabbitNode
from tests.support.traffic import Outcome, TrafficProcess, phase, table


@pytest.fixture
def hosts():
    hosts = lan("node", "client")
    yield hosts[:2]
    for host in hosts:
        host.signal(signal.SIGKILL)
        host.delete()


def test_a_broker_that_comes_back_empty_is_used_again_within_5_s(hosts, tmp_path, pima_csv):
    node, client = hosts
    rows = read_csv(pima_csv).features[:100].tolist()
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    store = ModelStore(tmp_path / "store")
    store.seed(demo_bundle_path(), "diabetes")
    expected = NumpyRuntime(store.bundle("diabetes", 1)).load().predict(np.asarray(rows))

    def is_right(outcome: Outcome) -> bool:
        return abs(outcome.probability - expected[outcome.row, 0]) <= 1e-6

    broker = RabbitNode(node, tmp_path / "rabbitmq")
    broker.start()
    env = {
        "MODELSERVE_STORE": str(store.root),
        "MODELSERVE_BROKER_URL": broker.url("127.0.0.1"),
        "MODELSERVE_REQUEST_TIMEOUT": "5",
    }
    worker = Worker(env, concurrency=2, prefix=node.prefix)
    server = Process(["serve", "--host", node.address, "--workers", "2"], env, prefix=node.prefix)
    server.log.wait_for("serving on", count=2)
    traffic = TrafficProcess(
        client.prefix, f"http://{node.address}:5100", tmp_path / "rows.json", 4, timeout=30
    )
    try:
        started = time.monotonic()
        traffic.wait_for_answers(started, 20)
        down = time.monotonic()
        broker.stop()
        shutil.rmtree(tmp_path / "rabbitmq" / "data")
        broker.start()
        up = time.monotonic()
        traffic.wait_for_answers(up + 5, 20)
        ended = time.monotonic()
    finally:
        outcomes = traffic.stop()
        server.stop()
        worker.stop()
        broker.stop()
    phases = [
        phase("steady", outcomes, started, down, started, is_right),
        phase("RabbitMQ back empty", outcomes, down, ended + 60, up, is_right),
    ]
    print(f"\n{table(phases)}")
    for result in phases:
        assert result.wrong == result.lost == result.other == 0, result
        assert result.steady_after is not None and result.steady_after <= 5, result
