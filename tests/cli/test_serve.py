"""``modelserve serve`` as a user starts it: host and port options, the printed URL."""

import socket

import pytest
import requests

from tests.support.processes import Process
from tests.web.conftest import ROW


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_prints_its_url_and_answers_there(tmp_path):
    port = free_port()
    server = Process(
        ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        {"MODELSERVE_STORE": str(tmp_path / "store")},
    )
    try:
        server.log.wait_for(rf"serving on http://127\.0\.0\.1:{port}/")
        server.log.wait_for(r"Starting granian")  # a production server, not a development one
        assert server.log.matching(
            rf'"message":"serving diabetes \(embedded mode\) on http://127\.0\.0\.1:{port}/"'
        )
        response = requests.post(
            f"http://127.0.0.1:{port}/v1/models/diabetes:predict", json={"instances": [ROW]}
        )
        assert response.status_code == 200
    finally:
        server.stop()


def test_a_port_in_use_is_refused_at_once(cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--port", str(port))
    assert result.returncode == 1  # the command is right; the node cannot come up
    assert result.stderr.strip() == (
        f"modelserve: error: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


def test_worker_needs_a_broker_url(cli):
    result = cli("worker")
    assert result.returncode == 2
    assert "set MODELSERVE_BROKER_URL" in result.stderr


def test_malformed_broker_url_is_refused(cli):
    cli.env["MODELSERVE_BROKER_URL"] = "http://not-a-broker"
    result = cli("worker")
    assert result.returncode == 2 and "MODELSERVE_BROKER_URL" in result.stderr


def test_an_empty_api_token_means_none_and_a_short_one_is_refused():
    from pydantic import ValidationError

    from modelserve.settings import Settings

    assert Settings(api_token="").api_token is None
    with pytest.raises(ValidationError, match="at least 8"):
        Settings(api_token="short")


def test_threads_and_batching_follow_the_mode_unless_set():
    from modelserve.settings import Settings

    broker = "amqp://guest:guest@127.0.0.1:5672//"
    embedded, celery = Settings(), Settings(broker_url=broker)
    assert (embedded.threads, embedded.batching_enabled) == (2, False)
    assert (celery.threads, celery.batching_enabled) == (16, True)
    assert Settings(batching="on").batching_enabled
    assert not Settings(broker_url=broker, batching="off").batching_enabled
    assert not Settings(broker_url=broker, batch_max_size=1).batching_enabled
    assert Settings(broker_url=broker, web_threads=5).threads == 5


def test_an_unknown_batching_mode_is_refused(cli):
    cli.env["MODELSERVE_BATCHING"] = "sometimes"
    result = cli("serve")
    assert result.returncode == 2
    assert "MODELSERVE_BATCHING" in result.stderr and "'auto', 'on' or 'off'" in result.stderr
