"""Rendered user-data, executed for real on stock images.

Nodes boot from a stock Debian root filesystem (what a cloud image carries: systemd,
cloud-init, python3, OpenSSH, sudo), each under systemd-nspawn in a network namespace of its
own with its user-data in a NoCloud seed. On Debian 12, two at once: a web node that runs the
deployment's RabbitMQ, and a worker node that joins it. On Debian 13 (Python 3.13), an
all-in-one node. Every package comes from stand-ins
for the Debian mirror and the Python package index inside the test network; modelserve itself
is sent over SSH (`modelserve cloud deliver`), as `cloud launch` sends it. A client predicts
through the HTTPS front with the token; a host outside the allowed network cannot connect.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from modelserve.bundles import Bundle
from modelserve.cloud.render import parse_bootstrap_outcome
from modelserve.cloud.software import (
    dependencies,
    hashed_requirements,
    installed_versions,
    own_wheel,
)
from modelserve.runtime import load_runtime
from modelserve.settings import demo_bundle_path
from tests.support.mirrors import apt_repository, package_index, serve
from tests.support.netns import lan
from tests.support.node import Node, base_rootfs

ROW = [6, 148, 72, 35, 0, 33.6, 0.627, 50]
PYTHON = "3.11"  # Debian 12's


@pytest.fixture
def network():
    """Hosts on one test network, by name; removed (with what runs in them) afterwards."""
    made = []

    def hosts(*names: str):
        made.extend(lan(*names))
        return made[-len(names) - 1 : -1]  # lan's last host is the network's bridge

    yield hosts
    for host in made:
        host.signal(signal.SIGKILL)
        host.delete()


def prepare(python: str, tmp_path) -> Path:
    """The client's key pair, modelserve's wheel and a package index stand-in holding what a
    node with this Python takes, as render pins it."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id")], check=True
    )
    # Built here, where pip reaches its build tools; the CLI inside the test network takes it
    # from the cache.
    own_wheel()
    pins = hashed_requirements(
        dependencies(), pythons=(python,), arches=("x86_64",), prefer=installed_versions()
    )
    return package_index(pins, python)


def render_options(index: str, python: str, tmp_path) -> list[str]:
    return ["--index-url", f"{index}/pypi/simple", "--python", python, "--arch", "x86_64",
            "--ssh-key", str(tmp_path / "id.pub")]  # fmt: skip


def debian_mirror(rootfs: Path, *user_data: str) -> Path:
    """The apt repository stand-in: what these user-data install beyond the stock image."""
    packages = {p for data in user_data for p in yaml.safe_load(data)["packages"]}
    return apt_repository(rootfs, tuple(sorted(packages | {"ca-certificates"})))


def apt_source(url: str) -> dict[str, str]:
    # The image's apt source: the mirror stand-in, as a cloud's images may use a local one.
    return {"/etc/apt/sources.list": f"deb [trusted=yes] {url}/debian ./\n"}


def shown_token(shown: str) -> str:
    return re.search(r"API token \(Authorization: Bearer …\): (\S+)", shown).group(1)


def modelserve(host, *args: str) -> subprocess.CompletedProcess:
    """The CLI, run inside ``host`` (it reaches the test network's addresses from there)."""
    return host.run(sys.executable, "-m", "modelserve", *args, timeout=900)


def render(client, *args: str) -> tuple[str, str]:
    result = modelserve(client, "cloud", "render", *args)
    assert result.returncode == 0, result.stderr
    return result.stdout, result.stderr


def wait_until_serving(node: Node, timeout: float = 600):
    def outcome(lines):
        return parse_bootstrap_outcome("\n".join(lines))

    node.console.log.wait_until(lambda lines: outcome(lines) is not None, timeout, "the outcome")
    result = outcome(node.console.log.lines)
    assert result.ready, "\n".join(node.console.log.lines[-60:])
    return result


