"""`modelserve cloud launch | list | delete` through openstacksdk against the OpenStack double
(tests/support/openstack_cloud.py): real SDK, real HTTP requests, a stateful fake cloud."""

import base64

import pytest
import requests_mock
import yaml

from modelserve.cli import main
from modelserve.cloud import openstack, ssh
from tests.support.openstack_cloud import FakeOpenStack


@pytest.fixture
def cloud(monkeypatch):
    fake = FakeOpenStack()
    for key in list(__import__("os").environ):
        if key.startswith("OS_"):
            monkeypatch.delenv(key)
    for key, value in fake.environment().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(openstack, "POLL_SECONDS", 0)
    with requests_mock.Mocker() as mocker:
        fake.mount(mocker)
        yield fake


def run(capsys, *args) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as exit:
        code = exit.code or 0
    out, err = capsys.readouterr()
    return code, out, err


# The node fetches modelserve itself: nothing is sent over SSH to the double's addresses.
SOURCE = "https://files.example.org/modelserve-0.1.0-py3-none-any.whl#sha256=" + "ab" * 32


def launch(capsys, *args) -> tuple[int, str, str]:
    return run(capsys, "cloud", "launch", "--source", SOURCE, *args)


def live(cloud) -> list[dict]:
    return [s for s in cloud.servers.values() if s["status"] != "DELETED"]


def test_launch_all_in_one_with_a_floating_ip(cloud, capsys):
    code, out, err = launch(
        capsys,
        "--role",
        "all-in-one",
        "--image",
        "debian-12",
        "--flavor",
        "m1.small",
        "--network",
        "private",
        "--key-name",
        "mine",
        "--floating-ip",
    )
    assert code == 0, err
    (server,) = live(cloud)
    assert server["status"] == "ACTIVE"
    assert server["metadata"]["modelserve-role"] == "all-in-one"
    assert server["key_name"] == "mine"
    user_data = base64.b64decode(cloud.user_data[server["id"]]).decode()
    assert user_data.startswith("#cloud-config") and yaml.safe_load(user_data)["runcmd"]
    (fip,) = cloud.floating_ips.values()
    address = fip["floating_ip_address"]
    assert f"{server['name']}  {address}  https://{address}/  (serving 97 s after boot)" in out
    # Workers reach the broker at the fixed address, which the group's rules admit.
    fixed = next(iter(server["addresses"].values()))[0]["addr"]
    assert fixed != address
    assert "workers join with --broker-url amqp://modelserve:" in out
    assert f"@{fixed}:5672/modelserve" in out and f"@{address}:5672" not in out
    assert "waiting for ACTIVE" in err and "ACTIVE after" in err
    assert "waiting for its bootstrap" in err and "API token" in err and "pages login" in err

    # The security group opens SSH and the HTTPS front to all, the broker to members only.
    (group,) = cloud.security_groups.values()
    rules = {
        (r["port_range_min"], r["remote_ip_prefix"], r["remote_group_id"])
        for r in cloud.rules.values()
    }
    assert rules == {
        (22, "0.0.0.0/0", None),
        (443, "0.0.0.0/0", None),
        (80, "0.0.0.0/0", None),
        (5672, None, group["id"]),
    }
    assert server["security_groups"] == [{"name": "modelserve"}]
    assert not cloud.unknown_requests


def test_workers_join_an_existing_deployment_without_new_rules(cloud, capsys):
    assert launch(capsys, "--role", "all-in-one")[0] == 0
    rules = len(cloud.rules)
    code, out, err = launch(
        capsys,
        "--role",
        "worker",
        "--count",
        "3",
        "--broker-url",
        "amqp://modelserve:pw@10.0.0.10:5672/modelserve",
    )
    assert code == 0, err
    workers = [s for s in live(cloud) if s["metadata"]["modelserve-role"] == "worker"]
    assert len(workers) == 3 and len({s["name"] for s in workers}) == 3
    assert len(cloud.rules) == rules  # already there: not opened twice
    for server in workers:
        rendered = yaml.safe_load(base64.b64decode(cloud.user_data[server["id"]]))
        env = next(
            f["content"]
            for f in rendered["write_files"]
            if f["path"] == "/etc/modelserve/modelserve.env"
        )
        assert "MODELSERVE_BROKER_URL=amqp://modelserve:pw@10.0.0.10:5672/modelserve" in env

    code, out, _ = run(capsys, "cloud", "list")
    assert code == 0 and out.count(" worker ") == 3 and out.count(" all-in-one ") == 1


