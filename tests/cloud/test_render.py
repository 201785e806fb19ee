"""`modelserve cloud render`: every role validated by cloud-init itself."""

import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml

from modelserve.cloud.render import ROLES, RenderOptions, render_user_data

BROKER = "amqp://modelserve:s3cret@10.0.0.5:5672/modelserve"
CLOUD_INIT = shutil.which("cloud-init") or "/usr/bin/cloud-init"


@cache
def schema_keys() -> set[str]:
    """Every top-level key cloud-init's own JSON schema knows (Debian's cloud-init package)."""
    schema_file = next(
        Path("/usr/lib/python3/dist-packages/cloudinit").rglob("schema-cloud-config-v1.json")
    )
    schema = json.loads(schema_file.read_text())
    keys = set()
    for part in schema["allOf"]:
        definition = schema["$defs"][part["$ref"].rsplit("/", 1)[1]]
        keys |= set(definition.get("properties", {}))
    return keys


def ssh_key(tmp_path: Path) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "id")], check=True
    )
    return tmp_path / "id.pub"


@pytest.mark.parametrize("docker", [False, True], ids=["native", "docker"])
@pytest.mark.parametrize("role", ROLES)
def test_every_role_passes_cloud_init_schema(cli, tmp_path, role, docker):
    args = ["cloud", "render", "--role", role, "--ssh-key", str(ssh_key(tmp_path))]
    if role in ("web", "worker"):
        args += ["--broker-url", BROKER]
    result = cli(*args, *(["--docker"] if docker else []))
    assert result.returncode == 0, result.stderr
    path = tmp_path / "user-data"
    path.write_text(result.stdout)
    check = subprocess.run(
        [CLOUD_INIT, "schema", "--config-file", str(path)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert "Valid cloud-config" in check.stdout
    document = yaml.safe_load(result.stdout)
    assert set(document) <= schema_keys(), set(document) - schema_keys()


def render(**options) -> tuple[str, dict]:
    text = render_user_data(RenderOptions(**options)).text
    return text, yaml.safe_load(text)


def files(document: dict) -> dict[str, str]:
    return {f["path"]: f["content"] for f in document["write_files"]}


def test_all_in_one_runs_three_services_with_generated_broker_credentials():
    text, document = render(role="all-in-one")
    written = files(document)
    for unit in ("modelserve-web.service", "modelserve-worker.service"):
        service = written[f"/etc/systemd/system/{unit}"]
        assert "Restart=on-failure" in service and "User=appuser" in service
    assert "rabbitmq-server" in document["packages"]
    assert "rabbitmqctl delete_user guest" in written["/etc/modelserve/bootstrap.sh"]
    env = written["/etc/modelserve/modelserve.env"]
    password = re.search(r"amqp://modelserve:([^@]+)@", env).group(1)
    assert len(password) >= 24 and f"add_user modelserve {password}" in text
    # Generated per deployment: a second render has other secrets.
    assert password not in render(role="all-in-one")[0]
    users = {u["name"]: u for u in document["users"] if isinstance(u, dict)}
    assert users["appuser"]["lock_passwd"] is True and "sudo" not in users["appuser"]


def test_installation_is_pinned_and_never_fetches_moving_code():
    text, document = render(role="all-in-one")
    written = files(document)
    install = written["/etc/modelserve/install.sh"]
    assert "modelserve==0.1.0" in install and "--constraint" in install
    pins = [
        line
        for line in written["/etc/modelserve/constraints.txt"].splitlines()
        if line and not line.startswith("#")
    ]
    assert pins and all(re.fullmatch(r"[A-Za-z0-9_.-]+==[^=\s]+", pin) for pin in pins)
    assert {"celery", "flask", "numpy"} <= {p.split("==")[0] for p in pins}
    assert "tensorflow" not in text
    assert not re.search(r"curl[^\n]*\|\s*(ba)?sh|git clone", text)


def test_worker_and_web_join_an_existing_broker():
    _, document = render(role="worker", broker_url=BROKER)
    written = files(document)
    assert f"MODELSERVE_BROKER_URL={BROKER}" in written["/etc/modelserve/modelserve.env"]
    assert "/etc/systemd/system/modelserve-worker.service" in written
    assert "/etc/systemd/system/modelserve-web.service" not in written
    assert "rabbitmq-server" not in document["packages"]


def test_dev_installs_the_training_environment_and_no_service():
    _, document = render(role="dev")
    written = files(document)
    assert "'modelserve[train]==0.1.0'" in written["/etc/modelserve/install.sh"]
    assert "tensorflow" in written["/etc/modelserve/constraints.txt"]
    assert "git" in document["packages"]
    assert not [p for p in written if p.endswith(".service")]


def test_docker_mode_builds_the_image_on_the_node():
    _, document = render(role="all-in-one", docker=True)
    written = files(document)
    assert "docker.io" in document["packages"]
    assert "FROM python:3.11-slim" in written["/etc/modelserve/image/Dockerfile"]
    assert (
        "docker build -t modelserve:0.1.0 /etc/modelserve/image"
        in written["/etc/modelserve/bootstrap.sh"]
    )
    assert "RABBITMQ_DEFAULT_PASS=" in written["/etc/modelserve/rabbitmq.env"]
    assert "PASS" not in written["/etc/systemd/system/rabbitmq-server.service"]


def test_a_model_from_a_url_is_checked_against_its_digest():
    digest = "ab" * 32
    _, document = render(
        role="all-in-one", model_source=f"https://models.example.org/v3.tar.gz#sha256={digest}"
    )
    script = files(document)["/etc/modelserve/model.sh"]
    assert "https://models.example.org/v3.tar.gz" in script
    assert f'echo "{digest}  $tmp/bundle.tar.gz" | sha256sum -c -' in script
    assert "models add" in script and "--promote" in script


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "cluster"], "Invalid value for '--role'"),
        (["--role", "worker"], "role worker needs --broker-url"),
        (["--role", "web", "--broker-url", "http://x"], "--broker-url: URL scheme should be"),
        (["--role", "web", "--broker-url", "amqp//broken"], "--broker-url"),
        (["--role", "all-in-one", "--ssh-key", "/nonexistent.pub"], "'--ssh-key'"),
        (["--role", "all-in-one", "--model-source", "https://x/m.tar.gz"], "#sha256="),
        (["--role", "all-in-one", "--package", "modelserve>=0.1"], "is not pinned"),
    ],
)
def test_bad_options_exit_2_with_one_line(cli, args, message):
    result = cli("cloud", "render", *args)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr


def test_a_file_that_is_not_a_public_key_is_refused(cli, tmp_path):
    not_a_key = tmp_path / "notes.txt"
    not_a_key.write_text("hello\n")
    result = cli("cloud", "render", "--role", "all-in-one", "--ssh-key", str(not_a_key))
    assert result.returncode == 2 and "--ssh-key: not an SSH public key" in result.stderr