def test_a_stock_image_boots_into_a_secure_two_node_deployment(network, tmp_path, record_property):
    mirror, client, outsider, web_host, worker_host = network(
        "mirror", "client", "outsider", "web", "worker"
    )
    rootfs = base_rootfs(())
    pypi = prepare(PYTHON, tmp_path)
    # Only what the render needs first: the apt repository is filled from the user-data.
    with serve(mirror, {"pypi": pypi}, port=8001) as early:
        common = render_options(early, PYTHON, tmp_path)
        web_data, shown = render(
            client, "--role", "web", "--allow-cidr", f"{client.address}/32", *common
        )
        token = shown_token(shown)
        password = re.search(r"pages login \(modelserve\): (\S+)", shown).group(1)
        broker = re.search(r"MODELSERVE_BROKER_URL=(\S+)", web_data).group(1)
        worker_data, _ = render(
            client,
            "--role",
            "worker",
            "--broker-url",
            broker.replace("127.0.0.1", web_host.address),
            *common,
        )
    apt = debian_mirror(rootfs, web_data, worker_data)

    with serve(mirror, {"debian": apt, "pypi": pypi}, port=8001) as url:
        started = time.monotonic()
        nodes = {
            name: Node(rootfs, host, tmp_path / name, data, files=apt_source(url))
            for name, host, data in (
                ("web", web_host, web_data),
                ("worker", worker_host, worker_data),
            )
        }
        try:
            # modelserve itself arrives over SSH while the nodes boot.
            deliveries = [
                threading.Thread(target=deliver, args=(client, host.address, tmp_path))
                for host in (web_host, worker_host)
            ]
            for thread in deliveries:
                thread.start()
            ready = {name: wait_until_serving(node) for name, node in nodes.items()}
            for thread in deliveries:
                thread.join(60)
            elapsed = time.monotonic() - started
            for name, outcome in ready.items():
                record_property(f"{name}_boot_to_ready_seconds", outcome.seconds)
                print(f"{name}: ready {outcome.seconds} s after boot ({elapsed:.0f} s wall)")
            assert ready["web"].seconds < 120

            front = f"https://{web_host.address}"
            assert_correct_prediction(client, front, token)
            # The web node runs no worker: the worker node answers. Without it the web node
            # is not ready; with it back, it is again.
            assert "/etc/systemd/system/modelserve-worker.service" not in web_data
            worker = nodes["worker"]
            assert worker.run("systemctl", "stop", "modelserve-worker").returncode == 0
            readyz = front + "/readyz"
            assert await_status(client, readyz, "503"), "still ready without a worker"
            assert worker.run("systemctl", "start", "modelserve-worker").returncode == 0
            assert await_status(client, readyz, "200"), "not ready with the worker back"

            assert status_of(predict(client, front, None)) == "401"
            assert status_of(predict(client, front, "wrong-token-0123456789")) == "401"
            page = client.run("curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", front + "/")
            assert page.stdout == "401"
            login = client.run(
                "curl", "-sk", "-u", f"modelserve:{password}", front + "/", timeout=30
            )
            assert "modelserve" in login.stdout and "celery" in login.stdout.lower()
            plain = client.run("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                               f"http://{web_host.address}/")  # fmt: skip
            assert plain.stdout == "308"
            # Nothing listens on the public address but the front (modelserve: loopback).
            direct = client.run("curl", "-s", "--max-time", "3", f"http://{web_host.address}:5100/")
            assert direct.returncode == 7  # connection refused
            # Outside the allowed network: no connection at all.
            outside = outsider.run("curl", "-sk", "--max-time", "3", front + "/healthz")
            assert outside.returncode == 28, outside  # timed out: dropped

            # Secrets are for root; the bootstrap runs again, changing nothing, still ready.
            web = nodes["web"]
            for path in ("/etc/modelserve/modelserve.env", "/etc/modelserve/tls/key.pem"):
                assert web.mode(path) == "0o600", path
            assert web.mode("/etc/modelserve/broker-definitions.json") == "0o640"  # a hash
            assert web.mode("/etc/modelserve/bootstrap.sh") == "0o700"
            # Nothing on a command line holds a secret (other users can read those).
            secret = broker.split(":")[2].split("@")[0]  # the broker password
            assert not [c for c in command_lines(web_host) if token in c or secret in c]
            again = web.run("/etc/modelserve/bootstrap.sh")
            assert again.returncode == 0, again.stdout + again.stderr
            assert parse_bootstrap_outcome(again.stdout).ready
            assert status_of(predict(client, front, token)) == "200"
        finally:
            for node in nodes.values():
                node.stop()


def test_a_debian_13_image_boots_into_an_all_in_one_node(network, tmp_path, record_property):
    """The newest supported image (Python 3.13), with the role that runs everything."""
    mirror, client, host = network("mirror", "client", "node")
    rootfs = base_rootfs((), suite="trixie")
    pypi = prepare("3.13", tmp_path)
    with serve(mirror, {"pypi": pypi}, port=8001) as early:
        data, shown = render(
            client, "--role", "all-in-one", *render_options(early, "3.13", tmp_path)
        )
    apt = debian_mirror(rootfs, data)
    with serve(mirror, {"debian": apt, "pypi": pypi}, port=8001) as url:
        node = Node(rootfs, host, tmp_path / "node", data, files=apt_source(url))
        try:
            delivery = threading.Thread(target=deliver, args=(client, host.address, tmp_path))
            delivery.start()
            outcome = wait_until_serving(node)
            delivery.join(60)
            record_property("all_in_one_debian_13_boot_to_ready_seconds", outcome.seconds)
            print(f"all-in-one on Debian 13: ready {outcome.seconds} s after boot")
            assert outcome.seconds < 120
            front = f"https://{host.address}"
            assert_correct_prediction(client, front, shown_token(shown))
            assert status_of(predict(client, front, None)) == "401"
            python = node.run(
                "/opt/modelserve/venv/bin/python", "-c", "import sys; print(sys.version)"
            )
            assert python.stdout.startswith("3.13"), python
        finally:
            node.stop()


def assert_correct_prediction(client, front: str, token: str) -> None:
    answer = predict(client, front, token)
    assert answer.returncode == 0, answer.stderr
    body, status = answer.stdout.rsplit("\n", 1)
    assert status == "200", answer.stdout
    expected = load_runtime(Bundle.open(demo_bundle_path())).predict(np.array([ROW]))
    (prediction,) = json.loads(body)["predictions"]
    assert prediction[0] == pytest.approx(float(expected[0, 0]), abs=1e-6)


def deliver(client, address: str, tmp_path) -> None:
    # A failure shows as the node's bootstrap waiting in vain, with this on the test's output.
    sent = modelserve(
        client, "cloud", "deliver", address, "--identity", str(tmp_path / "id"), "--wait", "300"
    )
    if sent.returncode != 0:
        print(f"delivery to {address} failed: {sent.stderr}")


def predict(client, front: str, token: str | None) -> subprocess.CompletedProcess:
    headers = ["-H", f"Authorization: Bearer {token}"] if token else []
    return client.run(
        "curl", "-sk", "--max-time", "30", "-w", "\n%{http_code}", *headers,
        "-H", "Content-Type: application/json", "-d", json.dumps({"instances": [ROW]}),
        f"{front}/v1/models/diabetes:predict", timeout=60,
    )  # fmt: skip


def await_status(client, url: str, status: str, timeout: float = 60) -> bool:
    """Polls ``url`` until it answers ``status`` (readiness is a cached round trip)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.run("curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", url).stdout == status:
            return True
        time.sleep(0.5)
    return False


def command_lines(host) -> list[str]:
    """Every process's command line in ``host``, as any local user there could read it."""
    listed = subprocess.run(["ip", "netns", "pids", host.name], capture_output=True, text=True)
    lines = []
    for pid in listed.stdout.split():
        try:
            lines.append(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"))
        except OSError:
            continue  # gone meanwhile
    return lines


def status_of(result: subprocess.CompletedProcess) -> str:
    return result.stdout.rsplit("\n", 1)[-1]
