"""Launching, listing and deleting modelserve nodes through the OpenStack API (openstacksdk).

Credentials come the usual way: ``clouds.yaml`` with ``--cloud``/``OS_CLOUD``, or the
``OS_*`` variables of an OpenStack RC file.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from modelserve import __version__
from modelserve.errors import MissingDependency, ModelserveError

ROLE_KEY = "modelserve-role"
POLL_SECONDS = 2
Echo = Callable[[str], None]


class CloudError(ModelserveError):
    """The cloud refused or failed a request; the message says what it answered."""

    exit_code = 1


class UnknownResource(CloudError):
    """An image, flavor or network named on the command line does not exist."""

    exit_code = 2


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
    port: int = 5100
    name_prefix: str = "modelserve"
    wait_seconds: float = 900


@dataclass(frozen=True)
class Node:
    name: str
    id: str
    status: str
    role: str
    fixed_ip: str | None
    floating_ip: str | None

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


def launch(conn, options: LaunchOptions, user_data: str, echo: Echo) -> list[Node]:
    """Create ``options.count`` servers; a server that fails is deleted before raising."""
    from openstack import exceptions

    try:
        image = conn.image.find_image(options.image, ignore_missing=False)
        flavor = conn.compute.find_flavor(options.flavor, ignore_missing=False)
        network = (
            conn.network.find_network(options.network, ignore_missing=False)
            if options.network
            else None
        )
        group = ensure_security_group(conn, options, echo)
    except exceptions.ResourceNotFound as exc:
        raise UnknownResource(_reason(exc)) from exc
    except exceptions.SDKException as exc:
        raise CloudError(f"the cloud refused: {_reason(exc)}") from exc

    encoded = base64.b64encode(user_data.encode()).decode()
    nodes: list[Node] = []
    try:
        for _ in range(options.count):
            name = f"{options.name_prefix}-{options.role}-{secrets.token_hex(3)}"
            nodes.append(
                _launch_one(conn, name, image, flavor, network, group, encoded, options, echo)
            )
    except CloudError:
        # All or nothing: a launch that fails part-way leaves no server of its own behind.
        for node in nodes:
            _remove(conn, conn.compute.get_server(node.id), echo)
        raise
    return nodes


def _launch_one(conn, name, image, flavor, network, group, user_data, options, echo) -> Node:
    from openstack import exceptions

    server = None
    try:
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
        echo(f"{name}: created ({server.id}), waiting for ACTIVE")
        started = time.monotonic()
        server = conn.compute.wait_for_server(
            server,
            status="ACTIVE",
            failures=["ERROR"],
            interval=POLL_SECONDS,
            wait=options.wait_seconds,
            callback=lambda progress: echo(f"{name}: building… {progress or 0}%"),
        )
        echo(f"{name}: ACTIVE after {time.monotonic() - started:.0f} s")
        floating = _attach_floating_ip(conn, server, options, echo) if options.floating_ip else None
        return _node(conn, server, floating)
    except exceptions.ResourceFailure as exc:
        fault = _fault(conn, server)
        _remove(conn, server, echo)
        raise CloudError(f"{name} went to ERROR: {fault}; it was deleted") from exc
    except exceptions.ResourceTimeout as exc:
        _remove(conn, server, echo)
        raise CloudError(
            f"{name} was not ACTIVE after {options.wait_seconds:g} s; it was deleted"
        ) from exc
    except exceptions.SDKException as exc:
        _remove(conn, server, echo)
        what = f"{name} was deleted" if server is not None else "no server was created"
        raise CloudError(f"the cloud refused: {_reason(exc)}; {what}") from exc


def ensure_security_group(conn, options: LaunchOptions, echo: Echo):
    """The group opening SSH and the web port, and the broker to the group's own members."""
    from openstack import exceptions

    try:
        group = conn.network.find_security_group(options.security_group, ignore_missing=False)
    except exceptions.ResourceNotFound:
        group = conn.network.create_security_group(
            name=options.security_group, description="modelserve nodes: SSH, web, broker"
        )
        echo(f"security group {group.name}: created")
    wanted = [
        {"port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"},
        {
            "port_range_min": options.port,
            "port_range_max": options.port,
            "remote_ip_prefix": "0.0.0.0/0",
        },
        {"port_range_min": 5672, "port_range_max": 5672, "remote_group_id": group.id},
    ]
    existing = list(conn.network.security_group_rules(security_group_id=group.id))
    for rule in wanted:
        if not any(_same_rule(r, rule) for r in existing):
            conn.network.create_security_group_rule(
                security_group_id=group.id,
                direction="ingress",
                ethertype="IPv4",
                protocol="tcp",
                **rule,
            )
            echo(f"security group {group.name}: opened tcp/{rule['port_range_min']}")
    return group


def _same_rule(existing, wanted: dict) -> bool:
    return (
        existing.direction == "ingress"
        and existing.protocol == "tcp"
        and all(getattr(existing, k) == v for k, v in wanted.items())
    )


def _attach_floating_ip(conn, server, options: LaunchOptions, echo: Echo) -> str:
    if options.floating_network:
        external = conn.network.find_network(options.floating_network, ignore_missing=False)
    else:
        external = next(iter(conn.network.networks(is_router_external=True)), None)
        if external is None:
            raise CloudError("no external network for a floating IP: use --floating-network")
    port = next(iter(conn.network.ports(device_id=server.id)))
    ip = conn.network.create_ip(floating_network_id=external.id, port_id=port.id)
    echo(f"{server.name}: floating IP {ip.floating_ip_address}")
    return ip.floating_ip_address


def list_nodes(conn) -> list[Node]:
    return [
        _node(conn, s, None)
        for s in conn.compute.servers(details=True)
        if (s.metadata or {}).get(ROLE_KEY)
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


def _remove(conn, server, echo: Echo) -> None:
    if server is None:
        return
    for port in conn.network.ports(device_id=server.id):
        for ip in conn.network.ips(port_id=port.id):
            conn.network.delete_ip(ip, ignore_missing=True)
    conn.compute.delete_server(server, ignore_missing=True)
    conn.compute.wait_for_delete(server, interval=POLL_SECONDS, wait=300)
    echo(f"{server.name}: deleted")


def _node(conn, server, floating: str | None) -> Node:
    fixed = None
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
