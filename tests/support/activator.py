"""Holds a listening socket while the server behind it restarts, as a systemd socket unit does.

    python -m tests.support.activator HOST:PORT modelserve serve --bind-fd {fd}

binds HOST:PORT, then runs the command with the socket's descriptor in place of ``{fd}``.
SIGHUP restarts the command (the old process stops gracefully, then a new one starts on the
same socket: connections made meanwhile wait in the socket's queue); SIGTERM stops it and
exits. It prints ``restarted`` once a new process runs.
"""

from __future__ import annotations

import queue
import signal
import socket
import subprocess
import sys


def main() -> None:
    address, *command = sys.argv[1:]
    host, _, port = address.rpartition(":")
    listener = socket.create_server((host, int(port)), backlog=256)
    fd = listener.fileno()
    command = [str(fd) if part == "{fd}" else part for part in command]

    requests: queue.SimpleQueue[int] = queue.SimpleQueue()
    for sig in (signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, lambda number, _: requests.put(number))

    server = subprocess.Popen(command, pass_fds=(fd,))
    while True:
        number = requests.get()
        server.terminate()
        server.wait()
        if number == signal.SIGTERM:
            return
        server = subprocess.Popen(command, pass_fds=(fd,))
        print("restarted", flush=True)


if __name__ == "__main__":
    main()
