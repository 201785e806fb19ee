"""Launching, listing and deleting modelserve nodes through the OpenStack API (openstacksdk).

Credentials come the usual way: ``clouds.yaml`` with ``--cloud``/``OS_CLOUD``, or the
``OS_*`` variables of an OpenStack RC file.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial

from modelserve import __version__
from modelserve.errors import MissingDependency, ModelserveError

ROLE_KEY = "modelserve-role"
FLOATING_IP_MARK = "made by modelserve cloud launch"  # others' floating IPs are never released
POLL_SECONDS = 2
CONSOLE_LINES = 400  # of the console log read while waiting for the bootstrap
CONSOLE_TAIL = 30  # shown when the bootstrap failed
Echo = Callable[[str], None]


class CloudError(ModelserveError):
    """The cloud refused or failed a request; the message says what it answered."""


class UnknownResource(CloudError):
    """What the command line names or needs does not exist: an image, flavor, network or key
    pair, or an external network for floating IPs."""


@dataclass(frozen=True)
class LaunchOptions:
    role: str
    count: int = 1
    image: str = "debian-12"
    flavor: str = "m1.small"
    network: str | None = None
    key_name: str | None = None
    floating_ip: bool = False
    floating_network: str | None = None
    security_group: str = "modelserve"
    allow_cidrs: tuple[str, ...] = ("0.0.0.0/0",)  # who may reach the HTTPS front
    name_prefix: str = "modelserve"
    wait_seconds: float = 900  # for ACTIVE
    wait_ready: bool = True
    ready_seconds: float = 1200  # for the bootstrap's word that the node serves
    keep_on_failure: bool = False


@dataclass(frozen=True)
class Node:
    name: str
    id: str
    status: str
    role: str
    fixed_ip: str | None
    floating_ip: str | None
    ready_after: int | None = None  # seconds from boot until it served

    @property
    def address(self) -> str | None:
        return self.floating_ip or self.fixed_ip


def connect(cloud: str | None = None):
    try:
        import openstack
        from openstack import exceptions
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise MissingDependency("OpenStack support needs: pip install 'modelserve[cloud]'") from exc

    from keystoneauth1.exceptions import ClientException

    try:
        connection = openstack.connect(cloud=cloud)
        connection.authorize()
    except (exceptions.ConfigException, ClientException) as exc:
        raise CloudError(
            f"no OpenStack credentials: {exc} (use --cloud, OS_CLOUD or an OpenStack RC file)"
        ) from exc
    except exceptions.SDKException as exc:
        raise CloudError(f"cannot reach the cloud: {_reason(exc)}") from exc
    return connection


@dataclass
class _Made:
    """What one launch created, so that a failure removes exactly that and nothing else."""

    servers: list = field(default_factory=list)
    floating_ips: list = field(default_factory=list)
    group: object | None = None
    # Named before each request: what a Ctrl-C cut off before its answer is found by name.
    server_names: list[str] = field(default_factory=list)
    group_name: str | None = None


def launch(
    conn,
    options: LaunchOptions,
    user_data: str,
    echo: Echo,
    after_active: Callable[[Node], None] | None = None,
) -> list[Node]:
    """Create ``options.count`` servers, call ``after_active`` for each once it runs (to
    send it modelserve), and unless told not to, wait until each serves.

    Everything is checked before anything is made. If any step fails afterwards, or the
    user interrupts, what this launch made (servers, floating IPs, the security group) is
    deleted before the error goes on; what existed before is never touched.
    """
    from openstack import exceptions

    image, flavor, network, external = _preflight(conn, options)
    encoded = base64.b64encode(user_data.encode()).decode()
    made = _Made()
    nodes: list[Node] = []
    try:
        group = ensure_security_group(conn, options, echo, made)
        # All servers build at once; each gets its address and modelserve once it runs.
        servers = [
            _create(conn, image, flavor, network, group, encoded, options, echo, made)
            for _ in range(options.count)
        ]
        for server in servers:
            node = _await_active(conn, server, options, echo)
            if options.floating_ip:
                node = _attach_floating_ip(conn, node, external, echo, made)
            nodes.append(node)
        for node in nodes:
            if after_active is not None:
                after_active(node)
        if options.wait_ready:
            nodes = [wait_until_ready(conn, node, options, echo) for node in nodes]
    except BaseException as exc:  # Ctrl-C included: nothing of this launch stays behind
        if options.keep_on_failure and made.servers:
            echo("keeping what was made for inspection (--keep-on-failure)")
        else:
            _undo(conn, made, echo)
        if isinstance(exc, exceptions.SDKException):
            raise CloudError(f"the cloud refused: {_reason(exc)}") from exc
        raise
    return nodes


def _preflight(conn, options: LaunchOptions):
    """Every named resource, found before anything is created."""
    from openstack import exceptions

    try:
        image = conn.image.find_image(options.image, ignore_missing=False)
        flavor = conn.compute.find_flavor(options.flavor, ignore_missing=False)
        network = (
            conn.network.find_network(options.network, ignore_missing=False)
            if options.network
            else None
        )
        if options.key_name and conn.compute.find_keypair(options.key_name) is None:
            raise UnknownResource(
                f"no key pair named {options.key_name!r} (openstack keypair list shows yours)"
            )
        external = None
        if options.floating_ip:
            if options.floating_network:
                external = conn.network.find_network(options.floating_network, ignore_missing=False)
            else:
                external = next(iter(conn.network.networks(is_router_external=True)), None)
                if external is None:
                    raise UnknownResource(
                        "no external network for a floating IP: use --floating-network"
                    )
    except exceptions.ResourceNotFound as exc:
        raise UnknownResource(_reason(exc)) from exc
    except exceptions.SDKException as exc:
        raise CloudError(f"the cloud refused: {_reason(exc)}") from exc
    return image, flavor, network, external


def _create(conn, image, flavor, network, group, user_data, options, echo, made: _Made):
    name = f"{options.name_prefix}-{options.role}-{secrets.token_hex(3)}"
    made.server_names.append(name)
    server = conn.compute.create_server(
        name=name,
        image_id=image.id,
        flavor_id=flavor.id,
        networks=[{"uuid": network.id}] if network else "auto",
        key_name=options.key_name,
        security_groups=[{"name": group.name}],
        user_data=user_data,
        metadata={ROLE_KEY: options.role, "modelserve-version": __version__},
    )
    made.servers.append(server)
    echo(f"{name}: created ({server.id}), waiting for ACTIVE")
    return server


def _await_active(conn, server, options: LaunchOptions, echo: Echo) -> Node:
    from openstack import exceptions

    name = server.name
    started = time.monotonic()
    try:
        server = conn.compute.wait_for_server(
            server,
            status="ACTIVE",
            failures=["ERROR"],
            interval=POLL_SECONDS,
            wait=options.wait_seconds,
            callback=lambda progress: echo(f"{name}: building… {progress or 0}%"),
        )
    except exceptions.ResourceFailure as exc:
        raise CloudError(f"{name} went to ERROR: {_fault(conn, server)}") from exc
    except exceptions.ResourceTimeout as exc:
        raise CloudError(f"{name} was not ACTIVE after {options.wait_seconds:g} s") from exc
    echo(f"{name}: ACTIVE after {time.monotonic() - started:.0f} s")
    return _node(server)


def host_keys_of(conn, node: Node, echo: Echo, wait_seconds: float = 300) -> list[str]:
    """The node's SSH host keys as its console shows them, once cloud-init printed them;
    none (and a warning) if the console never does."""
    from modelserve.cloud.ssh import host_keys

    deadline = time.monotonic() + wait_seconds
    while time.monotonic() < deadline:
        output = conn.compute.get_server_console_output(node.id, length=CONSOLE_LINES)
        keys = host_keys(output.get("output") or "")
        if keys:
            return keys
        time.sleep(POLL_SECONDS)
    echo(f"{node.name}: no host keys on its console; its SSH key is trusted on first use")
    return []


def wait_until_ready(conn, node: Node, options: LaunchOptions, echo: Echo) -> Node:
    """Follow the server's console until its bootstrap says it serves, or that it failed."""
    from modelserve.cloud.render import parse_bootstrap_outcome

    echo(f"{node.name}: waiting for its bootstrap (console log)")
    deadline = time.monotonic() + options.ready_seconds
    while True:
        output = conn.compute.get_server_console_output(node.id, length=CONSOLE_LINES)
        outcome = parse_bootstrap_outcome(output.get("output") or "")
        if outcome is not None and outcome.ready:
            echo(f"{node.name}: serving after {outcome.seconds} s of boot")
            return replace(node, ready_after=outcome.seconds)
        if outcome is not None:
            tail = "\n".join((output.get("output") or "").splitlines()[-CONSOLE_TAIL:])
            raise CloudError(
                f"{node.name}: its bootstrap failed at: {outcome.step}\n"
                f"--- the console's last lines ---\n{tail}"
            )
        if time.monotonic() > deadline:
            raise CloudError(
                f"{node.name}: no word from its bootstrap after {options.ready_seconds:g} s"
            )
        time.sleep(POLL_SECONDS)


