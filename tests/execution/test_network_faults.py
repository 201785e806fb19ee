"""Faults a proxy cannot play, on hosts of their own: a network that silently drops every
packet between a worker host and the broker, and a RabbitMQ that comes back empty (its data
lost, as a container recreated without its volume): no task queue, no reply queue, the
deployment's user made anew from its settings."""

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
from tests.support.answers import SAME_PROBABILITY
from tests.support.netns import lan
from tests.support.processes import Process, Worker
from tests.support.rabbitmq import RabbitNode
from tests.support.traffic import Outcome, TrafficProcess, phase, table


@pytest.fixture
def hosts():
    hosts = lan("node", "worker", "client")
    yield hosts[:3]
    for host in hosts:
        host.signal(signal.SIGKILL)
        host.delete()


def test_a_partition_and_an_empty_broker_heal_within_5_s(hosts, tmp_path, pima_csv):
    node, worker_host, client = hosts
    rows = read_csv(pima_csv).features[:100].tolist()
    (tmp_path / "rows.json").write_text(json.dumps(rows))
    store = ModelStore(tmp_path / "store")
    store.seed(demo_bundle_path(), "diabetes")
    expected = NumpyRuntime(store.bundle("diabetes", 1)).load().predict(np.asarray(rows))

    def is_right(outcome: Outcome) -> bool:
        return abs(outcome.probability - expected[outcome.row, 0]) <= SAME_PROBABILITY

    broker = RabbitNode(node, tmp_path / "rabbitmq")
    broker.start()
    env = {"MODELSERVE_STORE": str(store.root), "MODELSERVE_REQUEST_TIMEOUT": "3"}
    server = Process(
        ["serve", "--host", node.address, "--workers", "2"],
        {**env, "MODELSERVE_BROKER_URL": broker.url("127.0.0.1")},
        prefix=node.prefix,
    )
    worker = Worker(
        {
            **env,
            "MODELSERVE_STORE": str(tmp_path / "worker-store"),
            "MODELSERVE_BROKER_URL": broker.url(node.address),
        },
        concurrency=2,
        prefix=worker_host.prefix,
    )
    server.log.wait_for("serving on", count=2)
    traffic = TrafficProcess(
        client.prefix, f"http://{node.address}:5100", tmp_path / "rows.json", 4, timeout=30
    )
    try:
        started = time.monotonic()
        traffic.wait_for_answers(started, 20)

        cut = time.monotonic()
        node.partition(worker_host.address, 5672)
        time.sleep(8)  # the partition itself, not a wait for anything
        node.heal()
        healed = time.monotonic()
        traffic.wait_for_answers(healed + 5, 20)

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
        phase("steady", outcomes, started, cut, started, is_right),
        phase("worker host partitioned 8 s", outcomes, cut, down, healed, is_right),
        phase("RabbitMQ back empty", outcomes, down, ended + 60, up, is_right),
    ]
    print(f"\n{table(phases)}")
    for result in phases:
        assert result.wrong == result.lost == result.other == 0, result
        assert result.steady_after is not None and result.steady_after <= 5, result
    # Cut off from its worker, the web host answered 504 after the request timeout.
    partitioned = [o for o in outcomes if cut + 1 <= o.sent < healed - 4]
    assert partitioned and {o.status for o in partitioned} == {504}
