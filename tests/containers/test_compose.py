"""The container images and the compose stack, for real: build, start, predict, and scale
workers 1 -> 3 -> 1 while clients keep predicting."""

import json
import socket
import subprocess
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
import requests

from modelserve.bundles import Bundle
from modelserve.runtime import load_runtime
from modelserve.settings import demo_bundle_path
from tests.support.load import ROW, Load

pytestmark = pytest.mark.containers
ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "docker" / "compose.yaml"


def docker(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, **kwargs)


@pytest.fixture(scope="module")
def images():
    subprocess.run(["make", "images"], cwd=ROOT, check=True, capture_output=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def stack(images, tmp_path):
    env = tmp_path / ".env"
    secrets = subprocess.run(
        [str(ROOT / "deploy/docker/new-env.sh")], capture_output=True, text=True, check=True
    ).stdout
    port = free_port()
    env.write_text(secrets + f"MODELSERVE_PORT={port}\n")
    project = f"mstest{uuid.uuid4().hex[:8]}"

    def compose(*args: str) -> subprocess.CompletedProcess:
        return docker(
            "compose", "-f", str(COMPOSE), "--env-file", str(env), "-p", project, *args, timeout=600
        )

    try:
        compose("up", "-d", "--wait")
        yield compose, f"http://127.0.0.1:{port}", env.read_text()
    finally:
        compose("down", "--volumes", "--timeout", "30")


def test_images_are_slim_non_root_and_carry_no_secret(images):
    serving = json.loads(docker("image", "inspect", "modelserve/serving:latest").stdout)[0]
    assert serving["Config"]["User"] == "appuser"
    assert serving["Config"]["Healthcheck"]["Test"][-2:] == ["modelserve", "health"]
    env = " ".join(serving["Config"]["Env"])
    assert "PASSWORD" not in env and "SECRET" not in env and "TOKEN" not in env
    no_tensorflow = docker(
        "run",
        "--rm",
        "--entrypoint",
        "python3",
        "modelserve/serving:latest",
        "-c",
        "import importlib.util as u; print(u.find_spec('tensorflow'))",
    )
    assert no_tensorflow.stdout.strip() == "None"
    training = docker(
        "run",
        "--rm",
        "--entrypoint",
        "python3",
        "modelserve/training:latest",
        "-c",
        "import keras; print(keras.__version__)",
    )
    assert training.stdout.strip().startswith("3.")


def test_stack_serves_and_scales_workers_without_losing_a_request(stack):
    compose, url, env = stack
    assert "guest" not in env and "RABBITMQ_PASSWORD=" in env
    response = requests.post(f"{url}/v1/models/diabetes:predict", json={"instances": [ROW]})
    assert response.status_code == 200
    expected = load_runtime(Bundle.open(demo_bundle_path())).predict(np.array([ROW]))
    assert response.json()["predictions"][0][0] == pytest.approx(float(expected[0, 0]), abs=1e-6)
    assert requests.get(f"{url}/readyz").json()["mode"] == "celery"

    with Load(url, clients=8) as load:
        compose("up", "-d", "--wait", "--scale", "worker=3")
        load.wait_for_more(20)
        workers = compose("ps", "--format", "json", "worker").stdout
        assert (
            workers.count('"Service":"worker"') == 3
            or len(json.loads("[" + workers.strip().replace("}\n{", "},{") + "]")) == 3
        )
        compose("up", "-d", "--wait", "--scale", "worker=1")
        load.wait_for_more(20)
    statuses = [a.status for a in load.all]
    assert len(statuses) > 100 and set(statuses) == {200}


def test_recreated_broker_keeps_its_node_database(stack):
    compose, url, _ = stack
    compose("up", "-d", "--wait", "--force-recreate", "--no-deps", "rabbitmq")
    # One node database, under the fixed hostname: the recreated container found it again.
    databases = compose("exec", "-T", "rabbitmq", "ls", "/var/lib/rabbitmq/mnesia").stdout.split()
    assert databases and all(name.startswith("rabbit@rabbitmq") for name in databases), databases
    # Web and workers reconnect by themselves.
    deadline = time.monotonic() + 60
    while requests.get(f"{url}/readyz").status_code != 200:
        assert time.monotonic() < deadline, "not ready again within 60 s"
        time.sleep(0.5)
    response = requests.post(f"{url}/v1/models/diabetes:predict", json={"instances": [ROW]})
    assert response.status_code == 200
