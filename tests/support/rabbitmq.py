"""A RabbitMQ node of the test's own, in a network namespace, that it can stop and start again.

The machine's RabbitMQ is never touched: this node has its own data folder (kept across its
restarts, as a server's disk is), configuration, Erlang cookie and port-mapper, and a user of
its own that may connect from other hosts.
"""

from __future__ import annotations

import secrets
import signal
from pathlib import Path

from tests.support.netns import Host
from tests.support.processes import Process

SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


class RabbitNode:
    def __init__(self, host: Host, folder: Path):
        self.host = host
        self.folder = folder
        self.user, self.password = "modelserve", secrets.token_hex(12)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "rabbitmq.conf").write_text(
            "listeners.tcp.default = 5672\n"
            "loopback_users = none\n"
            f"default_user = {self.user}\n"
            f"default_pass = {self.password}\n"
        )
        (folder / "enabled_plugins").write_text("[].\n")
        self.env = {
            "HOME": str(folder),  # its own Erlang cookie
            "RABBITMQ_NODENAME": "rabbit@localhost",
            "RABBITMQ_MNESIA_BASE": str(folder / "data"),
            "RABBITMQ_LOG_BASE": str(folder / "log"),
            "RABBITMQ_CONFIG_FILE": str(folder / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(folder / "enabled_plugins"),
            "RABBITMQ_LOGS": "-",
        }
        self.process: Process | None = None

    def url(self, address: str) -> str:
        return f"amqp://{self.user}:{self.password}@{address}:5672//"

    def start(self, timeout: float = 60) -> None:
        """Start the node and return once it accepts connections."""
        self.process = Process([], self.env, prefix=self.host.prefix, command=[SERVER])
        self.process.log.wait_for("Server startup complete", timeout=timeout)

    def stop(self) -> None:
        """Stop the node as its service manager would, and wait until it is gone."""
        self.host.signal(signal.SIGTERM, "beam.smp")
        if self.process is not None:
            self.process.popen.wait(60)
            self.process = None
