"""A stateful stand-in for an OpenStack cloud (Keystone, Nova, Glance, Neutron), answering
openstacksdk the way openstacksdk's own tests do: requests-mock at the HTTP layer, with
openstacksdk's catalog fixture (``openstack.fixture.connection``), its discovery documents
and its resource fakes (``openstack.tests.unit.cloud.fakes``). Unlike those scripted tests,
it keeps state: servers build then go ACTIVE (or ERROR), quotas run out, rules accumulate,
and a server's console shows what its bootstrap would print (``console_script``)."""

from __future__ import annotations

import json
import re
import uuid
from importlib import resources
from urllib.parse import parse_qs, urlsplit

import requests_mock
from openstack.fixture.connection import ConnectionFixture
from openstack.tests.unit.cloud import fakes

AUTH_URL = "https://identity.example.com"
FIXTURES = resources.files("openstack.tests.unit") / "fixtures"


class FakeOpenStack:
    def __init__(self):
        self.catalog = ConnectionFixture()
        self.images = {
            i["id"]: i
            for i in (fakes.make_fake_image(image_id=str(uuid.uuid4()), image_name="debian-12"),)
        }
        self.flavors = {f["id"]: f for f in (fakes.make_fake_flavor("1", "m1.small"),)}
        self.networks = {}
        for name, external in (("private", False), ("public", True)):
            net_id = str(uuid.uuid4())
            self.networks[net_id] = {
                "id": net_id,
                "name": name,
                "router:external": external,
                "status": "ACTIVE",
                "subnets": [],
                "shared": False,
                "admin_state_up": True,
                "tenant_id": "admin",
            }
        self.security_groups: dict[str, dict] = {}
        self.rules: dict[str, dict] = {}
        self.servers: dict[str, dict] = {}
        self.ports: dict[str, dict] = {}
        self.floating_ips: dict[str, dict] = {}
        self.user_data: dict[str, str] = {}
        self.keypairs = {"mine": {"name": "mine", "public_key": "ssh-ed25519 AAAA", "type": "ssh"}}
        self.instance_quota = 10
        self.polls_to_active = 2
        self.fail_builds_with: str | None = None  # a fault message: servers go to ERROR
        self.ports_for_servers = True  # False: servers come up without a network port
        # What an ACTIVE server's console shows after a few reads: "ready", "failed",
        # "silent" (nothing from the bootstrap), or "interrupt" (the user presses Ctrl-C).
        self.console_script = "ready"
        self.interrupt_after_create = False  # Ctrl-C after Nova made a server, before its answer
        self.console_reads: dict[str, int] = {}
        self.unknown_requests: list[str] = []

    # -- wiring ----------------------------------------------------------------------------

    def mount(self, mocker: requests_mock.Mocker) -> None:
        mocker.register_uri(requests_mock.ANY, requests_mock.ANY, json=self._dispatch)

    def environment(self) -> dict[str, str]:
        """The OS_* variables an OpenStack RC file sets."""
        return {
            "OS_AUTH_URL": AUTH_URL,
            "OS_USERNAME": "admin",
            "OS_PASSWORD": "password",
            "OS_PROJECT_NAME": "admin",
            "OS_USER_DOMAIN_NAME": "default",
            "OS_PROJECT_DOMAIN_NAME": "default",
            "OS_REGION_NAME": "RegionOne",
            "OS_IDENTITY_API_VERSION": "3",
            "OS_INTERFACE": "public",
        }

    def _dispatch(self, request, context):
        url = urlsplit(request.url)
        host, path = url.hostname, url.path.rstrip("/") or "/"
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        body = json.loads(request.body) if request.body else None
        for method, host_re, path_re, handler in self._routes():
            if request.method == method and host == host_re:
                match = re.fullmatch(path_re, path)
                if match:
                    context.status_code = 200
                    return handler(context, query, body, *match.groups())
        self.unknown_requests.append(f"{request.method} {request.url}")
        context.status_code = 404
        return {"itemNotFound": {"message": "not found", "code": 404}}

    def _routes(self):
        identity, compute = "identity.example.com", "compute.example.com"
        image, network = "image.example.com", "network.example.com"
        return [
            ("GET", identity, "/", self._keystone_discovery),
            ("POST", identity, "/v3/auth/tokens", self._token),
            ("GET", compute, "/v2.1", self._nova_discovery),
            ("GET", compute, "/v2.1/flavors/detail", self._list_flavors),
            ("GET", compute, "/v2.1/flavors/([^/]+)", self._get_flavor),
            ("POST", compute, "/v2.1/servers", self._create_server),
            ("GET", compute, "/v2.1/servers/detail", self._list_servers),
            ("GET", compute, "/v2.1/servers/([^/]+)", self._get_server),
            ("DELETE", compute, "/v2.1/servers/([^/]+)", self._delete_server),
            ("POST", compute, "/v2.1/servers/([^/]+)/action", self._server_action),
            ("GET", compute, "/v2.1/os-keypairs", self._list_keypairs),
            ("GET", compute, "/v2.1/os-keypairs/([^/]+)", self._get_keypair),
            ("GET", image, "/", self._glance_discovery),
            ("GET", image, "/v2/images", self._list_images),
            ("GET", image, "/v2/images/([^/]+)", self._get_image),
            ("GET", network, "/", self._neutron_discovery),
            ("GET", network, "/v2.0/networks", self._list_networks),
            ("GET", network, "/v2.0/networks/([^/]+)", self._get_network),
            ("GET", network, "/v2.0/security-groups", self._list_groups),
            ("GET", network, "/v2.0/security-groups/([^/]+)", self._get_group),
            ("POST", network, "/v2.0/security-groups", self._create_group),
            ("GET", network, "/v2.0/security-group-rules", self._list_rules),
            ("POST", network, "/v2.0/security-group-rules", self._create_rule),
            ("DELETE", network, "/v2.0/security-group-rules/([^/]+)", self._delete_rule),
            ("DELETE", network, "/v2.0/security-groups/([^/]+)", self._delete_group),
            ("GET", network, "/v2.0/ports", self._list_ports),
            ("GET", network, "/v2.0/floatingips", self._list_fips),
            ("POST", network, "/v2.0/floatingips", self._create_fip),
            ("DELETE", network, "/v2.0/floatingips/([^/]+)", self._delete_fip),
        ]

    # -- keystone and discovery ------------------------------------------------------------

    def _keystone_discovery(self, context, query, body):
        return json.loads((FIXTURES / "discovery.json").read_text())

    def _token(self, context, query, body):
        context.status_code = 201
        context.headers["X-Subject-Token"] = uuid.uuid4().hex
        return self.catalog.v3_token

    def _nova_discovery(self, context, query, body):
        return json.loads((FIXTURES / "compute-version.json").read_text())

    def _glance_discovery(self, context, query, body):
        context.status_code = 300
        return json.loads((FIXTURES / "image-version.json").read_text())

    def _neutron_discovery(self, context, query, body):
        return {
            "versions": [
                {
                    "id": "v2.0",
                    "status": "CURRENT",
                    "links": [{"href": "https://network.example.com/v2.0/", "rel": "self"}],
                }
            ]
        }

    # -- nova ------------------------------------------------------------------------------

    def _list_flavors(self, context, query, body):
        return {"flavors": list(self.flavors.values())}

    def _get_flavor(self, context, query, body, flavor_id):
        return self._one(context, self.flavors, flavor_id, "flavor")

    def _create_server(self, context, query, body):
        spec = body["server"]
        active = sum(1 for s in self.servers.values() if s["status"] != "DELETED")
        if active >= self.instance_quota:
            context.status_code = 403
            return {
                "forbidden": {
                    "code": 403,
                    "message": (
                        f"Quota exceeded for instances: Requested 1, but already used {active} of "
                        f"{self.instance_quota} instances"
                    ),
                }
            }
        if spec["imageRef"] not in self.images or spec["flavorRef"] not in self.flavors:
            context.status_code = 400
            return {"badRequest": {"code": 400, "message": "Invalid imageRef or flavorRef"}}
        server_id = str(uuid.uuid4())
        network_id = (
            spec["networks"][0]["uuid"]
            if isinstance(spec["networks"], list)
            else next(i for i, n in self.networks.items() if n["name"] == "private")
        )
        address = f"10.0.0.{len(self.servers) + 10}"
        server = fakes.make_fake_server(server_id, spec["name"], status="BUILD")
        server.update(
            metadata=spec.get("metadata", {}),
            key_name=spec.get("key_name"),
            security_groups=spec.get("security_groups", []),
            addresses={
                self.networks[network_id]["name"]: [
                    {"addr": address, "version": 4, "OS-EXT-IPS:type": "fixed"}
                ]
            },
        )
        server["_polls"] = 0
        self.servers[server_id] = server
        self.user_data[server_id] = spec.get("user_data", "")
        if self.ports_for_servers:
            port_id = str(uuid.uuid4())
            self.ports[port_id] = {
                "id": port_id,
                "device_id": server_id,
                "network_id": network_id,
                "fixed_ips": [{"ip_address": address}],
                "status": "ACTIVE",
            }
        if self.interrupt_after_create:  # the user's Ctrl-C lands before the answer
            raise KeyboardInterrupt
        context.status_code = 202
        return {"server": {"id": server_id, "links": [], "adminPass": "x"}}

    def _advance(self, server: dict) -> dict:
        if server["status"] == "BUILD":
            server["_polls"] += 1
            if self.fail_builds_with:
                server.update(status="ERROR", fault={"code": 500, "message": self.fail_builds_with})
            elif server["_polls"] >= self.polls_to_active:
                server["status"] = "ACTIVE"
        return {k: v for k, v in server.items() if not k.startswith("_")}

    def _list_servers(self, context, query, body):
        servers = [s for s in self.servers.values() if s["status"] != "DELETED"]
        if "name" in query:
            servers = [s for s in servers if re.search(query["name"], s["name"])]
        return {"servers": [self._advance(s) for s in servers]}

    def _get_server(self, context, query, body, server_id):
        server = self.servers.get(server_id)
        if server is None or server["status"] == "DELETED":
            context.status_code = 404
            return {"itemNotFound": {"code": 404, "message": f"server {server_id} not found"}}
        return {"server": self._advance(server)}

    def _delete_server(self, context, query, body, server_id):
        server = self.servers.get(server_id)
        if server is None or server["status"] == "DELETED":
            context.status_code = 404
            return {"itemNotFound": {"code": 404, "message": "not found"}}
        server["status"] = "DELETED"
        for port_id in [p for p, port in self.ports.items() if port["device_id"] == server_id]:
            del self.ports[port_id]
        context.status_code = 204
        return None

    def _server_action(self, context, query, body, server_id):
        if "os-getConsoleOutput" not in body:
            context.status_code = 400
            return {"badRequest": {"code": 400, "message": f"unknown action {list(body)}"}}
        server = self.servers[server_id]
        reads = self.console_reads[server_id] = self.console_reads.get(server_id, 0) + 1
        lines = ["[    0.000000] Linux version 6.1.0", "cloud-init[401]: Cloud-init v. 22.4"]
        if server["status"] == "ACTIVE" and reads >= 2:
            if self.console_script == "interrupt":
                raise KeyboardInterrupt
            lines += [
                "-----BEGIN SSH HOST KEY KEYS-----",
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeHostKeyForTheDouble root@node",
                "-----END SSH HOST KEY KEYS-----",
                "modelserve-node: installing modelserve",
            ]
            if self.console_script == "ready":
                lines.append("modelserve-node: ready after 97 s: https://10.0.0.10/")
            elif self.console_script == "failed":
                lines += [
                    "E: Unable to locate package nginx",
                    "modelserve-node: FAILED at installing modelserve after 31 s",
                ]
        return {"output": "\n".join(lines) + "\n"}

    def _list_keypairs(self, context, query, body):
        return {"keypairs": [{"keypair": k} for k in self.keypairs.values()]}

    def _get_keypair(self, context, query, body, name):
        if name not in self.keypairs:
            context.status_code = 404
            return {"itemNotFound": {"code": 404, "message": f"Keypair {name} not found"}}
        return {"keypair": self.keypairs[name]}

    # -- glance ----------------------------------------------------------------------------

    def _list_images(self, context, query, body):
        images = [
            i for i in self.images.values() if "name" not in query or i["name"] == query["name"]
        ]
        return {"images": images}

    def _get_image(self, context, query, body, image_id):
        if image_id not in self.images:
            context.status_code = 404
            return {"message": "not found"}
        return self.images[image_id]

    # -- neutron ---------------------------------------------------------------------------

    def _filtered(self, items, query):
        def keep(item):
            return all(
                str(item.get(k)) == v
                for k, v in query.items()
                if k not in ("fields", "limit", "marker")
            )

        return [i for i in items if keep(i)]

    def _list_networks(self, context, query, body):
        return {"networks": self._filtered(self.networks.values(), query)}

    def _get_network(self, context, query, body, network_id):
        return self._one(context, self.networks, network_id, "network")

    def _list_groups(self, context, query, body):
        return {"security_groups": self._filtered(self.security_groups.values(), query)}

    def _get_group(self, context, query, body, group_id):
        return self._one(context, self.security_groups, group_id, "security_group")

    def _create_group(self, context, query, body):
        group = {
            "id": str(uuid.uuid4()),
            "security_group_rules": [],
            "tenant_id": "admin",
            **body["security_group"],
        }
        self.security_groups[group["id"]] = group
        context.status_code = 201
        return {"security_group": group}

    def _list_rules(self, context, query, body):
        return {"security_group_rules": self._filtered(self.rules.values(), query)}

    def _create_rule(self, context, query, body):
        rule = {
            "id": str(uuid.uuid4()),
            "remote_ip_prefix": None,
            "remote_group_id": None,
            **body["security_group_rule"],
        }
        self.rules[rule["id"]] = rule
        context.status_code = 201
        return {"security_group_rule": rule}

    def _delete_rule(self, context, query, body, rule_id):
        self.rules.pop(rule_id, None)
        context.status_code = 204
        return None

    def _delete_group(self, context, query, body, group_id):
        self.security_groups.pop(group_id, None)
        for rule_id in [
            r for r, rule in self.rules.items() if rule["security_group_id"] == group_id
        ]:
            del self.rules[rule_id]
        context.status_code = 204
        return None

    def _list_ports(self, context, query, body):
        return {"ports": self._filtered(self.ports.values(), query)}

    def _list_fips(self, context, query, body):
        return {"floatingips": self._filtered(self.floating_ips.values(), query)}

    def _create_fip(self, context, query, body):
        spec = body["floatingip"]
        fip = {
            "id": str(uuid.uuid4()),
            "floating_ip_address": f"203.0.113.{len(self.floating_ips) + 5}",
            "status": "ACTIVE",
            **spec,
        }
        self.floating_ips[fip["id"]] = fip
        context.status_code = 201
        return {"floatingip": fip}

    def _delete_fip(self, context, query, body, fip_id):
        self.floating_ips.pop(fip_id, None)
        context.status_code = 204
        return None

    def _one(self, context, table, key, kind):
        if key in table:
            return {kind: table[key]}
        context.status_code = 404
        return {"NeutronError": {"type": "NotFound", "message": f"{kind} {key} not found"}}
