"""The rendered all-in-one user-data, executed for real: a debootstrapped Debian boots with
systemd, cloud-init runs every stage from the NoCloud seed, and the node answers a correct
prediction over HTTP to a client in another network namespace."""

import json
import subprocess
import time

import numpy as np
import pytest

from modelserve.bundles import Bundle
from modelserve.cloud.render import RenderOptions, pinned_constraints, render_user_data
from modelserve.runtime import load_runtime
from modelserve.settings import demo_bundle_path
from tests.support.netns import two_hosts
from tests.support.node import Node, base_rootfs, wheel_mirror

ROW = [6, 148, 72, 35, 0, 33.6, 0.627, 50]
# What the all-in-one role installs with apt; baked in, as this node has no Debian mirror.
ROLE_PACKAGES = ("python3-venv", "rabbitmq-server")


@pytest.fixture
def hosts():
    client, node = two_hosts("client", "node")
    yield client, node
    client.delete()
    node.delete()


@pytest.fixture
def wheel_server(hosts):
    client, _ = hosts
    with wheel_mirror(client, pinned_constraints()) as url:
        yield url


def test_all_in_one_user_data_boots_into_a_serving_node(
    hosts, wheel_server, tmp_path, record_property
):
    client, host = hosts
    rootfs = base_rootfs(ROLE_PACKAGES)
    public_key = tmp_path / "id.pub"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id")], check=True
    )
    user_data = render_user_data(
        RenderOptions(
            role="all-in-one",
            wheels_url=wheel_server,
            apt_update=False,
            ssh_keys=[public_key.read_text()],
        )
    )
    started = time.monotonic()
    node = Node(rootfs, host, tmp_path / "node", user_data.text)
    try:
        # cloud-init's final stage prints this once every module and runcmd has run.
        node.console.log.wait_for(r"modelserve all-in-one node configured", timeout=900)
        answer = client.run(
            "curl",
            "-s",
            "--retry",
            "30",
            "--retry-connrefused",
            "--retry-delay",
            "1",
            "-d",
            json.dumps({"instances": [ROW]}),
            f"http://{host.address}:5100/v1/models/diabetes:predict",
        )
        elapsed = time.monotonic() - started
        assert answer.returncode == 0, node.console.log.lines[-40:]
        expected = load_runtime(Bundle.open(demo_bundle_path())).predict(np.array([ROW]))
        (prediction,) = json.loads(answer.stdout)["predictions"]
        assert prediction[0] == pytest.approx(float(expected[0, 0]), abs=1e-6)
        record_property("seconds_to_first_prediction", round(elapsed, 1))
        print(f"first correct prediction {elapsed:.1f} s after boot")

        # What the node is made of, as the user-data promised.
        assert "appuser" in node.read("/etc/passwd")
        assert public_key.read_text().strip() in node.read("/home/appuser/.ssh/authorized_keys")
        env = node.read("/etc/modelserve/modelserve.env")
        assert "MODELSERVE_BROKER_URL=amqp://modelserve:" in env and "guest" not in env
        status = node.read("/var/log/cloud-init-output.log")
        assert "Traceback" not in status
    finally:
        node.stop()
