"""The README's quick start, run as it is written, on a fresh clone of this repository.

The commands come from the README's own code blocks (marked ``<!-- quick-start: … -->``), so
an edit that breaks them fails here. The clone holds what is committed: what CI and a new
user get. It builds its own .venv with `make serve` and adds TensorFlow with `make train`
(about a minute and a half in all with a warm pip cache).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

from modelserve.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README_PORT = 5100
# Variables a surrounding `make` or shell may set that would change what the README's
# commands do in a user's terminal.
FOREIGN = ("MAKEFLAGS", "MAKELEVEL", "MFLAGS", "MAKEOVERRIDES", "ARGS", "VENV", "PYTHON", "BIN")


def commands(readme: str, marker: str) -> list[str]:
    """The commands of the shell block after ``<!-- quick-start: marker -->``, one per entry."""
    match = re.search(rf"<!-- quick-start: {marker} -->\n```sh\n(.*?)\n```", readme, re.S)
    assert match, f"the README has no code block marked <!-- quick-start: {marker} -->"
    found, pending = [], ""
    for line in match.group(1).splitlines():
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        line, pending = (pending + line).strip(), ""
        if line and not line.startswith("#"):
            found.append(line)
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_group(process: subprocess.Popen, timeout: float = 30) -> None:
    """Stops every process of the command's session: make, modelserve and its server processes."""
    group = process.pid
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process.poll()
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.killpg(group, signal.SIGKILL)
    process.wait(timeout)


def wait_ready(url: str, server: subprocess.Popen, log: Path, timeout: float) -> None:
    """Polls ``url`` until it answers 200; fails at once if the server exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"make serve exited ({server.returncode}):\n{log.read_text()}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer within {timeout} s:\n{log.read_text()[-3000:]}")


def test_quick_start_works_verbatim_on_a_fresh_clone(tmp_path):
    clone = tmp_path / "modelserve"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=120)
    readme = (clone / "README.md").read_text()
    serve, use = commands(readme, "serve"), commands(readme, "use")
    assert len(serve) == 1 and serve[0].split("#")[0].strip() == "make serve", serve
    # The README's URLs name the default port; this run uses a free one instead.
    assert Settings.model_fields["port"].default == README_PORT
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("MODELSERVE_") and k not in FOREIGN and k != "VIRTUAL_ENV"
    }
    env |= {"MODELSERVE_STORE": str(tmp_path / "store"), "MODELSERVE_PORT": str(port)}

    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            ["bash", "-c", serve[0]],
            cwd=clone,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # A fresh clone first makes its .venv and installs modelserve.
        wait_ready(f"http://127.0.0.1:{port}/readyz", server, log, timeout=300)
        seen = {}
        for command in use:
            command = command.replace(f"127.0.0.1:{README_PORT}", f"127.0.0.1:{port}")
            result = subprocess.run(
                ["bash", "-c", command],
                cwd=clone,
                env=env,
                capture_output=True,
                text=True,
                timeout=900,
            )
            assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
            output = result.stdout + result.stderr
            if command.startswith(".venv/bin/modelserve predict"):
                row = result.stdout.splitlines()[1].split()
                seen["predict"] = float(row[1])
                assert row[2] == "1", result.stdout
            elif command.startswith("curl "):
                seen["curl"] = json.loads(result.stdout)["predictions"][0][0]
            elif command.startswith("make train"):
                seen["train"] = output
                assert "stored diabetes version 2 (not current; current is 1)" in output, output
            elif command.startswith(".venv/bin/modelserve models list"):
                seen["list"] = output
                assert re.search(r"diabetes\s+1\s+1,2\b", output), output
        assert set(seen) == {"predict", "curl", "train", "list"}, f"ran only {set(seen)}"
        # The command line and the API answer with the same model and version.
        assert abs(seen["curl"] - seen["predict"]) < 1e-4
        quick_start = readme[readme.index("## Quick start") : readme.index("## Serve your own")]
        assert f"{seen['predict']:.4f}" in quick_start, "the README shows another probability"
    finally:
        stop_group(server)
        shutil.rmtree(clone, ignore_errors=True)  # its .venv holds TensorFlow: gigabytes
