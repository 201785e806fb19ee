"""Scale-out across hosts that share no disk, under steady traffic and five faults.

Hosts are network namespaces on one Ethernet segment, each with its own address and store:

* web: a RabbitMQ node of the test's own, ``modelserve serve`` (Celery mode) on a socket held
  across restarts as systemd would hold it, and the repository ``git push production`` reaches;
* worker-b, worker-c: ``modelserve worker``, each with an empty store of its own;
* client: six clients predicting one row at a time, each on a new connection.

Phases: steady traffic; a push of a new version (the workers have never seen it); the worker
host B killed with SIGKILL and replaced by a new worker with an empty store; RabbitMQ stopped
for 8 s and started again; the web server restarted. Every answer is checked against what the
version that answered gives in embedded mode (the NumPy runtime on the same bundle).
"""

from __future__ import annotations

import json
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from modelserve.bundles import ModelStore
from modelserve.datasets import read_csv
from modelserve.runtime import NumpyRuntime
from tests.delivery.conftest import git
from tests.support.answers import SAME_PROBABILITY
from tests.support.bundles import make_bundle
from tests.support.netns import lan
from tests.support.processes import Process, Worker
from tests.support.rabbitmq import RabbitNode
from tests.support.traffic import Outcome, TrafficProcess, phase, table

REQUEST_TIMEOUT = 5
SETTLE = 4  # seconds of traffic after each fault ends, before the next one


@pytest.fixture
def hosts():
    hosts = lan("web", "worker-b", "worker-c", "client")
    yield hosts[:4]
    for host in hosts:
        host.signal(signal.SIGKILL)
        host.delete()


def worker_env(store: Path, broker_url: str, queue: str) -> dict[str, str]:
    return {
        "MODELSERVE_STORE": str(store),
        "MODELSERVE_SEED_DEMO": "false",
        "MODELSERVE_BROKER_URL": broker_url,
        "MODELSERVE_QUEUE": queue,
        "MODELSERVE_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT),
    }


def start_worker(host, store: Path, broker_url: str, queue: str) -> Worker:
    return Worker(worker_env(store, broker_url, queue), concurrency=2, prefix=host.prefix)


