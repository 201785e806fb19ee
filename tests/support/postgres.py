"""PostgreSQL for tests: a database of its own on the machine's server, created and dropped
by the test, and a private server the test may stop and start (for faults)."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg

HOST, PORT, USER = "127.0.0.1", 5432, "postgres"
# The newest installed server's programs, as Debian lays them out.
BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), default=None)


def url(database: str, host: str = HOST, port: int = PORT) -> str:
    return f"postgresql://{USER}@{host}:{port}/{database}"


@contextlib.contextmanager
def scratch_database(host: str = HOST, port: int = PORT) -> Iterator[str]:
    """A new, empty database; its URL; dropped afterwards, with any connection left to it."""
    name = f"modelserve_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url("postgres", host, port), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url(name, host, port)
    finally:
        with psycopg.connect(url("postgres", host, port), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class PrivateServer:
    """A PostgreSQL server of the test's own, in a temporary folder, on a free port: stopping
    it touches nothing else on the machine. Runs as the ``postgres`` user (it refuses root),
    so its folder is made outside pytest's, which only root may enter."""

    def __init__(self):
        self.folder = Path(tempfile.mkdtemp(prefix="modelserve-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.running = False
        shutil.chown(self.folder, USER, USER)
        self._as_postgres(BIN / "initdb", "-D", self.data, "-U", USER, "--auth=trust", "-N")

    def __enter__(self) -> PrivateServer:
        return self

    def __exit__(self, *exc_info) -> None:
        if self.running:
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return url(database, port=self.port)

    def start(self) -> None:
        self._as_postgres(
            BIN / "pg_ctl", "-D", self.data, "-l", self.folder / "log", "-w", "start",
            "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off",
        )  # fmt: skip
        self.running = True

    def stop(self) -> None:
        self._as_postgres(BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        self.running = False

    def _as_postgres(self, *command) -> None:
        subprocess.run(
            ["runuser", "-u", USER, "--", *map(str, command)],
            check=True,
            capture_output=True,
            timeout=60,
        )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]
