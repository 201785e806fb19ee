"""Hosts as network namespaces joined by a veth pair, each with its own address."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


class Host:
    def __init__(self, name: str, address: str):
        self.name, self.address = name, address
        ip("netns", "add", name)
        ip("-n", name, "link", "set", "lo", "up")

    @property
    def prefix(self) -> list[str]:
        """Prepended to a command, runs it inside this host."""
        return ["ip", "netns", "exec", self.name]

    def run(self, *command: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([*self.prefix, *command], capture_output=True, text=True, **kwargs)

    def signal(self, sig: int, name: str | None = None) -> list[int]:
        """Send ``sig`` to every process in this host (named ``name``, if given)."""
        listed = subprocess.run(
            ["ip", "netns", "pids", self.name], capture_output=True, text=True
        ).stdout.split()
        sent = []
        for pid in map(int, listed):
            try:
                if name is None or Path(f"/proc/{pid}/comm").read_text().strip() == name:
                    os.kill(pid, sig)
                    sent.append(pid)
            except (FileNotFoundError, ProcessLookupError):
                continue  # gone meanwhile
        return sent

    def partition(self, peer: str, port: int) -> None:
        """Drop every packet between ``peer`` and this host's ``port``, both ways, as a
        network that stops carrying them would: no reset, no close, nothing."""
        rules = (
            "add table inet partition\n"
            "add chain inet partition input { type filter hook input priority 0; }\n"
            "add chain inet partition output { type filter hook output priority 0; }\n"
            f"add rule inet partition input ip saddr {peer} tcp dport {port} drop\n"
            f"add rule inet partition output ip daddr {peer} tcp sport {port} drop\n"
        )
        subprocess.run([*self.prefix, "nft", "-f", "-"], input=rules, text=True, check=True)

    def heal(self) -> None:
        """Undo ``partition``."""
        self.run("nft", "delete", "table", "inet", "partition", check=True)

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def two_hosts(first: str, second: str) -> tuple[Host, Host]:
    """Two namespaces on a private /24 of their own, linked by a veth pair."""
    tag = secrets.token_hex(3)
    subnet = f"10.{200 + secrets.randbelow(50)}.{secrets.randbelow(250) + 1}"
    a = Host(f"ms-{first}-{tag}", f"{subnet}.1")
    b = Host(f"ms-{second}-{tag}", f"{subnet}.2")
    left, right = f"ve-a-{tag}", f"ve-b-{tag}"
    ip("link", "add", left, "type", "veth", "peer", "name", right)
    for host, end in ((a, left), (b, right)):
        ip("link", "set", end, "netns", host.name)
        ip("-n", host.name, "addr", "add", f"{host.address}/24", "dev", end)
        ip("-n", host.name, "link", "set", end, "up")
    return a, b


def lan(*names: str) -> list[Host]:
    """Hosts on one Ethernet segment: a bridge in a namespace of its own, a veth to each."""
    tag = secrets.token_hex(3)
    subnet = f"10.{200 + secrets.randbelow(50)}.{secrets.randbelow(250) + 1}"
    switch = Host(f"ms-lan-{tag}", "")
    ip("-n", switch.name, "link", "add", "br0", "type", "bridge")
    ip("-n", switch.name, "link", "set", "br0", "up")
    hosts = []
    for number, name in enumerate(names, start=1):
        host = Host(f"ms-{name}-{tag}", f"{subnet}.{number}")
        inside, outside = f"vi-{tag}-{number}", f"vo-{tag}-{number}"
        ip("link", "add", inside, "type", "veth", "peer", "name", outside)
        ip("link", "set", inside, "netns", host.name)
        ip("link", "set", outside, "netns", switch.name)
        ip("-n", switch.name, "link", "set", outside, "master", "br0", "up")
        ip("-n", host.name, "addr", "add", f"{host.address}/24", "dev", inside)
        ip("-n", host.name, "link", "set", inside, "up")
        hosts.append(host)
    hosts.append(switch)  # last, so a caller deleting every host removes the bridge too
    return hosts
