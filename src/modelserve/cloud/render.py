"""Cloud-init user-data that turns a bare Debian/Ubuntu VM into a modelserve node.

Everything installed is pinned: modelserve itself (a version from an index, or a wheel
directory) and every dependency (a constraints file taken from the environment that renders).
Broker credentials are generated per deployment; nothing is fetched from a moving branch.
"""

from __future__ import annotations

import re
import secrets
import shlex
from dataclasses import dataclass
from importlib import metadata, resources
from typing import Literal
from urllib.parse import urlsplit

import jinja2
import yaml
from packaging.requirements import Requirement
from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

from modelserve import __version__
from modelserve.settings import BrokerUrl

Role = Literal["all-in-one", "web", "worker", "dev"]
ROLES: tuple[str, ...] = ("all-in-one", "web", "worker", "dev")
VENV = "/opt/modelserve/venv"
ENV_FILE = "/etc/modelserve/modelserve.env"
SSH_KEY = re.compile(r"^(ssh-(ed25519|rsa|dss)|ecdsa-sha2-nistp\d+|sk-\S+) [A-Za-z0-9+/=]+( .*)?$")
MODEL_URL = re.compile(r"^https?://[^#\s]+#sha256=(?P<sha>[0-9a-f]{64})$")


class RenderOptions(BaseModel):
    role: Role
    docker: bool = False
    broker_url: BrokerUrl | None = None
    ssh_keys: list[str] = Field(default_factory=list)
    model_source: str = "demo"
    package: str = f"modelserve=={__version__}"
    index_url: str | None = None
    wheels_url: str | None = None
    apt_update: bool = True
    port: int = Field(default=5100, ge=1, le=65535)
    worker_concurrency: int = Field(default=2, ge=1)
    api_token: SecretStr | None = Field(default=None, min_length=8)

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

    @field_validator("package")
    @classmethod
    def _pinned(cls, package: str) -> str:
        requirement = Requirement(package)
        specifiers = list(requirement.specifier)
        if requirement.url is None and not (
            len(specifiers) == 1 and specifiers[0].operator in ("==", "===")
        ):
            raise ValueError(f"{package!r} is not pinned: use modelserve==VERSION or a wheel URL")
        return package

    @model_validator(mode="after")
    def _broker(self) -> RenderOptions:
        if self.role in ("web", "worker") and self.broker_url is None:
            raise ValueError(f"role {self.role} needs --broker-url (the deployment's RabbitMQ)")
        return self


@dataclass(frozen=True)
class File:
    path: str
    content: str
    mode: str = "0644"


@dataclass(frozen=True)
class UserData:
    text: str
    # For an all-in-one node: its broker's URL with 127.0.0.1 standing for the node's address.
    broker_url: str | None


def render_user_data(options: RenderOptions) -> UserData:
    templates = _templates()
    local_broker = options.role == "all-in-one" and options.broker_url is None
    broker_password = secrets.token_urlsafe(24) if local_broker else None
    broker_url = (
        f"amqp://modelserve:{broker_password}@127.0.0.1:5672/modelserve"
        if local_broker
        else (str(options.broker_url) if options.broker_url else None)
    )
    image = f"modelserve:{__version__}"
    model_url, model_sha = _split_model_source(options.model_source)
    context = {
        "version": __version__,
        "role": options.role,
        "docker": options.docker,
        "venv": VENV,
        "image": image,
        "local_broker": local_broker,
        "package": options.package,
        "index_url": options.index_url,
        "wheels_url": options.wheels_url,
        "model_url": model_url,
        "model_sha256": model_sha,
        # A wheel directory on a plain-HTTP mirror inside the cloud: pip must be told to use it.
        "trusted_host": (
            urlsplit(options.wheels_url).hostname
            if options.wheels_url and options.wheels_url.startswith("http://")
            else None
        ),
    }
    serves = options.role in ("all-in-one", "web")
    works = options.role in ("all-in-one", "worker")
    train = options.role == "dev"

    files = [
        File(ENV_FILE, _environment(options, broker_url), mode="0600"),
        File("/etc/modelserve/constraints.txt", pinned_constraints(train=train)),
        File(
            "/etc/modelserve/model.sh",
            templates.get_template("model.sh.j2").render(context),
            mode="0755",
        ),
    ]
    packages = ["ca-certificates", "curl"]
    commands: list[list[str] | str] = []  # the bootstrap script's steps, in order
    if options.docker:
        packages.append("docker.io")
        files.append(
            File(
                "/etc/modelserve/image/Dockerfile",
                templates.get_template("Dockerfile.j2").render(context),
            )
        )
        files.append(File("/etc/modelserve/image/constraints.txt", pinned_constraints(train)))
        commands.append(["docker", "build", "-t", image, "/etc/modelserve/image"])
    else:
        packages += ["python3", "python3-venv"]
        files.append(
            File(
                "/etc/modelserve/install.sh",
                templates.get_template("install.sh.j2").render(
                    {**context, "package": _with_extra(options.package, train)}
                ),
                mode="0755",
            )
        )
        commands.append(["/etc/modelserve/install.sh"])
    if train:
        packages.append("git")
    if local_broker:
        if options.docker:
            files.append(
                File(
                    "/etc/modelserve/rabbitmq.env",
                    _docker_rabbitmq_env(broker_password),
                    mode="0600",
                )
            )
            files.append(File("/etc/systemd/system/rabbitmq-server.service", DOCKER_RABBITMQ))
        else:
            packages.append("rabbitmq-server")
            commands += _rabbitmq_setup(broker_password)
    units = []
    if serves:
        units.append("modelserve-web.service")
    if works:
        units.append("modelserve-worker.service")
    for unit in units:
        files.append(
            File(
                f"/etc/systemd/system/{unit}", templates.get_template(f"{unit}.j2").render(context)
            )
        )
    if serves or works:
        commands.append(["/etc/modelserve/model.sh"])
        commands.append(["systemctl", "daemon-reload"])
        if local_broker and options.docker:
            commands.append(["systemctl", "enable", "--now", "rabbitmq-server.service"])
        commands.append(["systemctl", "enable", "--now", *units])

    files.append(File("/etc/modelserve/bootstrap.sh", _script(commands), mode="0755"))
    text = templates.get_template("cloud-config.yaml.j2").render(
        **context,
        ssh_keys=options.ssh_keys,
        apt_update=options.apt_update,
        packages=packages,
        files=files,
    )
    _check(text, files)
    return UserData(text, broker_url if local_broker else None)


