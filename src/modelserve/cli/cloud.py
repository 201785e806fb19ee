"""``modelserve cloud …``: cloud-init user-data, and nodes launched through OpenStack."""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import ValidationError

from modelserve.cli.common import echo_table
from modelserve.cloud.render import ROLES
from modelserve.cloud.software import ARCHES, PYTHONS
from modelserve.errors import InvalidInput


def render_options(f):
    for option in reversed(
        [
            click.option(
                "--role",
                type=click.Choice(ROLES),
                required=True,
                help="all-in-one: web, worker and RabbitMQ; web: the web front, with RabbitMQ "
                "unless --broker-url names one; worker: joins --broker-url; dev: the training "
                "environment.",
            ),
            click.option("--docker", is_flag=True, help="Run the services in containers."),
            click.option(
                "--broker-url",
                default=None,
                help="The deployment's RabbitMQ, amqp://user:password@host:5672/vhost.",
            ),
            click.option(
                "--ssh-key",
                "ssh_keys",
                multiple=True,
                type=click.Path(dir_okay=False, exists=True, readable=True, path_type=Path),
                help="Public key file allowed to log in as appuser (repeatable).",
            ),
            click.option(
                "--model-source",
                default="demo",
                show_default=True,
                help="'demo', or https://…/bundle.tar.gz#sha256=<hex> to start with.",
            ),
            click.option(
                "--source",
                default=None,
                help="https://…/modelserve-….whl#sha256=<hex> for the node to fetch; default: "
                "this installation's own wheel, sent over SSH after boot (cloud launch, "
                "cloud deliver).",
            ),
            click.option(
                "--index-url",
                default=None,
                help="Package index nodes install dependencies from; default: PyPI.",
            ),
            click.option(
                "--python",
                "pythons",
                multiple=True,
                type=click.Choice(PYTHONS),
                help="Python versions the nodes may have (repeatable); default: all supported.",
            ),
            click.option(
                "--arch",
                "arches",
                multiple=True,
                type=click.Choice(ARCHES),
                help="CPU architectures the nodes may have (repeatable); default: both, x86_64 "
                "for dev (TensorFlow).",
            ),
            click.option(
                "--allow-cidr",
                "allow_cidrs",
                multiple=True,
                help="Network allowed to reach the HTTPS front (repeatable); default: any.",
            ),
            click.option(
                "--api-token-file",
                type=click.File("r"),
                default=None,
                help="The JSON API's bearer token (16+ characters); default: a new one, "
                "shown once.",
            ),
            click.option(
                "--tls-cert",
                type=click.File("r"),
                default=None,
                help="PEM certificate for the HTTPS front; default: self-signed on the node.",
            ),
            click.option("--tls-key", type=click.File("r"), default=None, help="Its PEM key."),
            click.option(
                "--apt-update/--no-apt-update",
                default=True,
                show_default=True,
                help="Refresh apt lists before installing packages.",
            ),
            click.option("--port", type=click.IntRange(1, 65535), default=5100, show_default=True),
        ]
    ):
        f = option(f)
    return f


def _user_data(
    role,
    docker,
    broker_url,
    ssh_keys,
    model_source,
    source,
    index_url,
    pythons,
    arches,
    allow_cidrs,
    api_token_file,
    tls_cert,
    tls_key,
    apt_update,
    port,
):
    from modelserve.cloud.render import RenderOptions, render_user_data
    from modelserve.cloud.software import (
        Wheel,
        dependencies,
        hashed_requirements,
        installed_versions,
        own_wheel,
    )

    keys = []
    for path in ssh_keys:
        try:
            keys.append(path.read_text().strip())
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"--ssh-key {path}: cannot read it ({exc})") from exc
    values = {
        "role": role,
        "docker": docker,
        "broker_url": broker_url,
        "ssh_keys": keys,
        "model_source": model_source,
        "source": source,
        "index_url": index_url,
        "apt_update": apt_update,
        "port": port,
        "api_token": api_token_file.read().strip() if api_token_file else None,
        "tls_cert": tls_cert.read() if tls_cert else None,
        "tls_key": tls_key.read() if tls_key else None,
    }
    if pythons:
        values["pythons"] = pythons
    if arches:
        values["arches"] = arches
    elif role == "dev":
        values["arches"] = ("x86_64",)  # TensorFlow's CPU wheels are built for x86_64 only
    if allow_cidrs:
        values["allow_cidrs"] = list(allow_cidrs)
    try:
        options = RenderOptions(**values)
        # Checked before anything slow: the wheel, then the index.
        if options.source:
            url, sha256 = options.source.split("#sha256=")
            wheel = Wheel(url.rsplit("/", 1)[-1], sha256)
        else:
            wheel = own_wheel()
        requirements = hashed_requirements(
            dependencies(train=options.trains),
            options.index_url,
            options.pythons,
            options.arches,
            prefer=installed_versions(train=options.trains),
        )
        return render_user_data(options, wheel, requirements)
    # The options, or their combination, cannot make user-data: a usage error.
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        field = first["loc"][0] if first["loc"] else None
        if field is None:
            raise click.UsageError(message) from exc
        option = OPTION_NAMES.get(field, "--" + str(field).replace("_", "-"))
        raise click.UsageError(f"{option}: {message}") from exc
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


