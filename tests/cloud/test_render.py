"""`modelserve cloud render`: every role validated by cloud-init itself."""

import base64
import hashlib
import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path

import pytest
import yaml

from modelserve.cloud.render import (
    ROLES,
    USER_DATA_LIMIT,
    BootstrapOutcome,
    RenderOptions,
    parse_bootstrap_outcome,
    render_user_data,
)
from modelserve.cloud.software import Wheel, dependencies, hashed_requirements

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
    # Within what OpenStack accepts, with every Python and architecture pinned.
    assert len(base64.b64encode(result.stdout.encode())) <= USER_DATA_LIMIT


WHEEL = Wheel.of("modelserve-0.1.0-py3-none-any.whl", b"not really a wheel")
REQUIREMENTS = (
    "# pinned\n"
    'numpy==2.2.6 ; python_version in "3.10" --hash=sha256:' + "1" * 64 + "\n"
    'numpy==2.3.5 ; python_version in "3.11 3.12 3.13" --hash=sha256:' + "2" * 64 + "\n"
)


def render(**options) -> tuple[str, dict]:
    text = render_user_data(RenderOptions(**options), WHEEL, REQUIREMENTS).text
    return text, yaml.safe_load(text)


def files(document: dict) -> dict[str, str]:
    return {f["path"]: f["content"] for f in document["write_files"]}


def modes(document: dict) -> dict[str, str]:
    return {f["path"]: f["permissions"] for f in document["write_files"]}


def test_all_in_one_runs_three_services_with_generated_broker_credentials():
    text, document = render(role="all-in-one")
    written = files(document)
    for unit in ("modelserve-web.service", "modelserve-worker.service"):
        service = written[f"/etc/systemd/system/{unit}"]
        assert "Restart=on-failure" in service and "User=appuser" in service
    assert "rabbitmq-server" in document["packages"]
    env = written["/etc/modelserve/modelserve.env"]
    password = re.search(r"amqp://modelserve:([^@]+)@", env).group(1)
    assert len(password) >= 24
    # The password is in files only root reads, never in a script; RabbitMQ gets its hash.
    for path, content in written.items():
        if password in content:
            assert modes(document)[path] == "0600", path
    definitions = json.loads(written["/etc/modelserve/broker-definitions.json"])
    assert modes(document)["/etc/modelserve/broker-definitions.json"] == "0600"
    (user,) = definitions["users"]
    hashed = base64.b64decode(user["password_hash"])
    salt, digest = hashed[:4], hashed[4:]
    assert hashlib.sha256(salt + password.encode()).digest() == digest
    assert user["hashing_algorithm"] == "rabbit_password_hashing_sha256"
    broker = written["/etc/modelserve/broker.sh"]
    assert "delete_user guest" in broker and "import_definitions" in broker
    assert "$password" not in broker
    # Generated per deployment: a second render has other secrets.
    assert password not in render(role="all-in-one")[0]
    users = {u["name"]: u for u in document["users"] if isinstance(u, dict)}
    assert users["appuser"]["lock_passwd"] is True and "sudo" not in users["appuser"]


def test_scripts_are_for_root_alone_and_say_how_they_end():
    _, document = render(role="all-in-one")
    for path, mode in modes(document).items():
        if path.endswith(".sh"):
            assert mode == "0700", path
    bootstrap = files(document)["/etc/modelserve/bootstrap.sh"]
    assert 'echo "modelserve-node: FAILED at $label after $(seconds) s"' in bootstrap
    assert "modelserve-node: ready after $(seconds) s: https://" in bootstrap
    assert "final_message" in document and "configured" not in document["final_message"]
    # The host keys come before the steps: `cloud launch` checks them before sending the wheel.
    assert bootstrap.index("BEGIN SSH HOST KEY KEYS") < bootstrap.index("\nstep ")


