"""Throughput of the compose stack with 1 and 3 workers (`make images` first).

    python bench/compose_scaling.py [--seconds 20] [--clients 16]

Starts the stack from deploy/docker/compose.yaml under a project of its own, drives it with
concurrent clients (one connection each) for a fixed time per worker count, and writes
bench/results/compose-scaling.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "deploy" / "docker" / "compose.yaml"
ROW = [6, 148, 72, 35, 0, 33.6, 0.627, 50]


def drive(url: str, clients: int, seconds: float) -> dict:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client() -> None:
        nonlocal errors
        with requests.Session() as session:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                ok = session.post(url, json={"instances": [ROW]}).status_code == 200
                with lock:
                    if ok:
                        latencies.append(time.perf_counter() - started)
                    else:
                        errors += 1

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return {
        "requests_per_second": round(len(latencies) / seconds, 1),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        env = Path(tmp) / ".env"
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        secrets = subprocess.run(
            [str(ROOT / "deploy/docker/new-env.sh")], check=True, capture_output=True, text=True
        ).stdout
        env.write_text(secrets + f"MODELSERVE_PORT={port}\n")
        base = [
            "docker",
            "compose",
            "-f",
            str(COMPOSE),
            "--env-file",
            str(env),
            "-p",
            f"msbench{uuid.uuid4().hex[:6]}",
        ]
        url = f"http://127.0.0.1:{port}/v1/models/diabetes:predict"
        results = {}
        try:
            for workers in (1, 3):
                subprocess.run(
                    [*base, "up", "-d", "--wait", "--scale", f"worker={workers}"],
                    check=True,
                    capture_output=True,
                )
                drive(url, args.clients, 3)  # warm-up
                results[f"{workers} worker{'s' if workers > 1 else ''}"] = drive(
                    url, args.clients, args.seconds
                )
                print(workers, results[list(results)[-1]], flush=True)
        finally:
            subprocess.run([*base, "down", "--volumes"], capture_output=True)
    report = {
        "what": "compose stack (web: 2 gunicorn processes; workers: 1 process each), "
        f"{args.clients} clients, one row per request, {args.seconds:g} s each",
        "machine": f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores",
        "results": results,
    }
    out = ROOT / "bench" / "results" / "compose-scaling.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