# Settings fields whose command-line option is named otherwise.
OPTION_NAMES = {
    "ssh_keys": "--ssh-key",
    "pythons": "--python",
    "arches": "--arch",
    "allow_cidrs": "--allow-cidr",
    "api_token": "--api-token-file",
}


def _show_once(user_data) -> None:
    for what, value in user_data.shown_once.items():
        click.echo(f"{what}: {value}", err=True)
    if user_data.shown_once:
        click.echo(
            "  (shown once: only the node keeps them, the password as a salted hash)", err=True
        )


@click.group(short_help="Render cloud-init user-data; launch nodes on OpenStack.")
def cloud() -> None:
    """Contextualize cloud VMs: render cloud-init user-data, launch nodes on OpenStack."""


@cloud.command(short_help="Print cloud-init user-data that makes a VM a node.")
@render_options
def render(**options) -> None:
    """Print cloud-config user-data that turns a stock Debian/Ubuntu VM into a node.

    Unless --source says otherwise, the node then waits for modelserve's wheel:
    `modelserve cloud deliver ADDRESS` sends it over SSH.
    """
    user_data = _user_data(**options)
    click.echo(user_data.text, nl=False)
    _show_once(user_data)


@cloud.command(short_help="Send this installation's wheel to a node over SSH.")
@click.argument("address")
@click.option("--ssh-user", default="appuser", show_default=True, help="Login on the node.")
@click.option(
    "--identity",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Private key for the login; default: ssh's own choice (agent, ~/.ssh).",
)
@click.option("--wait", type=click.IntRange(0), default=300, show_default=True,
              help="Seconds to keep trying while the node boots.")  # fmt: skip
def deliver(address, ssh_user, identity, wait) -> None:
    """Send this installation's modelserve wheel to a node rendered without --source."""
    from modelserve.cloud.software import own_wheel
    from modelserve.cloud.ssh import deliver as send

    send(
        address,
        own_wheel(),
        ssh_user,
        identity=identity,
        wait_seconds=wait,
        echo=lambda line: click.echo(line, err=True),
    )


@cloud.command(short_help="Launch servers, send them modelserve, wait until they serve.")
@render_options
@click.option("--count", type=click.IntRange(1, 50), default=1, show_default=True)
@click.option("--image", default="debian-12", show_default=True, help="Image name or id.")
@click.option("--flavor", default="m1.small", show_default=True, help="Flavor name or id.")
@click.option("--network", default=None, help="Network name or id; default: the cloud's choice.")
@click.option("--key-name", default=None, help="Nova keypair for the default user.")
@click.option("--floating-ip", is_flag=True, help="Attach a floating IP to each server.")
@click.option("--floating-network", default=None, help="External network for floating IPs.")
@click.option("--cloud", "cloud_name", default=None, help="Entry of clouds.yaml (or OS_CLOUD).")
@click.option(
    "--ssh-user",
    default=None,
    help="Login that receives modelserve's wheel; default: appuser with --ssh-key, else the "
    "image's default user (ubuntu or debian, from the image's name).",
)
@click.option(
    "--identity",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Private key for that login; default: ssh's own choice (agent, ~/.ssh).",
)
@click.option(
    "--wait-ready/--no-wait-ready",
    default=True,
    show_default=True,
    help="Wait until each node says on its console that it serves.",
)
@click.option("--ready-timeout", type=click.IntRange(1), default=1200, show_default=True,
              help="Seconds to wait for that.")  # fmt: skip
