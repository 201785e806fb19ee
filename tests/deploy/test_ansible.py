"""The Ansible playbooks, run for real: a production and a development server, each a booted
Debian with sshd and its own address, configured over SSH from a controller in a third
network namespace. Afterwards production serves a correct prediction, and the development
server trains a model and pushes it live through the gates. Both production modes: native
(the venv) and docker (the serving image, on a Docker engine)."""

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from modelserve.cloud.software import installed_versions, own_wheel
from tests.support.engine import docker_engine, no_engine, use_outside_engine
from tests.support.mirrors import wheel_mirror
from tests.support.netns import lan
from tests.support.node import Node, base_rootfs

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE = ROOT / "deploy" / "ansible"
# What the roles install with apt, baked in: these hosts reach no Debian mirror.
HOST_PACKAGES = (
    "openssh-server", "python3-venv", "python3-apt", "rabbitmq-server", "git", "docker.io",
)  # fmt: skip
ROW = [6, 148, 72, 35, 0, 33.6, 0.627, 50]


@pytest.fixture
def network():
    hosts = lan("ctl", "prod", "dev")
    yield hosts[:3]
    for host in hosts:
        host.delete()


@pytest.fixture
def keys(tmp_path):
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "ansible")], check=True
    )
    return tmp_path / "ansible"


@pytest.fixture(params=["native", "docker"])
def mode(request):
    return request.param


@pytest.fixture
def images(mode, tmp_path):
    """Docker mode: the serving image, saved on the controller as the role expects it."""
    if mode != "docker":
        return None
    subprocess.run(["make", "images"], cwd=ROOT, check=True, capture_output=True)
    archive = tmp_path / "images.tar"
    subprocess.run(["docker", "save", "-o", str(archive), "modelserve/serving:latest"], check=True)
    return archive


@pytest.fixture
def servers(network, keys, mode, tmp_path):
    """prod and dev booted; root accepts the controller's key (cloud-init puts it there).
    In docker mode, prod's Docker engine runs the containers (tests.support.engine)."""
    _, prod, dev = network
    rootfs = base_rootfs(HOST_PACKAGES)
    user_data = (
        "#cloud-config\ndisable_root: false\nlocale: C.UTF-8\nssh_authorized_keys:\n"
        f"  - {keys.with_suffix('.pub').read_text().strip()}\n"
        "final_message: host ready\n"
    )
    with contextlib.ExitStack() as stack:
        prod_options = {"prepare": no_engine}
        if mode == "docker":
            store = tmp_path / "prod-store"
            store.mkdir()
            binds = stack.enter_context(
                docker_engine(prod, tmp_path / "engine", {"/var/lib/modelserve": store})
            )
            prod_options = {"binds": binds, "prepare": use_outside_engine}
        nodes = [
            Node(rootfs, prod, tmp_path / "prod", user_data, **prod_options),
            Node(rootfs, dev, tmp_path / "dev", user_data, prepare=no_engine),
        ]
        for node in nodes:
            stack.callback(node.stop)
        for node in nodes:
            node.console.log.wait_for("host ready", timeout=300)
            node.console.log.wait_for(r"Started ssh\.service|Started.*OpenBSD Secure Shell")
        yield nodes


@pytest.fixture
def wheels(network):
    ctl = network[0]
    # Built here, where pip reaches its build tools; the playbook's `modelserve cloud wheel`
    # on the controller (inside the test network) takes it from the cache.
    own_wheel()
    with wheel_mirror(ctl, installed_versions(train=True), train=True) as url:
        yield url


def playbook(ctl, inventory: Path, extra: Path, keys: Path, known_hosts: Path):
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ANSIBLE / "ansible.cfg"),
        "ANSIBLE_PRIVATE_KEY_FILE": str(keys),
        "ANSIBLE_SSH_ARGS": f"-o UserKnownHostsFile={known_hosts} "
        "-o StrictHostKeyChecking=accept-new -o ControlMaster=no",
        "ANSIBLE_FORCE_COLOR": "0",
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    return ctl.run(
        "ansible-playbook",
        "-i",
        str(inventory),
        "-e",
        f"@{extra}",
        str(ANSIBLE / "site.yml"),
        env=env,
        cwd=str(ANSIBLE),
        timeout=1800,
    )


def recap(output: str) -> dict[str, dict[str, int]]:
    lines = re.findall(r"^(\S+)\s+:\s+(.*)$", output, re.M)
    return {host: {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", rest)} for host, rest in lines}


def test_playbooks_configure_prod_and_dev_idempotently(
    network, servers, wheels, keys, mode, images, tmp_path
):
    ctl, prod, dev = network
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(
        f"[prod]\nprod ansible_host={prod.address}\n\n[dev]\ndev ansible_host={dev.address}\n\n"
        "[all:vars]\nansible_user=root\n"
    )
    secrets = tmp_path / "secrets.yml"
    secrets.write_text(
        "modelserve_broker_password: b5c9c7a1e4f34b0f8a1d\n"
        "modelserve_secret_key: 0f4c2d9e8b7a6f5e4d3c2b1a\n"
        "modelserve_api_token: ''\n"
        f"modelserve_wheels_url: {wheels}\n"
        "modelserve_apt_update: false\n"
        f"modelserve_mode: {mode}\n" + (f"modelserve_images_archive: {images}\n" if images else "")
    )
    known_hosts = tmp_path / "known_hosts"

    first = playbook(ctl, inventory, secrets, keys, known_hosts)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert recap(first.stdout)["prod"]["changed"] > 0
    second = playbook(ctl, inventory, secrets, keys, known_hosts)
    assert second.returncode == 0, second.stdout[-4000:]
    counts = recap(second.stdout)
    assert counts["prod"]["changed"] == 0 and counts["dev"]["changed"] == 0, second.stdout[-4000:]
    assert counts["prod"]["failed"] == 0 and counts["dev"]["failed"] == 0

    url = f"http://{prod.address}:5100/v1/models/diabetes:predict"
    answer = ctl.run(
        "curl",
        "-s",
        "-D",
        "-",
        "--retry",
        "20",
        "--retry-connrefused",
        "--retry-delay",
        "1",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps({"instances": [ROW]}),
        url,
    )
    # Header names are case-insensitive; the server sends them in lower case.
    assert "x-model-version: 1" in answer.stdout.lower() and '"predictions"' in answer.stdout
    if mode == "docker":
        running = servers[0].run("docker", "ps", "--format", "{{.Names}} {{.Image}}").stdout
        assert "modelserve-web modelserve/serving:latest" in running, running
        assert "modelserve-worker modelserve/serving:latest" in running, running

    ssh = [
        "ssh",
        "-i",
        str(keys),
        "-o",
        f"UserKnownHostsFile={known_hosts}",
        "-o",
        "BatchMode=yes",
        f"root@{dev.address}",
    ]
    train_and_push = (
        "cd ~/models && /opt/modelserve/venv/bin/modelserve train --out model && "
        "git add model && git commit -qm 'Model trained on dev' && git push production master"
    )
    pushed = ctl.run(*ssh, f"runuser -u appuser -- bash -lc {train_and_push!r}", timeout=900)
    assert pushed.returncode == 0, pushed.stdout[-3000:] + pushed.stderr[-3000:]
    assert "remote:   PASS  accuracy" in pushed.stderr
    assert "remote: modelserve: diabetes version 2 is live (was 1)" in pushed.stderr
    body = ("-H", "Content-Type: application/json", "-d", json.dumps({"instances": [ROW]}))
    after = ctl.run("curl", "-s", "-D", "-", *body, url)
    assert "x-model-version: 2" in after.stdout.lower()
