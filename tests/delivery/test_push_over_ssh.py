"""`git push production` as in real use: production is an SSH host with its own address in a
network namespace, the developer pushes from another namespace, with keys made for the test."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.delivery.conftest import GIT_IDENTITY, git
from tests.support.netns import two_hosts
from tests.support.processes import Process

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip()


@pytest.fixture
def hosts():
    prod, dev = two_hosts("prod", "dev")
    yield prod, dev
    prod.delete()
    dev.delete()


@pytest.fixture
def ssh(hosts, tmp_path):
    """sshd in the production namespace, key authentication only; the client's ssh command."""
    prod, _ = hosts
    keys = tmp_path / "keys"
    keys.mkdir()
    host_key = keygen(keys / "host_key")
    client_key = keygen(keys / "client_key")
    (keys / "authorized_keys").write_text(client_key + "\n")
    (keys / "known_hosts").write_text(f"{prod.address} {host_key}\n")
    config = keys / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"ListenAddress {prod.address}",
                f"HostKey {keys / 'host_key'}",
                f"AuthorizedKeysFile {keys / 'authorized_keys'}",
                f"PidFile {keys / 'sshd.pid'}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "StrictModes no",
                "UsePAM no",
            ]
        )
        + "\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
    sshd = Process(["-D", "-e", "-f", str(config)], {}, prefix=prod.prefix, command=[SSHD])
    sshd.log.wait_for(rf"Server listening on {prod.address} port 22")
    yield (
        f"ssh -i {keys / 'client_key'} -o IdentitiesOnly=yes -o BatchMode=yes "
        f"-o UserKnownHostsFile={keys / 'known_hosts'} -o StrictHostKeyChecking=yes"
    )
    sshd.stop()


def test_push_over_ssh_between_namespaces(hosts, ssh, production, development):
    prod, dev = hosts
    server = Process(
        ["serve", "--host", prod.address, "--port", "5100", "--workers", "1"],
        production.env,
        prefix=prod.prefix,
    )
    try:
        server.log.wait_for(rf"serving on http://{prod.address}:5100/")
        remote = f"ssh://root@{prod.address}{production.repo}"
        git("remote", "set-url", "production", remote, cwd=development.tree)
        git_env = {**os.environ, **GIT_IDENTITY, "GIT_SSH_COMMAND": ssh}
        development.commit_bundle("good")
        push = dev.run(
            "git", "push", "production", "HEAD:master", cwd=development.tree, env=git_env
        )
        assert push.returncode == 0, push.stderr
        assert "remote:   PASS  accuracy" in push.stderr
        assert "remote: modelserve: diabetes version 2 is live (was 1)" in push.stderr
        assert f"To ssh://{prod.address}{production.repo}" in push.stderr

        answer = dev.run(
            "curl",
            "-s",
            "-D",
            "-",
            "-H",
            "Content-Type: application/json",
            "-d",
            '{"instances": [[6,148,72,35,0,33.6,0.627,50]]}',
            f"http://{prod.address}:5100/v1/models/diabetes:predict",
        )
        assert answer.returncode == 0, answer.stderr
        # Header names are case-insensitive; the server sends them in lower case.
        assert "x-model-version: 2" in answer.stdout.lower() and '"predictions"' in answer.stdout

        development.commit_bundle("nan")
        refused = dev.run(
            "git", "push", "production", "HEAD:master", cwd=development.tree, env=git_env
        )
        assert refused.returncode != 0
        assert "remote:   FAIL  smoke" in refused.stderr
        assert production.store.current_version("diabetes") == 2
    finally:
        server.stop()