def test_installation_is_pinned_by_hash_and_never_fetches_moving_code():
    text, document = render(role="all-in-one")
    install = files(document)["/etc/modelserve/install.sh"]
    assert f"sha256={WHEEL.sha256}" in install
    assert 'echo "$sha256  $wheel" | sha256sum -c --quiet -' in install
    assert "--require-hashes --no-deps --only-binary=:all:" in install
    assert files(document)["/etc/modelserve/requirements.txt"] == REQUIREMENTS
    assert "modelserve==" not in text and "tensorflow" not in text
    assert not re.search(r"curl[^\n]*\|\s*(ba)?sh|git clone", text)


def test_the_front_is_https_with_a_token_for_the_api_and_a_login_for_the_pages():
    options = RenderOptions(role="all-in-one")
    user_data = render_user_data(options, WHEEL, REQUIREMENTS)
    written = files(yaml.safe_load(user_data.text))
    env = written["/etc/modelserve/modelserve.env"]
    assert "MODELSERVE_HOST=127.0.0.1\n" in env
    token = re.search(r"^MODELSERVE_API_TOKEN=(.+)$", env, re.M).group(1)
    assert len(token) >= 32 and token in user_data.shown_once.values()
    nginx = written["/etc/modelserve/nginx.conf"]
    assert "listen 443 ssl;" in nginx and "return 308 https://" in nginx
    assert "auth_basic_user_file /etc/modelserve/pages.htpasswd;" in nginx
    assert "proxy_pass http://127.0.0.1:5100;" in nginx
    # The login's password is shown once and kept on the node only as a salted hash.
    password = user_data.shown_once["pages login (modelserve)"]
    user, entry = written["/etc/modelserve/pages.htpasswd"].strip().split(":", 1)
    raw = base64.b64decode(entry.removeprefix("{SSHA}"))
    digest, salt = raw[:20], raw[20:]
    assert user == "modelserve" and hashlib.sha1(password.encode() + salt).digest() == digest
    assert password not in user_data.text
    assert {"nginx", "openssl"} <= set(yaml.safe_load(user_data.text)["packages"])


def test_allowed_networks_narrow_the_front():
    _, document = render(role="web", broker_url=BROKER, allow_cidrs=["192.0.2.0/24"])
    written = files(document)
    assert "allow 192.0.2.0/24;" in written["/etc/modelserve/nginx.conf"]
    assert "ip saddr != { 192.0.2.0/24 } drop" in written["/etc/modelserve/firewall.nft"]
    assert "modelserve-firewall.service" in written["/etc/modelserve/bootstrap.sh"]
    _, open_document = render(role="web", broker_url=BROKER)
    assert "/etc/modelserve/firewall.nft" not in files(open_document)


def test_worker_and_web_join_an_existing_broker():
    _, document = render(role="worker", broker_url=BROKER)
    written = files(document)
    assert f"MODELSERVE_BROKER_URL={BROKER}" in written["/etc/modelserve/modelserve.env"]
    assert "/etc/systemd/system/modelserve-worker.service" in written
    assert "/etc/systemd/system/modelserve-web.service" not in written
    assert "nginx" not in document["packages"] and "rabbitmq-server" not in document["packages"]
    assert "MODELSERVE_API_TOKEN" not in written["/etc/modelserve/modelserve.env"]


def test_dev_installs_the_training_environment_and_no_service():
    _, document = render(role="dev")
    written = files(document)
    assert '"$wheel[train]"' in written["/etc/modelserve/install.sh"]
    assert "git" in document["packages"]
    assert not [p for p in written if p.endswith(".service")]


def test_docker_mode_builds_the_image_from_the_same_wheel_and_pins():
    _, document = render(role="all-in-one", docker=True)
    written = files(document)
    assert "docker.io" in document["packages"]
    dockerfile = written["/etc/modelserve/image/Dockerfile"]
    assert "--require-hashes" in dockerfile and WHEEL.filename in dockerfile
    assert "docker build" in written["/etc/modelserve/bootstrap.sh"]
    rabbitmq = written["/etc/systemd/system/rabbitmq-server.service"]
    assert "--hostname rabbitmq" in rabbitmq and "-v rabbitmq-data:" in rabbitmq
    _, dev = render(role="dev", docker=True)
    assert '[train]"' in files(dev)["/etc/modelserve/image/Dockerfile"]