def ensure_security_group(conn, options: LaunchOptions, echo: Echo, made: _Made):
    """The group opening SSH, HTTPS (and its redirect) to the allowed networks, and the broker
    to the group's own members. Rules only accumulate in an existing group (other
    deployments may rely on them), except the plain-HTTP rule of older releases."""
    from openstack import exceptions

    try:
        group = conn.network.find_security_group(options.security_group, ignore_missing=False)
    except exceptions.ResourceNotFound:
        made.group_name = options.security_group
        group = conn.network.create_security_group(
            name=options.security_group, description="modelserve nodes: SSH, web, broker"
        )
        made.group = group
        echo(f"security group {group.name}: created")
    wanted = [{"port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}]
    for cidr in options.allow_cidrs:
        for port in (443, 80):  # 80 only redirects to 443
            wanted.append(
                {"port_range_min": port, "port_range_max": port, "remote_ip_prefix": cidr}
            )
    wanted.append({"port_range_min": 5672, "port_range_max": 5672, "remote_group_id": group.id})
    existing = list(conn.network.security_group_rules(security_group_id=group.id))
    for rule in existing:
        # Opened by earlier releases, which served plain HTTP on 5100 to the world.
        if _same_rule(rule, {"port_range_min": 5100, "remote_ip_prefix": "0.0.0.0/0"}):
            conn.network.delete_security_group_rule(rule, ignore_missing=True)
            echo(f"security group {group.name}: closed tcp/5100 (nodes serve HTTPS on 443)")
    for rule in wanted:
        if not any(_same_rule(r, rule) for r in existing):
            conn.network.create_security_group_rule(
                security_group_id=group.id,
                direction="ingress",
                ethertype="IPv4",
                protocol="tcp",
                **rule,
            )
            what = rule.get("remote_ip_prefix") or "the group's members"
            echo(f"security group {group.name}: opened tcp/{rule['port_range_min']} to {what}")
    return group


def _same_rule(existing, wanted: dict) -> bool:
    return (
        existing.direction == "ingress"
        and existing.protocol == "tcp"
        and all(getattr(existing, k) == v for k, v in wanted.items())
    )


def _attach_floating_ip(conn, node: Node, external, echo: Echo, made: _Made) -> Node:
    port = next(iter(conn.network.ports(device_id=node.id)), None)
    if port is None:
        raise CloudError(f"{node.name} has no network port to attach a floating IP to")
    ip = conn.network.create_ip(
        floating_network_id=external.id, port_id=port.id, description=FLOATING_IP_MARK
    )
    made.floating_ips.append(ip)
    echo(f"{node.name}: floating IP {ip.floating_ip_address}")
    return replace(node, floating_ip=ip.floating_ip_address)


def _undo(conn, made: _Made, echo: Echo) -> None:
    """Delete what a failed launch made; a failure here is reported, not raised."""
    steps = [
        (f"floating IP {ip.floating_ip_address}", partial(conn.network.delete_ip, ip))
        for ip in made.floating_ips
    ]
    servers = list(made.servers)
    for name in made.server_names[len(made.servers) :]:  # created, but the answer was cut off
        if (server := conn.compute.find_server(name)) is not None:
            servers.append(server)
    steps += [(f"server {s.name}", partial(_remove, conn, s, echo, True)) for s in servers]
    group = made.group
    if group is None and made.group_name is not None:
        group = conn.network.find_security_group(made.group_name)
    if group is not None:
        steps.append(
            (
                f"security group {group.name}",
                partial(conn.network.delete_security_group, group, ignore_missing=True),
            )
        )
    for what, remove in steps:
        try:
            remove()
            echo(f"{what}: removed (the launch failed)")
        except Exception as exc:  # noqa: BLE001 - the other removals still run
            echo(f"{what}: could not be removed ({exc}); remove it by hand")


def list_nodes(conn) -> list[Node]:
    return [
        _node(s) for s in conn.compute.servers(details=True) if (s.metadata or {}).get(ROLE_KEY)
    ]


def delete_node(conn, name: str, echo: Echo) -> None:
    from openstack import exceptions

    matches = [
        s
        for s in conn.compute.servers(details=True, name=f"^{name}$")
        if s.name == name and (s.metadata or {}).get(ROLE_KEY)
    ]
    if not matches:
        raise CloudError(f"no modelserve server named {name!r}")
    try:
        for server in matches:
            _remove(conn, server, echo)
    except exceptions.SDKException as exc:
        raise CloudError(f"the cloud refused: {_reason(exc)}") from exc


def _remove(conn, server, echo: Echo, quiet: bool = False) -> None:
    """Delete a server and the floating IPs modelserve made for it. Floating IPs the user
    reserved are left allocated, only detached (Nova releases the port)."""
    for port in conn.network.ports(device_id=server.id):
        for ip in conn.network.ips(port_id=port.id):
            if ip.description == FLOATING_IP_MARK:
                conn.network.delete_ip(ip, ignore_missing=True)
            else:
                echo(f"{server.name}: floating IP {ip.floating_ip_address} kept (not ours)")
    conn.compute.delete_server(server, ignore_missing=True)
    conn.compute.wait_for_delete(server, interval=POLL_SECONDS, wait=300)
    if not quiet:
        echo(f"{server.name}: deleted")


def _node(server) -> Node:
    fixed = floating = None
    for addresses in (server.addresses or {}).values():
        for address in addresses:
            if address.get("OS-EXT-IPS:type") == "floating":
                floating = floating or address.get("addr")
            elif fixed is None:
                fixed = address.get("addr")
    return Node(
        server.name,
        server.id,
        server.status,
        (server.metadata or {}).get(ROLE_KEY, "?"),
        fixed,
        floating,
    )


def _fault(conn, server) -> str:
    try:
        fault = conn.compute.get_server(server.id).fault or {}
    except Exception:  # noqa: BLE001 - the fault is a courtesy; the failure is reported anyway
        fault = {}
    return fault.get("message") or "no reason given"


def _reason(exc) -> str:
    details = getattr(exc, "details", None)
    message = getattr(exc, "message", None) or str(exc)
    return f"{message}: {details}" if details and details not in message else message
