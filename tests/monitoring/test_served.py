"""The prediction log as a client meets it, on SQLite and on PostgreSQL: predictions answered
by the real server, labels sent back by request id, live accuracy and drift read by the
``modelserve monitor`` command and from /metrics."""

from __future__ import annotations

import json

import numpy as np
import pytest
import requests

from modelserve.bundles import ModelStore
from modelserve.datasets import read_csv
from modelserve.settings import demo_bundle_path
from tests.conftest import Cli
from tests.support import postgres
from tests.support.metrics import samples, wait_until_logged
from tests.support.processes import Server

GLUCOSE = 1


@pytest.fixture(params=["sqlite", "postgresql"])
def served(request, tmp_path, pima_csv):
    root = tmp_path / "store"
    ModelStore(root).seed(demo_bundle_path(), "diabetes")
    # Every scrape of /metrics reads the log afresh, so the gauges follow each step.
    env = {"MODELSERVE_STORE": str(root), "MODELSERVE_MONITOR_CACHE_SECONDS": "0"}
    with postgres.scratch_database() as url:
        if request.param == "postgresql":
            env["MODELSERVE_DATABASE_URL"] = url
        server = Server(env)
        try:
            yield server, Cli(root, **env), read_csv(pima_csv, labels=True)
        finally:
            server.stop()


def _predict(url: str, api: str, row: list[float], key: str | None) -> tuple[str, float]:
    headers = {"X-Request-ID": key} if key else {}
    if api == "v1":
        body = {"instances": [row]}
        answer = requests.post(f"{url}/v1/models/diabetes:predict", json=body, headers=headers)
        probability = answer.json()["predictions"][0][0]
    else:
        body = {"inputs": [{"name": "features", "shape": [1, 8], "datatype": "FP32", "data": row}]}
        answer = requests.post(f"{url}/v2/models/diabetes/infer", json=body, headers=headers)
        probability = answer.json()["outputs"][0]["data"][0]
    assert answer.status_code == 200, answer.text
    return answer.headers["X-Request-ID"], probability


def _gauges(url: str, name: str, label: str) -> dict[str, float]:
    return {
        dict(labels)[label]: value
        for (found, labels), value in samples(url).items()
        if found == name
    }


def test_labels_for_half_the_predictions_give_their_accuracy(served):
    server, cli, data = served
    keys, probabilities = [], []
    for i in range(200):
        own = f"client-{i}" if i % 4 == 0 else None  # some clients name their requests
        key, probability = _predict(
            server.url, "v1" if i % 2 else "v2", data.features[i].tolist(), own
        )
        assert own is None or key == own
        keys.append(key)
        probabilities.append(probability)
    assert wait_until_logged(server.url, 200) == {"written": 200, "duplicate": 0, "dropped": 0}

    labelled = list(range(0, 200, 2))
    for path, part in (
        ("/v2/models/diabetes/feedback", labelled[:50]),
        ("/v1/models/diabetes:feedback", labelled[50:]),
    ):
        body = {"feedback": [{"request_id": keys[i], "label": int(data.labels[i])} for i in part]}
        answer = requests.post(server.url + path, json=body)
        assert answer.json() == {"accepted": len(part)}

    direct = float(np.mean((np.array(probabilities)[labelled] > 0.5) == data.labels[labelled]))
    result = cli("monitor", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["predictions"], report["labelled"]) == (200, 100)
    assert report["live_accuracy"] == pytest.approx(direct)
    assert _gauges(server.url, "modelserve_live_accuracy", "version") == {
        "1": pytest.approx(direct)
    }
    assert _gauges(server.url, "modelserve_live_labelled", "version") == {"1": 100}


def test_shifted_glucose_is_flagged_and_only_it(served):
    server, cli, data = served
    rows = data.features[:400]
    answer = requests.post(
        f"{server.url}/v1/models/diabetes:predict", json={"instances": rows.tolist()}
    )
    assert answer.status_code == 200
    wait_until_logged(server.url, 400)
    assert json.loads(cli("monitor", "--json").stdout)["drifted"] == []

    shifted = data.features[400:].copy()
    shifted[:, GLUCOSE] += 40
    answer = requests.post(
        f"{server.url}/v1/models/diabetes:predict", json={"instances": shifted.tolist()}
    )
    assert answer.status_code == 200
    wait_until_logged(server.url, len(data.features))

    # Half the window's rows are shifted: enough to move glucose, and nothing else.
    assert json.loads(cli("monitor", "--json").stdout)["drifted"] == ["glucose"]
    assert "drifted: glucose" in cli("monitor").stdout
    drifted = _gauges(server.url, "modelserve_feature_drifted", "feature")
    assert {f for f, value in drifted.items() if value == 1} == {"glucose"}
    assert len(drifted) == 8
    assert _gauges(server.url, "modelserve_drifted_features", "model") == {"diabetes": 1}