def test_a_model_from_a_url_is_checked_against_its_digest():
    digest = "ab" * 32
    _, document = render(
        role="all-in-one", model_source=f"https://models.example.org/v3.tar.gz#sha256={digest}"
    )
    script = files(document)["/etc/modelserve/model.sh"]
    assert "https://models.example.org/v3.tar.gz" in script
    assert f'echo "{digest}  $tmp/bundle.tar.gz" | sha256sum -c -' in script
    assert "models add" in script and "--promote" in script
    # Once: a re-run of the bootstrap keeps the versions pushed since.
    assert f"stamp=/var/lib/modelserve/.first-model-{digest}" in script


def test_the_bootstrap_outcome_is_read_back_from_a_console():
    assert parse_bootstrap_outcome("booting\n[  3.1] cloud-init[9]: hello") is None
    console = (
        "modelserve-node: installing modelserve\n"
        "[  88.2] cloud-init[612]: modelserve-node: ready after 88 s: https://10.0.0.7/\n"
    )
    assert parse_bootstrap_outcome(console) == BootstrapOutcome(True, 88, url="https://10.0.0.7/")
    failed = "modelserve-node: FAILED at starting the HTTPS front after 41 s\n"
    outcome = parse_bootstrap_outcome(console + failed)  # a re-run that failed: the last word
    assert not outcome.ready and outcome.step == "starting the HTTPS front"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "cluster"], "Invalid value for '--role'"),
        (["--role", "worker"], "role worker needs --broker-url"),
        (["--role", "web", "--broker-url", "http://x"], "--broker-url: URL scheme should be"),
        (["--role", "web", "--broker-url", "amqp//broken"], "--broker-url"),
        (["--role", "all-in-one", "--ssh-key", "/nonexistent.pub"], "'--ssh-key'"),
        (["--role", "all-in-one", "--model-source", "https://x/m.tar.gz"], "#sha256="),
        (["--role", "all-in-one", "--source", "https://x/m.whl"], "--source: use an http(s) URL"),
        (["--role", "all-in-one", "--allow-cidr", "everyone"], "--allow-cidr: 'everyone' is not"),
        (["--role", "all-in-one", "--allow-cidr", "2001:db8::/32"], "IPv4 only"),
        (["--role", "all-in-one", "--python", "3.9"], "Invalid value for '--python'"),
    ],
)
def test_bad_options_exit_2_with_one_line(cli, args, message):
    result = cli("cloud", "render", *args)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1 and message in result.stderr


def test_an_api_token_that_could_break_the_settings_file_is_refused(cli, tmp_path):
    token = tmp_path / "token"
    token.write_text("0123456789abcdef\nMODELSERVE_HOST=0.0.0.0\n")
    result = cli("cloud", "render", "--role", "web", "--api-token-file", str(token))
    assert result.returncode == 2 and "--api-token-file: use letters, digits" in result.stderr


def test_a_file_that_is_not_a_public_key_is_refused(cli, tmp_path):
    not_a_key = tmp_path / "notes.txt"
    not_a_key.write_text("hello\n")
    result = cli("cloud", "render", "--role", "all-in-one", "--ssh-key", str(not_a_key))
    assert result.returncode == 2 and "--ssh-key: not an SSH public key" in result.stderr


def test_dependencies_are_pinned_per_python_with_hashes_from_the_index():
    # The real resolution, against the real index: numpy 2.3 needs Python 3.11, so a 3.10
    # node gets its own line.
    text = hashed_requirements(dependencies(), pythons=("3.10", "3.13"), arches=("x86_64",))
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert all(re.fullmatch(r"[a-z0-9-]+==\S+( ; .+?)? (--hash=sha256:[0-9a-f]{64} ?)+", line)
               for line in lines), lines  # fmt: skip
    names = {line.split("==")[0] for line in lines}
    assert {"celery", "flask", "numpy", "pydantic-core"} <= names and "tensorflow" not in names
    numpy = [line for line in lines if line.startswith("numpy==")]
    if len(numpy) == 2:  # different versions for the two Pythons
        assert {'python_version in "3.10"', 'python_version in "3.13"'} == {
            re.search(r'python_version in "[0-9. ]+"', line).group(0) for line in numpy
        }