@click.option(
    "--keep-on-failure",
    is_flag=True,
    help="Keep what a failed launch made, for inspection (default: delete it).",
)
@click.option(
    "--inventory",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Add the servers to this Ansible inventory (deploy/ansible).",
)
@click.option(
    "--inventory-user",
    default="debian",
    show_default=True,
    help="The image's default login, for Ansible.",
)
def launch(
    count,
    image,
    flavor,
    network,
    key_name,
    floating_ip,
    floating_network,
    cloud_name,
    ssh_user,
    identity,
    wait_ready,
    ready_timeout,
    keep_on_failure,
    inventory,
    inventory_user,
    **options,
) -> None:
    """Launch servers, send them modelserve, and wait until each serves."""
    from modelserve.cloud.openstack import LaunchOptions, connect, host_keys_of
    from modelserve.cloud.openstack import launch as launch_nodes
    from modelserve.cloud.ssh import deliver

    if not (options["source"] or options["ssh_keys"] or key_name):
        raise click.UsageError(
            "nothing could log in to send modelserve: give --ssh-key (for appuser) or "
            "--key-name (for the image's user), or --source for nodes to fetch it"
        )
    user_data = _user_data(**options)
    conn = connect(cloud_name)
    echo = lambda line: click.echo(line, err=True)  # noqa: E731
    login = ssh_user or (
        "appuser" if options["ssh_keys"] else ("ubuntu" if "ubuntu" in image.lower() else "debian")
    )

    def send_wheel(node) -> None:
        if user_data.wheel.data is None:
            return  # the node fetches it from --source
        keys = host_keys_of(conn, node, echo)
        deliver(node.address, user_data.wheel, login, identity, keys, echo=echo)

    try:
        nodes = launch_nodes(
            conn,
            LaunchOptions(
                role=options["role"],
                count=count,
                image=image,
                flavor=flavor,
                network=network,
                key_name=key_name,
                floating_ip=floating_ip,
                floating_network=floating_network,
                allow_cidrs=tuple(options["allow_cidrs"] or ("0.0.0.0/0",)),
                wait_ready=wait_ready,
                ready_seconds=ready_timeout,
                keep_on_failure=keep_on_failure,
            ),
            user_data.text,
            echo,
            after_active=send_wheel,
        )
    except BaseException:
        if keep_on_failure:  # the kept node is of use only with its credentials
            _show_once(user_data)
        raise
    serving = options["role"] in ("all-in-one", "web")
    for node in nodes:
        url = f"https://{node.address}/" if serving else ""
        ready = f"  (serving {node.ready_after} s after boot)" if node.ready_after else ""
        click.echo(f"{node.name}  {node.address}  {url}{ready}".rstrip())
        if user_data.broker_url:
            # The broker is open to the security group's members only, and those rules match
            # the members' fixed addresses: a worker reaches it there, never via a floating IP.
            where = node.fixed_ip or "<its fixed address>"
            click.echo(
                f"  workers join with --broker-url "
                f"{user_data.broker_url.replace('127.0.0.1', where)}"
            )
    _show_once(user_data)
    if inventory is not None:
        from modelserve.cloud.inventory import add_to_inventory

        add_to_inventory(inventory, nodes, inventory_user)
        click.echo(f"added {len(nodes)} server(s) to {inventory}", err=True)


@cloud.command(short_help="Write this installation's wheel into FOLDER; print its path.")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def wheel(folder: Path) -> None:
    """Write this installation's modelserve wheel into FOLDER and print its path (what
    nodes install; the Ansible roles copy it)."""
    from modelserve.cloud.software import own_wheel

    built = own_wheel()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / built.filename
    if not target.is_file() or target.read_bytes() != built.data:
        target.write_bytes(built.data)
    click.echo(target.resolve())


@cloud.command(short_help="Print the dependency versions this installation runs.")
@click.option("--train", is_flag=True, help="Include the training extra (TensorFlow).")
def constraints(train: bool) -> None:
    """Print the dependency versions this installation runs (a pip constraints file)."""
    from modelserve.cloud.software import installed_versions

    click.echo(installed_versions(train=train), nl=False)


@cloud.command("list", short_help="modelserve servers in the project: role, status, address.")
@click.option("--cloud", "cloud_name", default=None, help="Entry of clouds.yaml (or OS_CLOUD).")
def list_servers(cloud_name) -> None:
    """modelserve servers in the project, with role, status and address."""
    from modelserve.cloud.openstack import connect, list_nodes

    nodes = list_nodes(connect(cloud_name))
    echo_table(
        ["name", "role", "status", "address"],
        [[n.name, n.role, n.status, n.address] for n in nodes],
    )


@cloud.command(short_help="Delete server NAME and the floating IPs launch made for it.")
@click.argument("name")
@click.option("--cloud", "cloud_name", default=None, help="Entry of clouds.yaml (or OS_CLOUD).")
def delete(name, cloud_name) -> None:
    """Delete the modelserve server NAME and the floating IPs launch made for it."""
    from modelserve.cloud.openstack import connect, delete_node

    delete_node(connect(cloud_name), name, lambda line: click.echo(line, err=True))