def _check(text: str, files: list[File]) -> None:
    """A template slip shows here, not on a VM's first boot: the YAML must give back every
    file exactly."""
    document = yaml.safe_load(text)
    written = {f["path"]: f["content"] for f in document["write_files"]}
    for file in files:
        if written.get(file.path) != file.content:
            raise AssertionError(f"user-data does not reproduce {file.path}")


def _script(commands: list[list[str] | str]) -> str:
    """One script for every step, stopping at the first failure (runcmd would go on)."""
    lines = ["#!/bin/sh", "# The node's set-up, run once by cloud-init's runcmd.", "set -eu"]
    lines += [c if isinstance(c, str) else shlex.join(c) for c in commands]
    return "\n".join(lines) + "\n"


def _environment(options: RenderOptions, broker_url: str | None) -> str:
    values = {
        "MODELSERVE_STORE": "/var/lib/modelserve/store",
        "MODELSERVE_HOST": "0.0.0.0",
        "MODELSERVE_PORT": str(options.port),
        "MODELSERVE_WORKER_CONCURRENCY": str(options.worker_concurrency),
        "MODELSERVE_SECRET_KEY": secrets.token_hex(32),
    }
    if broker_url:
        values["MODELSERVE_BROKER_URL"] = broker_url
    if options.api_token:
        values["MODELSERVE_API_TOKEN"] = options.api_token.get_secret_value()
    lines = ["# modelserve settings for this node (see the README's settings table)."]
    lines += [f"{key}={value}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _rabbitmq_setup(password: str) -> list[str]:
    """A vhost and a user of this deployment's own; guest (local only anyway) is removed."""
    return [
        "rabbitmqctl await_startup",
        "rabbitmqctl add_vhost modelserve",
        f"rabbitmqctl add_user modelserve {shlex.quote(password)}",
        'rabbitmqctl set_permissions -p modelserve modelserve ".*" ".*" ".*"',
        "rabbitmqctl delete_user guest",
    ]


DOCKER_RABBITMQ = """[Unit]
Description=RabbitMQ for modelserve (container)
Requires=docker.service
After=docker.service

[Service]
ExecStartPre=-/usr/bin/docker rm -f rabbitmq
ExecStart=/usr/bin/docker run --rm --name rabbitmq --network host \\
  --env-file /etc/modelserve/rabbitmq.env rabbitmq:3.13
ExecStop=/usr/bin/docker stop rabbitmq
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""


def _docker_rabbitmq_env(password: str) -> str:
    return (
        "RABBITMQ_DEFAULT_USER=modelserve\n"
        f"RABBITMQ_DEFAULT_PASS={password}\n"
        "RABBITMQ_DEFAULT_VHOST=modelserve\n"
    )


def _split_model_source(source: str) -> tuple[str | None, str | None]:
    match = MODEL_URL.match(source)
    if not match:
        return None, None
    return source.split("#", 1)[0], match.group("sha")


def _with_extra(package: str, train: bool) -> str:
    if not train:
        return package
    requirement = Requirement(package)
    requirement.extras = {*requirement.extras, "train"}
    return str(requirement)


def pinned_constraints(train: bool = False) -> str:
    """``name==version`` for every installed dependency of modelserve (and of its ``train``
    extra when asked): the versions this deployment was rendered and tested with."""
    pins: dict[str, str] = {}
    pending = [Requirement(r) for r in metadata.requires("modelserve") or []]
    pending = [r for r in pending if r.marker is None or (train and "train" in str(r.marker))]
    while pending:
        requirement = pending.pop()
        name = requirement.name.lower()
        if name in pins or name == "modelserve":
            continue
        try:
            dist = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            continue
        pins[name] = dist.version
        for child in dist.requires or []:
            req = Requirement(child)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                pending.append(req)
    lines = ["# Pinned by modelserve: the versions it was tested with."]
    return "\n".join(lines + [f"{n}=={v}" for n, v in sorted(pins.items())]) + "\n"


def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(resources.files("modelserve.cloud") / "templates")),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # YAML and shell: values are quoted with tojson and shell_quote
    )
    env.filters["shell_quote"] = shlex.quote
    return env
