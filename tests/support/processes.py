"""Real server and worker processes for tests, and a way to wait on what they log.

A server gets a listening socket that the test made and bound first, so its port is known
before it starts and a request sent early simply waits in the kernel's queue until the server
accepts it: no polling for start-up.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path


class LogWatcher:
    """Collects a process's output lines on a thread; tests wait for a line to appear."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self.lines.append("<eof>")
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 60, count: int = 1) -> list[str]:
        regex = re.compile(pattern)
        with self._changed:
            found = self._changed.wait_for(
                lambda: len(self.matching(regex)) >= count or "<eof>" in self.lines, timeout
            )
            matches = self.matching(regex)
            if not found or len(matches) < count:
                tail = "\n".join(self.lines[-30:])
                raise AssertionError(f"{pattern!r} did not appear {count} times; log:\n{tail}")
            return matches

    def wait_until(self, condition, timeout: float = 60, what: str = "the condition") -> None:
        """Block until ``condition(lines)`` holds."""
        with self._changed:
            found = self._changed.wait_for(
                lambda: condition(self.lines) or "<eof>" in self.lines, timeout
            )
            if not found or not condition(self.lines):
                tail = "\n".join(self.lines[-30:])
                raise AssertionError(f"{what} did not happen; log:\n{tail}")

    def matching(self, pattern: str | re.Pattern) -> list[str]:
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern
        return [line for line in self.lines if regex.search(line)]


class Process:
    """A ``modelserve`` command (or, with ``command``, any program) whose log can be awaited."""

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        pass_fds=(),
        prefix=(),
        command: list[str] | None = None,
    ):
        self.popen = subprocess.Popen(
            [*prefix, *(command or [sys.executable, "-m", "modelserve"]), *args],
            env={**os.environ, **env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            pass_fds=pass_fds,
            start_new_session=True,  # so stop() reaches the server's or celery's children too
        )
        self.log = LogWatcher(self.popen.stdout)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        if self.popen.poll() is None:
            os.killpg(self.popen.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout)


class Server(Process):
    """``modelserve serve`` on a socket bound by the test."""

    def __init__(self, env: dict[str, str], workers: int = 2):
        self.socket = socket.socket()
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.listen(128)
        self.port = self.socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        fd = self.socket.fileno()
        super().__init__(
            ["serve", "--bind-fd", str(fd), "--workers", str(workers)], env, pass_fds=(fd,)
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> None:
        super().stop(sig, timeout)
        self.socket.close()


class Worker(Process):
    """``modelserve worker``, returned once it consumes from the broker."""

    def __init__(self, env: dict[str, str], concurrency: int = 1, prefix=()):
        super().__init__(["worker", "--concurrency", str(concurrency)], env, prefix=prefix)
        self.log.wait_for(r'"message":"worker ready"')

    def child_pids(self) -> list[int]:
        children = Path(f"/proc/{self.pid}/task/{self.pid}/children").read_text().split()
        return [int(pid) for pid in children]