def test_one_push_reaches_every_worker_and_every_fault_heals(hosts, tmp_path, pima_csv):
    web, worker_b, worker_c, client = hosts
    queue = "modelserve"
    rows = read_csv(pima_csv).features[:200].tolist()
    (tmp_path / "rows.json").write_text(json.dumps(rows))

    # -- the web host: broker, store with the demo as version 1, server, push target -----
    broker = RabbitNode(web, tmp_path / "rabbitmq")
    broker.start()
    web_store = ModelStore(tmp_path / "web-store")
    web_env = {
        "MODELSERVE_STORE": str(web_store.root),
        "MODELSERVE_DATA": str(pima_csv),
        "MODELSERVE_BROKER_URL": broker.url("127.0.0.1"),
        "MODELSERVE_QUEUE": queue,
        "MODELSERVE_REQUEST_TIMEOUT": str(REQUEST_TIMEOUT),
    }
    deploy = Process(["deploy", "init", str(tmp_path / "production.git")], web_env)
    assert deploy.popen.wait(60) == 0, deploy.log.lines
    server = Process(
        [f"{web.address}:5100", sys.executable, "-m", "modelserve", "serve", "--bind-fd", "{fd}"],
        web_env,
        prefix=web.prefix,
        command=[sys.executable, "-m", "tests.support.activator"],
    )
    server.log.wait_for("serving on")

    # -- worker hosts: nothing in their stores ------------------------------------------
    worker_url = broker.url(web.address)
    stores = {"b": tmp_path / "b-store", "c": tmp_path / "c-store"}
    workers = {
        "b": start_worker(worker_b, stores["b"], worker_url, queue),
        "c": start_worker(worker_c, stores["c"], worker_url, queue),
    }

    # -- the developer's tree, with the next version ready to push ----------------------
    tree = tmp_path / "dev"
    tree.mkdir()
    git("init", "-q", "-b", "master", cwd=tree)
    git("remote", "add", "production", str(tmp_path / "production.git"), cwd=tree)
    make_bundle(tree / "model", "revised")
    git("add", "model", cwd=tree)
    git("commit", "-qm", "revised model", cwd=tree)

    marks: dict[str, float] = {}
    traffic = TrafficProcess(
        client.prefix, f"http://{web.address}:5100", tmp_path / "rows.json", 6, timeout=30
    )
    try:
        marks["start"] = time.monotonic()
        traffic.wait_for_answers(marks["start"], 40)

        # 2. a new version, pushed to the web host only
        marks["push"] = time.monotonic()
        pushed = git("push", "production", "HEAD:master", cwd=tree, check=False)
        assert pushed.returncode == 0, pushed.stderr
        marks["pushed"] = time.monotonic()
        traffic.wait_for_answers(marks["pushed"] + SETTLE, 20)

        # 3. worker host B dies; a new one with an empty store takes its place
        marks["kill"] = time.monotonic()
        worker_b.signal(signal.SIGKILL)
        workers["b"].popen.wait(10)
        stores["b2"] = tmp_path / "b2-store"
        workers["b2"] = start_worker(worker_b, stores["b2"], worker_url, queue)
        marks["replaced"] = time.monotonic()
        traffic.wait_for_answers(marks["replaced"] + SETTLE, 20)

        # 4. RabbitMQ down for 8 s
        marks["broker down"] = time.monotonic()
        broker.stop()
        time.sleep(max(0.0, marks["broker down"] + 8 - time.monotonic()))  # the outage itself
        broker.start()
        marks["broker up"] = time.monotonic()
        traffic.wait_for_answers(marks["broker up"] + SETTLE, 20)

        # 5. the web server restarted, its socket kept
        marks["restart"] = time.monotonic()
        server.popen.send_signal(signal.SIGHUP)
        server.log.wait_for("^restarted$")
        marks["restarted"] = time.monotonic()
        traffic.wait_for_answers(marks["restarted"] + SETTLE, 20)
        marks["end"] = time.monotonic()
    finally:
        outcomes = traffic.stop()
        for process in [server, *workers.values()]:
            process.stop()
        broker.stop()

    # -- every answer came from the version that says so, computed as embedded mode does --
    expected = {
        str(v): NumpyRuntime(web_store.bundle("diabetes", v)).load().predict(np.asarray(rows))
        for v in (1, 2)
    }

    def is_right(outcome: Outcome) -> bool:
        answer = expected.get(outcome.version)
        if answer is None:
            return False
        return abs(outcome.probability - answer[outcome.row, 0]) <= SAME_PROBABILITY

    phases = [
        phase("steady", outcomes, marks["start"], marks["push"], marks["start"], is_right),
        phase("git push", outcomes, marks["push"], marks["kill"], marks["pushed"], is_right),
        phase("worker B killed", outcomes, marks["kill"], marks["broker down"], marks["kill"],
              is_right),
        phase("RabbitMQ down 8 s", outcomes, marks["broker down"], marks["restart"],
              marks["broker up"], is_right),
        phase("web restarted", outcomes, marks["restart"], marks["end"] + 60, marks["restarted"],
              is_right),
    ]  # fmt: skip
    report = table(phases)
    print(f"\n{report}")
    (tmp_path / "report.txt").write_text(report + "\n")
    for result in phases:
        assert result.wrong == result.lost == result.other == 0, result
        assert result.steady_after is not None and result.steady_after <= 5, result
    assert phases[0].ok == phases[0].sent

    # After the push, only version 2 answered, from workers that had to fetch it.
    after_push = [o for o in outcomes if o.sent > marks["pushed"] and o.status == 200]
    assert after_push and {o.version for o in after_push} == {"2"}
    digest = web_store.bundle("diabetes", 2).digest
    for name in ("b", "c", "b2"):
        assert ModelStore(stores[name]).bundle("diabetes", 2).digest == digest
        # One fetch per host, though each runs two worker processes.
        installed = workers[name].log.matching("installed diabetes version 2 from the source")
        assert len(installed) == 1, (name, installed)
    for name in ("b", "c"):
        assert workers[name].log.matching("installed diabetes version 1 from the source")