def test_delete_removes_the_server_and_its_floating_ip(cloud, capsys):
    launch(capsys, "--role", "all-in-one", "--floating-ip")
    (server,) = live(cloud)
    code, _, err = run(capsys, "cloud", "delete", server["name"])
    assert code == 0 and f"{server['name']}: deleted" in err
    assert not live(cloud) and not cloud.floating_ips
    code, _, err = run(capsys, "cloud", "delete", server["name"])
    assert code == 1 and "no modelserve server named" in err


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--image", "windows-95"], 1, "windows-95"),
        (["--flavor", "m9.huge"], 1, "m9.huge"),
        (["--network", "nowhere"], 1, "nowhere"),
        (["--key-name", "yours"], 1, "no key pair named 'yours'"),
    ],
)
def test_unknown_resources_are_named_and_nothing_is_created(cloud, capsys, args, code, message):
    result, _, err = launch(capsys, "--role", "all-in-one", *args)
    assert result == code
    assert message in err and len(err.strip().splitlines()[-1]) < 300
    assert not cloud.servers and not cloud.security_groups


def test_quota_refusal_leaves_no_server_of_the_launch_behind(cloud, capsys):
    cloud.instance_quota = 2
    code, _, err = launch(
        capsys, "--role", "worker", "--count", "3", "--broker-url", "amqp://u:p@10.0.0.10:5672/v"
    )
    assert code == 1
    assert "Quota exceeded for instances: Requested 1, but already used 2 of 2" in err
    assert not live(cloud)


def test_a_server_in_error_is_reported_and_deleted(cloud, capsys):
    cloud.fail_builds_with = "No valid host was found. There are not enough hosts available."
    code, _, err = launch(capsys, "--role", "all-in-one")
    assert code == 1
    assert "went to ERROR: No valid host was found" in err and "removed (the launch failed)" in err
    assert not live(cloud) and not cloud.security_groups


def test_missing_credentials_are_reported_plainly(monkeypatch, capsys, tmp_path):
    for key in list(__import__("os").environ):
        if key.startswith("OS_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path))  # no clouds.yaml either
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, "cloud", "list")
    assert code == 1 and "modelserve: error:" in err


def test_launch_writes_an_ansible_inventory(cloud, capsys, tmp_path):
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[prod]\nold-node ansible_host=192.0.2.9 ansible_user=debian\n")
    assert (
        launch(capsys, "--role", "all-in-one", "--floating-ip", "--inventory", str(inventory))[0]
        == 0
    )
    assert launch(capsys, "--role", "dev", "--inventory", str(inventory))[0] == 0
    text = inventory.read_text()
    prod = next(s for s in live(cloud) if s["metadata"]["modelserve-role"] == "all-in-one")
    dev = next(s for s in live(cloud) if s["metadata"]["modelserve-role"] == "dev")
    fip = next(iter(cloud.floating_ips.values()))["floating_ip_address"]
    assert "old-node ansible_host=192.0.2.9" in text
    assert f"{prod['name']} ansible_host={fip} ansible_user=debian" in text
    assert text.index("[dev]") < text.index(dev["name"])


def made_nothing(cloud) -> bool:
    return not live(cloud) and not cloud.floating_ips and not cloud.security_groups


@pytest.mark.parametrize(
    ("script", "args", "message"),
    [
        ("failed", [], "its bootstrap failed at: installing modelserve"),
        ("silent", ["--ready-timeout", "1"], "no word from its bootstrap after 1 s"),
    ],
)
def test_a_node_that_does_not_come_up_is_reported_and_removed(cloud, capsys, script, args, message):
    cloud.console_script = script
    code, _, err = launch(capsys, "--role", "all-in-one", "--floating-ip", *args)
    assert code == 1 and message in err
    if script == "failed":  # the console's last lines come with it
        assert "E: Unable to locate package nginx" in err
    assert made_nothing(cloud)


def test_a_failed_node_can_be_kept_for_inspection(cloud, capsys):
    cloud.console_script = "failed"
    code, _, err = launch(capsys, "--role", "all-in-one", "--keep-on-failure")
    assert code == 1 and "keeping what was made" in err and len(live(cloud)) == 1
    assert "API token (Authorization: Bearer …): " in err  # the kept node is usable


def test_ctrl_c_during_the_wait_leaves_nothing_behind(cloud, capsys):
    cloud.console_script = "interrupt"
    code, _, err = launch(capsys, "--role", "all-in-one", "--floating-ip")
    assert code == 1 and "Aborted" in err
    assert made_nothing(cloud)


