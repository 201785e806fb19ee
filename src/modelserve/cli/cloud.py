"""``modelserve cloud …``: cloud-init user-data, and nodes launched through OpenStack."""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import ValidationError

from modelserve.cli.common import echo_table
from modelserve.cloud.render import ROLES
from modelserve.errors import InvalidInput


def render_options(f):
    for option in reversed(
        [
            click.option(
                "--role",
                type=click.Choice(ROLES),
                required=True,
                help="all-in-one: web, worker and RabbitMQ; web or worker: one part of a "
                "deployment (needs --broker-url); dev: the training environment.",
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
                "--package",
                default=None,
                help="Pinned modelserve to install; default: this version.",
            ),
            click.option("--index-url", default=None, help="Python package index to install from."),
            click.option(
                "--wheels",
                "wheels_url",
                default=None,
                help="Install only from this wheel directory (pip --no-index --find-links).",
            ),
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
    package,
    index_url,
    wheels_url,
    apt_update,
    port,
):
    from modelserve.cloud.render import RenderOptions, render_user_data

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
        "index_url": index_url,
        "wheels_url": wheels_url,
        "apt_update": apt_update,
        "port": port,
    }
    if package:
        values["package"] = package
    try:
        return render_user_data(RenderOptions(**values))
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        field = first["loc"][0] if first["loc"] else None
        if field is None:
            raise InvalidInput(message) from exc
        option = OPTION_NAMES.get(field, "--" + str(field).replace("_", "-"))
        raise InvalidInput(f"{option}: {message}") from exc


# Settings fields whose command-line option is named otherwise.
OPTION_NAMES = {"ssh_keys": "--ssh-key", "wheels_url": "--wheels"}


@click.group()
def cloud() -> None:
    """Contextualize cloud VMs: render cloud-init user-data, launch nodes on OpenStack."""


@cloud.command()
@render_options
def render(**options) -> None:
    """Print cloud-config user-data that turns a bare VM into a modelserve node."""
    click.echo(_user_data(**options).text, nl=False)


@cloud.command()
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
    inventory,
    inventory_user,
    **options,
) -> None:
    """Launch servers with the rendered user-data and print their addresses."""
    from modelserve.cloud.openstack import LaunchOptions, connect
    from modelserve.cloud.openstack import launch as launch_nodes

    user_data = _user_data(**options)
    conn = connect(cloud_name)
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
            port=options["port"],
        ),
        user_data.text,
        lambda line: click.echo(line, err=True),
    )
    for node in nodes:
        url = (
            f"http://{node.address}:{options['port']}/"
            if options["role"] in ("all-in-one", "web")
            else ""
        )
        click.echo(f"{node.name}  {node.address}  {url}".rstrip())
        if user_data.broker_url:
            # The broker is open to the security group's members only, and those rules match
            # the members' fixed addresses: a worker reaches it there, never via a floating IP.
            where = node.fixed_ip or "<its fixed address>"
            click.echo(
                f"  workers join with --broker-url "
                f"{user_data.broker_url.replace('127.0.0.1', where)}"
            )
    if inventory is not None:
        from modelserve.cloud.inventory import add_to_inventory

        add_to_inventory(inventory, nodes, inventory_user)
        click.echo(f"added {len(nodes)} server(s) to {inventory}", err=True)


@cloud.command()
@click.option("--train", is_flag=True, help="Include the training extra (TensorFlow).")
def constraints(train: bool) -> None:
    """Print the pinned dependency versions nodes install (pip --constraint)."""
    from modelserve.cloud.render import pinned_constraints

    click.echo(pinned_constraints(train=train), nl=False)


@cloud.command("list")
@click.option("--cloud", "cloud_name", default=None, help="Entry of clouds.yaml (or OS_CLOUD).")
def list_servers(cloud_name) -> None:
    """modelserve servers in the project, with role, status and address."""
    from modelserve.cloud.openstack import connect, list_nodes

    nodes = list_nodes(connect(cloud_name))
    echo_table(
        ["name", "role", "status", "address"],
        [[n.name, n.role, n.status, n.address] for n in nodes],
    )


@cloud.command()
@click.argument("name")
@click.option("--cloud", "cloud_name", default=None, help="Entry of clouds.yaml (or OS_CLOUD).")
def delete(name, cloud_name) -> None:
    """Delete the modelserve server NAME and release its floating IPs."""
    from modelserve.cloud.openstack import connect, delete_node

    delete_node(connect(cloud_name), name, lambda line: click.echo(line, err=True))
