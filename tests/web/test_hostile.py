"""Hostile clients against the real server: each costs bounded time and memory."""

from __future__ import annotations

import json
import socket
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import pytest
import requests

from tests.support.metrics import logged_rows, samples, wait_until_logged
from tests.support.processes import Server
from tests.web.conftest import ROW

MB = 1024 * 1024


@pytest.fixture(scope="module")
def default_server(base_env):
    """A server with the default body limit (8 MB) and row limit (10,000)."""
    env = {k: v for k, v in base_env.items() if k not in ("MODELSERVE_MAX_BODY_BYTES",)}
    env["MODELSERVE_MAX_BATCH_ROWS"] = "10000"
    process = Server(env)
    yield process
    process.stop()


def _connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def _predict_seconds(http: requests.Session, server: Server) -> float:
    started = time.perf_counter()
    response = http.post(
        f"{server.url}/v1/models/diabetes:predict", json={"instances": [ROW]}, timeout=10
    )
    assert response.status_code == 200
    return time.perf_counter() - started


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            status = Path(f"/proc/{current}/status").read_text()
            total += int(next(x for x in status.splitlines() if x.startswith("VmRSS")).split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total * 1024


def test_stalled_clients_do_not_delay_a_normal_request(default_server, http):
    baseline = statistics.median(_predict_seconds(http, default_server) for _ in range(20))
    body = json.dumps({"instances": [ROW]}).encode()
    with ExitStack() as stack:
        for n in range(64):
            stalled = stack.enter_context(_connect(default_server))
            if n % 2:  # headers never finished
                stalled.sendall(b"P")
            else:  # headers sent, body never finished
                stalled.sendall(
                    b"POST /v1/models/diabetes:predict HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/json\r\n"
                    + f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body[:5]
                )
        # The median of 20: one scheduling hiccup of a shared machine is not the server's.
        stalled = statistics.median(_predict_seconds(http, default_server) for _ in range(20))
    assert stalled < baseline + 0.050, (baseline, stalled)


def test_bodies_full_of_empty_rows_are_refused_before_they_cost_memory(default_server, http):
    body = b'{"instances":[' + b"[]," * (8 * MB // 3 - 10) + b"[]]}"
    assert len(body) <= 8 * MB
    url = f"{default_server.url}/v1/models/diabetes:predict"
    logged = sum(logged_rows(samples(default_server.url)).values())
    _predict_seconds(http, default_server)  # both processes loaded the model already
    # ...and the log writer process has written to its database (it holds a connection).
    wait_until_logged(default_server.url, logged + 1)
    before = _tree_rss(default_server.pid)
    peak = before
    with ThreadPoolExecutor(4) as pool:
        answers = [
            pool.submit(requests.post, url, data=body, headers={"Content-Type": "application/json"})
            for _ in range(4)
        ]
        while not all(a.done() for a in answers):
            peak = max(peak, _tree_rss(default_server.pid))
            time.sleep(0.005)  # sampling memory, not waiting for an event
    for answer in answers:
        response = answer.result()
        assert response.status_code == 413 and response.json()["field"] == "body"
        assert "row limit" in response.json()["error"]
    after = _tree_rss(default_server.pid)
    assert peak - before < 100 * MB, (before, peak)
    assert after - before < 20 * MB, (before, after)


def test_a_chunked_body_over_the_limit_is_refused_with_413(server):
    limit = 256 * 1024
    with _connect(server) as client:
        client.sendall(
            b"POST /v1/models/diabetes:predict HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b" " * 65536
        try:
            for _ in range(limit // len(chunk) + 2):
                client.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            client.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before the rest arrives
        status = client.recv(4096).split(b"\r\n", 1)[0]
    assert status == b"HTTP/1.1 413 Payload Too Large"


def test_a_body_shorter_than_announced_is_refused_with_400(server):
    body = json.dumps({"instances": [ROW]}).encode()
    with _connect(server) as client:
        client.sendall(
            b"POST /v1/models/diabetes:predict HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\n"
            + f"Content-Length: {len(body) + 20}\r\n\r\n".encode()
            + body
        )
        client.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := client.recv(4096):
            answer += chunk
    head, _, document = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert json.loads(document)["field"] == "body"


def test_a_huge_announced_body_is_refused_at_once(server, http):
    started = time.perf_counter()
    with _connect(server) as client:
        client.sendall(
            b"POST /v2/models/diabetes/infer HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 10000000000\r\n\r\n{"
        )
        status = client.recv(4096).split(b"\r\n", 1)[0]
    assert status == b"HTTP/1.1 413 Payload Too Large"
    assert time.perf_counter() - started < 1
