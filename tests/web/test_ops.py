"""Health, readiness, metrics, request ids, structured logs, the token and the OpenAPI document."""

import json
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import requests

from tests.support.metrics import samples, samples_once
from tests.support.processes import Process
from tests.web.conftest import ROW


def test_health_and_readiness(server, http):
    assert http.get(f"{server.url}/healthz").json() == {"status": "alive"}
    ready = http.get(f"{server.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["ready"] is True and ready.json()["mode"] == "embedded"
    assert "diabetes version 1" in ready.json()["model"]


def test_metrics_count_requests_rows_and_version_across_workers(server):
    before = samples(server.url)
    ids = [f"metrics-{i}" for i in range(80)]

    def send(request_id: str) -> int:
        return requests.post(
            f"{server.url}/v1/models/diabetes:predict",
            json={"instances": [ROW, ROW, ROW]},
            headers={"X-Request-ID": request_id},
        ).status_code

    # Concurrent clients on fresh connections, so both server processes answer some.
    with ThreadPoolExecutor(8) as pool:
        assert set(pool.map(send, ids)) == {200}
    assert requests.post(f"{server.url}/v1/models/diabetes:predict", json={}).status_code == 400
    route = "/v1/models/<model_name:name>:predict"
    latency = ("modelserve_request_duration_seconds_count", (("route", route),))
    after = samples_once(server.url, lambda now: now.get(latency, 0) - before.get(latency, 0) >= 81)
    pids = {json.loads(server.log.wait_for(f'"request_id":"{i}"')[0])["pid"] for i in ids}
    assert len(pids) == 2

    ok = ("modelserve_requests_total", (("method", "POST"), ("route", route), ("status", "200")))
    bad = ("modelserve_requests_total", (("method", "POST"), ("route", route), ("status", "400")))
    # Counted in full although two processes answered: the collector merges their files.
    assert after[ok] - before.get(ok, 0) == 80
    assert after[bad] - before.get(bad, 0) == 1
    rows = ("modelserve_batch_rows_sum", ())
    assert after[rows] - before.get(rows, 0) == 240
    assert after[latency] - before.get(latency, 0) == 81
    assert after[("modelserve_model_version", (("model", "diabetes"),))] == 1


def test_request_ids_and_one_structured_log_line_per_request(server, http):
    kept = http.get(f"{server.url}/v2/health/live", headers={"X-Request-ID": "trace-42.a"})
    assert kept.headers["X-Request-ID"] == "trace-42.a"
    replaced = http.get(f"{server.url}/healthz", headers={"X-Request-ID": "bad id\u00e9"})
    assert len(replaced.headers["X-Request-ID"]) == 32
    response = http.post(
        f"{server.url}/v1/models/diabetes:predict",
        json={"instances": [ROW]},
        headers={"X-Request-ID": "log-me-1"},
    )
    assert response.headers["X-Model-Version"] == "1"
    (line,) = server.log.wait_for(r'"request_id":"log-me-1"')
    record = json.loads(line)
    assert record["status"] == 200 and record["method"] == "POST"
    assert record["model"] == "diabetes" and record["version"] == 1 and record["rows"] == 1
    assert record["duration_ms"] > 0
    errors = http.get(f"{server.url}/nowhere", headers={"X-Request-ID": "log-me-2"})
    assert errors.status_code == 404 and errors.headers["X-Request-ID"] == "log-me-2"
    server.log.wait_for(r'"request_id":"log-me-2".*"status":404')


def test_every_line_from_start_to_stop_is_a_json_object(base_env):
    """What a log collector reads from ``modelserve serve``: granian's lines, modelserve's and
    the access lines alike, on stdout and stderr, from start-up through shutdown."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = Process(["serve", "--port", str(port), "--workers", "2"], base_env)
    try:
        server.log.wait_for(r"serving on http://", count=2)  # each server process
        response = requests.post(
            f"http://127.0.0.1:{port}/v1/models/diabetes:predict",
            json={"instances": [ROW]},
            headers={"X-Request-ID": "json-only"},
        )
        assert response.status_code == 200
        server.log.wait_for(r'"request_id":"json-only"')
    finally:
        server.stop()
    server.log.wait_until(lambda lines: "<eof>" in lines, what="the end of the output")
    lines = server.log.lines[: server.log.lines.index("<eof>")]
    assert any("Shutting down granian" in line for line in lines)  # shutdown was logged
    for line in lines:
        try:
            document = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
        assert isinstance(document, dict) and {"time", "level", "logger", "message"} <= set(
            document
        ), line


def test_bearer_token_guards_the_json_api(token_server, http):
    url = f"{token_server.url}/v1/models/diabetes:predict"
    missing = http.post(url, json={"instances": [ROW]})
    assert missing.status_code == 401 and missing.json()["field"] == "Authorization"
    assert missing.headers["WWW-Authenticate"].startswith("Bearer")
    wrong = http.post(url, json={"instances": [ROW]}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    right = http.post(
        url, json={"instances": [ROW]}, headers={"Authorization": "Bearer s3cret-token"}
    )
    assert right.status_code == 200
    assert http.get(f"{token_server.url}/v2/models/diabetes").status_code == 401
    # Probes stay open so orchestrators can check the server without the secret.
    assert http.get(f"{token_server.url}/v2/health/ready").status_code == 200
    assert http.get(f"{token_server.url}/healthz").status_code == 200
    # This server has its pages turned off, so nothing answers predictions without the token.
    assert http.get(f"{token_server.url}/predictions").status_code == 404


def test_openapi_document_describes_both_apis(server, http):
    document = http.get(f"{server.url}/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    for path in (
        "/v1/models/{model_name}:predict",
        "/v1/models/{model_name}/metadata",
        "/v2/models/{model_name}/infer",
        "/v2/health/ready",
        "/v2",
    ):
        assert path in paths
    assert "InferenceRequest" in document["components"]["schemas"]


def test_schemathesis_finds_no_server_error(server, tmp_path):
    config = tmp_path / "schemathesis.toml"
    # Aim the generated requests at the served model, so they get past the 404 and into
    # the payload validation.
    config.write_text('[parameters]\nmodel_name = "diabetes"\n')
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-time",
            "25",
            "--workers",
            "1",
            "--seed",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,  # schemathesis keeps its run cache in the working directory
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout
