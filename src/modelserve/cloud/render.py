"""Cloud-init user-data that turns a stock Debian/Ubuntu VM into a modelserve node.

What the node installs is pinned here, on the machine that renders (``cloud.software``):
modelserve's own wheel by SHA-256 (sent over SSH after boot, or fetched from ``--source``),
every dependency with hashes. Secrets are generated per deployment and kept in files only
root can read; the bootstrap script can run again without harm, and tells the console
whether the node serves (``parse_bootstrap_outcome`` reads that back). A serving node is
public only through an HTTPS front: the API takes a token, the pages a login.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import re
import secrets
import shlex
from dataclasses import dataclass, field
from importlib import resources
from typing import Literal

import jinja2
import yaml
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from modelserve import __version__
from modelserve.cloud.software import ARCHES, PYTHONS, Wheel, trusted_host
from modelserve.settings import BrokerUrl

Role = Literal["all-in-one", "web", "worker", "dev"]
ROLES: tuple[str, ...] = ("all-in-one", "web", "worker", "dev")
VENV = "/opt/modelserve/venv"
ENV_FILE = "/etc/modelserve/modelserve.env"
SSH_KEY = re.compile(r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-\S+) [A-Za-z0-9+/=]+( .*)?$")
TOKEN = re.compile(r"^[A-Za-z0-9._~+/=-]+$")
MODEL_URL = re.compile(r"^https?://[^#\s]+#sha256=(?P<sha>[0-9a-f]{64})$")
# OpenStack refuses user-data above 65,535 bytes once base64-encoded.
USER_DATA_LIMIT = 65535
# The console lines the bootstrap writes, and `cloud launch` waits for.
MARKER = "modelserve-node:"
_READY = re.compile(re.escape(MARKER) + r" ready after (?P<seconds>\d+) s: (?P<url>\S+)")
_FAILED = re.compile(re.escape(MARKER) + r" FAILED at (?P<step>.+?) after (?P<seconds>\d+) s")
PAGES_USER = "modelserve"
DOCKER_PYTHON = "3.11"  # the Python of the image a --docker node builds (Dockerfile.j2)


class RenderOptions(BaseModel):
    role: Role
    docker: bool = False
    broker_url: BrokerUrl | None = None
    ssh_keys: list[str] = Field(default_factory=list)
    model_source: str = "demo"
    # modelserve itself: None, sent over SSH after boot; or an http(s) URL with its SHA-256.
    source: str | None = None
    index_url: str | None = None
    pythons: tuple[str, ...] = PYTHONS
    arches: tuple[str, ...] = ARCHES
    apt_update: bool = True
    port: int = Field(default=5100, ge=1, le=65535)
    worker_concurrency: int = Field(default=2, ge=1)
    api_token: SecretStr | None = Field(default=None, min_length=16)
    allow_cidrs: list[str] = Field(default_factory=lambda: ["0.0.0.0/0"])
    tls_cert: str | None = None
    tls_key: SecretStr | None = None
    max_body_bytes: int = 8 * 1024 * 1024
    source_wait_seconds: int = 1800

    @field_validator("ssh_keys")
    @classmethod
    def _keys(cls, keys: list[str]) -> list[str]:
        for key in keys:
            if not SSH_KEY.match(key.strip()):
                raise ValueError(f"not an SSH public key: {key[:40]!r}")
        return [key.strip() for key in keys]

    @field_validator("model_source")
    @classmethod
    def _model_source(cls, source: str) -> str:
        if source != "demo" and not MODEL_URL.match(source):
            raise ValueError(
                "use 'demo' or an http(s) URL of a bundle .tar.gz ending in #sha256=<64 hex digits>"
            )
        return source

    @field_validator("source")
    @classmethod
    def _source(cls, source: str | None) -> str | None:
        if source is not None and not MODEL_URL.match(source):
            raise ValueError("use an http(s) URL of modelserve's wheel ending in #sha256=<hex>")
        return source

    @field_validator("api_token")
    @classmethod
    def _token(cls, token: SecretStr | None) -> SecretStr | None:
        # It goes into the settings file and an HTTP header: printable, no spaces or quotes.
        if token is not None and not TOKEN.match(token.get_secret_value()):
            raise ValueError("use letters, digits and . _ ~ + / = - only")
        return token

    @field_validator("allow_cidrs")
    @classmethod
    def _cidrs(cls, cidrs: list[str]) -> list[str]:
        if not cidrs:
            raise ValueError("give at least one network")
        networks = []
        for cidr in cidrs:
            try:
                network = ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"{cidr!r} is not an IPv4 network such as 192.0.2.0/24") from exc
            if network.version != 4:
                raise ValueError(f"{cidr!r}: the front serves IPv4 only")
            networks.append(str(network))
        return networks

    @model_validator(mode="after")
    def _consistent(self) -> RenderOptions:
        if self.role == "worker" and self.broker_url is None:
            raise ValueError("role worker needs --broker-url (the deployment's RabbitMQ)")
        if self.docker and DOCKER_PYTHON not in self.pythons:
            raise ValueError(f"--docker builds on Python {DOCKER_PYTHON}: include it in --python")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("give both --tls-cert and --tls-key, or neither")
        return self

    @property
    def serves(self) -> bool:
        return self.role in ("all-in-one", "web")

    @property
    def works(self) -> bool:
        return self.role in ("all-in-one", "worker")

    @property
    def trains(self) -> bool:
        return self.role == "dev"


@dataclass(frozen=True)
class File:
    path: str
    content: str
    mode: str = "0644"


@dataclass(frozen=True)
class UserData:
    text: str
    # For a node that runs the broker: its URL, with 127.0.0.1 standing for the node's address.
    broker_url: str | None
    wheel: Wheel
    # Generated here and shown once: the API token and the pages' login. Only the node keeps
    # them (the password as a salted hash).
    shown_once: dict[str, str] = field(default_factory=dict)

    @property
    def encoded_size(self) -> int:
        return len(base64.b64encode(self.text.encode()))


@dataclass(frozen=True)
class BootstrapOutcome:
    ready: bool
    seconds: int
    url: str | None = None
    step: str | None = None


def parse_bootstrap_outcome(console: str) -> BootstrapOutcome | None:
    """What the bootstrap last said on the console: ready, failed, or nothing yet."""
    for line in reversed(console.splitlines()):
        if match := _READY.search(line):
            return BootstrapOutcome(True, int(match["seconds"]), url=match["url"])
        if match := _FAILED.search(line):
            return BootstrapOutcome(False, int(match["seconds"]), step=match["step"])
    return None


def render_user_data(options: RenderOptions, wheel: Wheel, requirements: str) -> UserData:
    """The user-data for one node. ``wheel`` is modelserve's own (its hash is pinned);
    ``requirements`` pins every dependency with hashes (``software.hashed_requirements``)."""
    templates = _templates()
    # A serving node without --broker-url runs the deployment's RabbitMQ itself.
    local_broker = options.serves and options.broker_url is None
    broker_password = secrets.token_urlsafe(24) if local_broker else None
    broker_url = (
        f"amqp://modelserve:{broker_password}@127.0.0.1:5672/modelserve"
        if local_broker
        else (str(options.broker_url) if options.broker_url else None)
    )
    shown_once: dict[str, str] = {}
    api_token = pages_password = None
    if options.serves:
        api_token = (
            options.api_token.get_secret_value() if options.api_token else secrets.token_urlsafe(32)
        )
        pages_password = secrets.token_urlsafe(18)
        if options.api_token is None:
            shown_once["API token (Authorization: Bearer …)"] = api_token
        shown_once[f"pages login ({PAGES_USER})"] = pages_password
    model_url, model_sha = _split_model_source(options.model_source)
    image = f"modelserve:{__version__}"
    context = {
        "version": __version__,
        "role": options.role,
        "docker": options.docker,
        "venv": VENV,
        "image": image,
        "wheel": wheel,
        "train": options.trains,
        "index_url": options.index_url,
        "trusted_host": trusted_host(options.index_url),
        "source_url": options.source.split("#", 1)[0] if options.source else None,
        "source_wait": options.source_wait_seconds,
        "model_url": model_url,
        "model_sha256": model_sha,
        "port": options.port,
        "allow_cidrs": options.allow_cidrs,
        "tls_given": options.tls_cert is not None,
        "max_body_bytes": options.max_body_bytes,
        "marker": MARKER,
        "local_broker": local_broker,
        "docker_python": DOCKER_PYTHON,
    }

    def template(name: str, **extra) -> str:
        return templates.get_template(name).render({**context, **extra})

    files = [
        File(ENV_FILE, _environment(options, broker_url, api_token), mode="0600"),
        File("/etc/modelserve/requirements.txt", requirements),
        File("/etc/modelserve/install.sh", template("install.sh.j2"), mode="0700"),
        File("/etc/modelserve/model.sh", template("model.sh.j2"), mode="0700"),
    ]
    packages = ["ca-certificates", "curl", "python3", "python3-venv"]
    steps: list[tuple[str, str]] = [("installing modelserve", "/etc/modelserve/install.sh")]
    if options.docker:
        packages.append("docker.io")
        files.append(File("/etc/modelserve/image/Dockerfile", template("Dockerfile.j2")))
        steps.append(
            (
                "building the image",
                "sh -c "
                + shlex.quote(
                    "cp /etc/modelserve/requirements.txt /var/lib/modelserve/source/ && "
                    f"docker build -q -t {image} -f /etc/modelserve/image/Dockerfile "
                    "/var/lib/modelserve/source"
                ),
            )
        )
    if options.trains:
        packages.append("git")
    if local_broker:
        files.append(
            File(
                "/etc/modelserve/broker-definitions.json",
                _broker_definitions(broker_password),
                mode="0600",
            )
        )
        if options.docker:
            files.append(
                File(
                    "/etc/systemd/system/rabbitmq-server.service",
                    template("rabbitmq-container.service.j2"),
                )
            )
            steps.append(("starting RabbitMQ", "systemctl enable --now rabbitmq-server.service"))
        else:
            packages.append("rabbitmq-server")
        files.append(File("/etc/modelserve/broker.sh", template("broker.sh.j2"), mode="0700"))
        steps.append(("setting up RabbitMQ", "/etc/modelserve/broker.sh"))
    units = []
    if options.serves:
        units.append("modelserve-web.service")
    if options.works:
        units.append("modelserve-worker.service")
    for unit in units:
        files.append(File(f"/etc/systemd/system/{unit}", template(f"{unit}.j2")))
    if units:
        steps.append(("installing the first model", "/etc/modelserve/model.sh"))
        enable = shlex.join(["systemctl", "enable", "--now", *units])
        steps.append(
            (
                "starting the services",
                "sh -c " + shlex.quote(f"systemctl daemon-reload && {enable}"),
            )
        )
    if options.serves:
        packages += ["nginx", "openssl"]
        files += _front_files(options, template, pages_password)
        if options.allow_cidrs != ["0.0.0.0/0"]:
            packages.append("nftables")
            files.append(File("/etc/modelserve/firewall.nft", template("firewall.nft.j2")))
            files.append(
                File(
                    "/etc/systemd/system/modelserve-firewall.service",
                    template("modelserve-firewall.service.j2"),
                )
            )
            steps.append(
                (
                    "closing the public ports to other networks",
                    "systemctl enable --now modelserve-firewall.service",
                )
            )
        steps.append(("starting the HTTPS front", "/etc/modelserve/front.sh"))
    check, note, url = _ready_check(options)
    files.append(
        File(
            "/etc/modelserve/await-ready.sh",
            template(
                "await-ready.sh.j2", ready_check=check, ready_check_note=note, ready_tries=150
            ),
            mode="0700",
        )
    )
    steps.append(("waiting until the node serves", "/etc/modelserve/await-ready.sh"))
    files.append(
        File(
            "/etc/modelserve/bootstrap.sh",
            template("bootstrap.sh.j2", steps=steps, ready_url=url),
            mode="0700",
        )
    )
    text = templates.get_template("cloud-config.yaml.j2").render(
        **context,
        ssh_keys=options.ssh_keys,
        apt_update=options.apt_update,
        packages=packages,
        files=files,
    )
    _check(text, files)
    user_data = UserData(text, broker_url if local_broker else None, wheel, shown_once)
    if user_data.encoded_size > USER_DATA_LIMIT:
        raise ValueError(
            f"the user-data takes {user_data.encoded_size} bytes base64-encoded, above "
            f"OpenStack's limit of {USER_DATA_LIMIT}: narrow --python or --arch"
        )
    return user_data


def _front_files(options: RenderOptions, template, pages_password: str) -> list[File]:
    files = [
        File("/etc/modelserve/nginx.conf", template("nginx.conf.j2")),
        File("/etc/modelserve/front.sh", template("front.sh.j2"), mode="0700"),
        File(
            "/etc/modelserve/pages.htpasswd",
            f"{PAGES_USER}:{_ssha(pages_password)}\n",
            mode="0600",
        ),
    ]
    if options.tls_cert is not None:
        files.append(File("/etc/modelserve/tls/cert.pem", options.tls_cert))
        files.append(
            File("/etc/modelserve/tls/key.pem", options.tls_key.get_secret_value(), mode="0600")
        )
    return files


def _ready_check(options: RenderOptions) -> tuple[str, str, str]:
    """How the bootstrap knows the node does its part, and the URL it then reports."""
    address = "$(hostname -I | cut -d' ' -f1)"
    if options.role == "all-in-one":
        return (
            f"curl -fsS -o /dev/null http://127.0.0.1:{options.port}/readyz && "
            "curl -fsSk -o /dev/null https://127.0.0.1/readyz",
            "a prediction's round trip through its own worker, and the HTTPS front",
            f"https://{address}/",
        )
    if options.role == "web":
        return (
            f"curl -fsS -o /dev/null http://127.0.0.1:{options.port}/healthz && "
            "curl -fsSk -o /dev/null https://127.0.0.1/healthz",
            "the web server and the HTTPS front answer (predictions need a worker)",
            f"https://{address}/",
        )
    if options.role == "worker":
        # The settings from the file, not the command line, where other users could read them.
        return (
            f"(set -a && . {ENV_FILE} && set +a && "
            f"exec runuser -u appuser -- {VENV}/bin/modelserve health --worker >/dev/null)",
            "its worker answers over the deployment's broker",
            f"worker@{address}",
        )
    return (
        f"{VENV}/bin/modelserve --version >/dev/null",
        "the training environment runs",
        f"dev@{address}",
    )


def _broker_definitions(password: str) -> str:
    """RabbitMQ definitions for this deployment's vhost and user, the password as RabbitMQ's
    salted SHA-256 hash (``rabbitmqctl import_definitions`` reads them)."""
    salt = secrets.token_bytes(4)
    hashed = base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest())
    definitions = {
        "vhosts": [{"name": "modelserve"}],
        "users": [
            {
                "name": "modelserve",
                "password_hash": hashed.decode(),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": [],
            }
        ],
        "permissions": [
            {"user": "modelserve", "vhost": "modelserve", "configure": ".*", "write": ".*",
             "read": ".*"}
        ],
    }  # fmt: skip
    return json.dumps(definitions, indent=2) + "\n"


def _ssha(password: str) -> str:
    """A salted SHA-1 password hash in the {SSHA} form nginx's auth_basic reads."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()  # noqa: S324 - nginx's format
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _check(text: str, files: list[File]) -> None:
    """A template slip shows here, not on a VM's first boot: the YAML must give back every
    file exactly."""
    document = yaml.safe_load(text)
    written = {f["path"]: f["content"] for f in document["write_files"]}
    for file in files:
        if written.get(file.path) != file.content:
            raise AssertionError(f"user-data does not reproduce {file.path}")


def _environment(options: RenderOptions, broker_url: str | None, api_token: str | None) -> str:
    values = {
        "MODELSERVE_STORE": "/var/lib/modelserve/store",
        # Behind the HTTPS front: modelserve itself answers on loopback only.
        "MODELSERVE_HOST": "127.0.0.1",
        "MODELSERVE_PORT": str(options.port),
        "MODELSERVE_WORKER_CONCURRENCY": str(options.worker_concurrency),
        "MODELSERVE_SECRET_KEY": secrets.token_hex(32),
    }
    if broker_url:
        values["MODELSERVE_BROKER_URL"] = broker_url
    if api_token:
        values["MODELSERVE_API_TOKEN"] = api_token
    lines = ["# modelserve settings for this node (see the README's settings table)."]
    lines += [f"{key}={value}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _split_model_source(source: str) -> tuple[str | None, str | None]:
    match = MODEL_URL.match(source)
    if not match:
        return None, None
    return source.split("#", 1)[0], match.group("sha")


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("modelserve.cloud") / "templates")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # YAML and shell: values are quoted with tojson and shell_quote
    )
    env.filters["shell_quote"] = shlex.quote
    return env
