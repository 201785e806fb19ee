"""Sending modelserve's wheel to a booting node over SSH, with the system's OpenSSH client
(the user's agent, keys and configuration work as they do for ``ssh``).

The node's host keys are taken from its console, where cloud-init prints them, when the cloud
gives the console: the connection is then verified, not trusted on first use.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
import time
from pathlib import Path

from modelserve.cloud.software import Wheel
from modelserve.errors import ModelserveError

INCOMING = "modelserve-incoming"  # in the login user's home; the bootstrap looks there
_HOST_KEYS = re.compile(
    r"-----BEGIN SSH HOST KEY KEYS-----(?P<keys>.*?)-----END SSH HOST KEY KEYS-----", re.S
)
_KEY_LINE = re.compile(r"((?:ssh|ecdsa|sk)-[\w@.-]+) ([A-Za-z0-9+/=]+)")


class DeliveryError(ModelserveError):
    """The wheel could not be sent to the node."""


def host_keys(console: str) -> list[str]:
    """``type key`` for each host key cloud-init printed on the console (the last boot's)."""
    blocks = _HOST_KEYS.findall(console)
    if not blocks:
        return []
    return [f"{kind} {key}" for kind, key in _KEY_LINE.findall(blocks[-1])]


def deliver(
    address: str,
    wheel: Wheel,
    user: str,
    identity: Path | None = None,
    keys: list[str] | None = None,
    wait_seconds: float = 600,
    echo=lambda line: None,
) -> None:
    """Copy ``wheel`` into ``~user/modelserve-incoming`` on ``address``, retrying while the
    node boots (until ``wait_seconds``). With ``keys``, only a host holding one is trusted."""
    if wheel.data is None:
        raise DeliveryError("nothing to send: the node fetches modelserve from its --source")
    target = f"{INCOMING}/{wheel.filename}"
    remote = f"mkdir -p {INCOMING} && cat > {target}.part && mv {target}.part {target}"
    with tempfile.TemporaryDirectory() as work:
        # A known_hosts of its own: cloud addresses are reused, and a new VM behind an old
        # address must not clash with (or be added to) the user's.
        known = Path(work) / "known_hosts"
        known.write_text("".join(f"{address} {key}\n" for key in keys or []))
        options = ["-o", "BatchMode=yes", "-o", "ConnectTimeout=10",
                   "-o", f"UserKnownHostsFile={known}", "-o", "GlobalKnownHostsFile=/dev/null",
                   "-o", f"StrictHostKeyChecking={'yes' if keys else 'accept-new'}"]  # fmt: skip
        if identity is not None:
            options += ["-i", str(identity), "-o", "IdentitiesOnly=yes"]
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                sent = subprocess.run(
                    ["ssh", *options, f"{user}@{address}", remote],
                    input=wheel.data,
                    capture_output=True,
                    timeout=300,
                )
            except subprocess.TimeoutExpired:
                raise DeliveryError(
                    f"cannot send modelserve to {user}@{address}: no progress in 300 s"
                ) from None
            if sent.returncode == 0:
                echo(f"{address}: sent {wheel.filename}")
                return
            reason = sent.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["?"]
            # 255: ssh itself failed (the node is still booting); anything else: the command.
            if sent.returncode != 255 or time.monotonic() > deadline:
                raise DeliveryError(f"cannot send modelserve to {user}@{address}: {reason[0]}")
            time.sleep(3)
