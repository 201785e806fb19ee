"""`modelserve cloud launch | list | delete` through openstacksdk against the OpenStack double
(tests/support/openstack_cloud.py): real SDK, real HTTP requests, a stateful fake cloud."""

import base64

import pytest
import requests_mock
import yaml

from modelserve.cli import main
from modelserve.cloud import openstack
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


def live(cloud) -> list[dict]:
    return [s for s in cloud.servers.values() if s["status"] != "DELETED"]


def test_launch_all_in_one_with_a_floating_ip(cloud, capsys):
    code, out, err = run(
        capsys,
        "cloud",
        "launch",
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
    assert f"{server['name']}  {address}  http://{address}:5100/" in out
    # Workers reach the broker at the fixed address, which the group's rules admit.
    fixed = next(iter(server["addresses"].values()))[0]["addr"]
    assert fixed != address
    assert "workers join with --broker-url amqp://modelserve:" in out
    assert f"@{fixed}:5672/modelserve" in out and f"@{address}:5672" not in out
    assert "waiting for ACTIVE" in err and "ACTIVE after" in err

    # The security group opens SSH and the web port to all, the broker to members only.
    (group,) = cloud.security_groups.values()
    rules = {
        (r["port_range_min"], r["remote_ip_prefix"], r["remote_group_id"])
        for r in cloud.rules.values()
    }
    assert rules == {(22, "0.0.0.0/0", None), (5100, "0.0.0.0/0", None), (5672, None, group["id"])}
    assert server["security_groups"] == [{"name": "modelserve"}]
    assert not cloud.unknown_requests


def test_workers_join_an_existing_deployment_without_new_rules(cloud, capsys):
    assert run(capsys, "cloud", "launch", "--role", "all-in-one")[0] == 0
    rules = len(cloud.rules)
    code, out, err = run(
        capsys,
        "cloud",
        "launch",
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
    run(capsys, "cloud", "launch", "--role", "all-in-one", "--floating-ip")
    (server,) = live(cloud)
    code, _, err = run(capsys, "cloud", "delete", server["name"])
    assert code == 0 and f"{server['name']}: deleted" in err
    assert not live(cloud) and not cloud.floating_ips
    code, _, err = run(capsys, "cloud", "delete", server["name"])
    assert code == 1 and "no modelserve server named" in err


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--image", "windows-95"], 2, "windows-95"),
        (["--flavor", "m9.huge"], 2, "m9.huge"),
        (["--network", "nowhere"], 2, "nowhere"),
    ],
)
def test_unknown_resources_are_named_and_nothing_is_created(cloud, capsys, args, code, message):
    result, _, err = run(capsys, "cloud", "launch", "--role", "all-in-one", *args)
    assert result == code
    assert message in err and len(err.strip().splitlines()[-1]) < 300
    assert not cloud.servers


def test_quota_refusal_leaves_no_server_of_the_launch_behind(cloud, capsys):
    cloud.instance_quota = 2
    code, _, err = run(
        capsys,
        "cloud",
        "launch",
        "--role",
        "worker",
        "--count",
        "3",
        "--broker-url",
        "amqp://u:p@10.0.0.10:5672/v",
    )
    assert code == 1
    assert "Quota exceeded for instances: Requested 1, but already used 2 of 2" in err
    assert not live(cloud)


def test_a_server_in_error_is_reported_and_deleted(cloud, capsys):
    cloud.fail_builds_with = "No valid host was found. There are not enough hosts available."
    code, _, err = run(capsys, "cloud", "launch", "--role", "all-in-one")
    assert code == 1
    assert "went to ERROR: No valid host was found" in err and "it was deleted" in err
    assert not live(cloud)


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
        run(
            capsys,
            "cloud",
            "launch",
            "--role",
            "all-in-one",
            "--floating-ip",
            "--inventory",
            str(inventory),
        )[0]
        == 0
    )
    assert run(capsys, "cloud", "launch", "--role", "dev", "--inventory", str(inventory))[0] == 0
    text = inventory.read_text()
    prod = next(s for s in live(cloud) if s["metadata"]["modelserve-role"] == "all-in-one")
    dev = next(s for s in live(cloud) if s["metadata"]["modelserve-role"] == "dev")
    fip = next(iter(cloud.floating_ips.values()))["floating_ip_address"]
    assert "old-node ansible_host=192.0.2.9" in text
    assert f"{prod['name']} ansible_host={fip} ansible_user=debian" in text
    assert text.index("[dev]") < text.index(dev["name"])