def test_ctrl_c_before_the_cloud_answers_a_create_leaves_nothing_behind(cloud, capsys):
    cloud.interrupt_after_create = True
    code, _, err = launch(capsys, "--role", "all-in-one", "--count", "2")
    assert code == 1 and "Aborted" in err
    assert len(cloud.servers) == 1  # made by Nova, though launch never heard of it
    assert made_nothing(cloud)


def test_a_missing_external_network_is_found_before_anything_is_made(cloud, capsys):
    for network_id in [i for i, n in cloud.networks.items() if n["router:external"]]:
        del cloud.networks[network_id]
    code, _, err = launch(capsys, "--role", "all-in-one", "--floating-ip")
    assert code == 1 and "no external network for a floating IP" in err
    assert not cloud.servers and made_nothing(cloud)


def test_a_server_without_a_port_is_removed_with_what_it_came_with(cloud, capsys):
    cloud.ports_for_servers = False
    code, _, err = launch(capsys, "--role", "all-in-one", "--floating-ip")
    assert code == 1 and "has no network port" in err
    assert made_nothing(cloud)


def test_a_failed_launch_keeps_what_existed_before(cloud, capsys):
    assert launch(capsys, "--role", "all-in-one")[0] == 0
    group_id = next(iter(cloud.security_groups))
    cloud.console_script = "failed"
    assert launch(capsys, "--role", "worker", "--broker-url", "amqp://u:p@10.0.0.10:5672/v")[0] == 1
    assert list(cloud.security_groups) == [group_id] and len(live(cloud)) == 1


def test_delete_keeps_floating_ips_the_user_reserved(cloud, capsys):
    assert launch(capsys, "--role", "all-in-one")[0] == 0
    (server,) = live(cloud)
    port = next(p for p in cloud.ports.values() if p["device_id"] == server["id"])
    cloud.floating_ips["theirs"] = {
        "id": "theirs",
        "floating_ip_address": "203.0.113.99",
        "port_id": port["id"],
        "description": "reserved by hand",
        "status": "ACTIVE",
    }
    code, _, err = run(capsys, "cloud", "delete", server["name"])
    assert code == 0 and "floating IP 203.0.113.99 kept (not ours)" in err
    assert "theirs" in cloud.floating_ips


def test_allowed_networks_narrow_the_group_and_an_old_plain_http_rule_is_closed(cloud, capsys):
    group = {"id": "g1", "name": "modelserve", "security_group_rules": [], "tenant_id": "admin"}
    cloud.security_groups["g1"] = group
    cloud.rules["old"] = {
        "id": "old", "security_group_id": "g1", "direction": "ingress", "protocol": "tcp",
        "ethertype": "IPv4", "port_range_min": 5100, "port_range_max": 5100,
        "remote_ip_prefix": "0.0.0.0/0", "remote_group_id": None,
    }  # fmt: skip
    code, _, err = launch(capsys, "--role", "all-in-one", "--allow-cidr", "192.0.2.0/24")
    assert code == 0 and "closed tcp/5100" in err
    opened = {(r["port_range_min"], r["remote_ip_prefix"]) for r in cloud.rules.values()}
    assert opened == {(22, "0.0.0.0/0"), (443, "192.0.2.0/24"), (80, "192.0.2.0/24"), (5672, None)}


def test_a_node_that_cannot_receive_modelserve_is_removed(cloud, capsys, monkeypatch):
    # The one double here: SSH to a VM of the double's cloud cannot happen on this machine.
    sent_to = []

    def unreachable(address, wheel, user, identity=None, keys=None, **_):
        sent_to.append((address, user, keys))
        raise ssh.DeliveryError(f"cannot send modelserve to {user}@{address}: timed out")

    monkeypatch.setattr(ssh, "deliver", unreachable)
    args = ["cloud", "launch", "--role", "all-in-one", "--floating-ip", "--key-name", "mine"]
    code, _, err = run(capsys, *args)
    assert code == 1 and "cannot send modelserve to debian@" in err
    # It was to check the node's host key against what its console printed.
    ((address, user, keys),) = sent_to
    assert user == "debian" and keys and all(key.startswith("ssh-") for key in keys)
    assert made_nothing(cloud)


def test_a_launch_nothing_could_log_in_to_is_refused_before_anything_is_made(cloud, capsys):
    code, _, err = run(capsys, "cloud", "launch", "--role", "all-in-one")
    assert code == 2 and "give --ssh-key" in err and "--key-name" in err
    assert not cloud.servers and made_nothing(cloud)
