"""Memory under a long run: 100,000 requests in Celery mode (`make soak`).

Starts a web server (2 processes) and a worker (2 processes) over RabbitMQ, warms them up,
reads every process's resident memory, sends at least --requests more with wrk, reads it
again, and writes bench/results/soak.json. Steady means within 10 % of the warmed-up size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
import uuid
from pathlib import Path

from run import BIN, BROKER, RESULTS, Stack, first_answer, free_port, start, stop, wrk

from modelserve.bundles import Bundle
from modelserve.datasets import read_csv
from modelserve.runtime import load_runtime
from modelserve.settings import demo_bundle_path, demo_dataset_path


def process_rss(processes) -> dict[str, float]:
    """RSS in MB of every process of the stack, by role and pid."""
    sizes = {}
    for process in processes:
        role = "worker" if "worker" in process.args else "web"
        for pid in [process.pid, *_descendants(process.pid)]:
            status = Path(f"/proc/{pid}/status")
            if status.exists():
                for line in status.read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        sizes[f"{role} {pid}"] = int(line.split()[1]) / 1024
    return sizes


def _descendants(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children")
    direct = [int(p) for p in children.read_text().split()] if children.exists() else []
    return direct + [d for c in direct for d in _descendants(c)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modelserve-soak-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/models/diabetes:predict"
    env = {
        "MODELSERVE_STORE": str(work / "store"),
        "MODELSERVE_BROKER_URL": BROKER,
        "MODELSERVE_QUEUE": f"soak-{uuid.uuid4().hex[:6]}",
    }
    stack = Stack(
        "soak",
        [
            [str(BIN / "modelserve"), "worker", "--concurrency", "2"],
            [str(BIN / "modelserve"), "serve", "--port", str(port), "--workers", "2"],
        ],
        env,
    )
    rows = read_csv(demo_dataset_path()).features[:5]
    expected = load_runtime(Bundle.open(demo_bundle_path())).predict(rows)
    body = work / "body.json"
    body.write_text(json.dumps({"instances": rows[:1].tolist()}))
    processes = start(stack)
    try:
        first_answer(url, {"instances": rows.tolist()}, expected, time.monotonic() + 60)
        warm = wrk(url, body, 16, 10)
        before = process_rss(processes)
        sent, errors, started = 0, 0, time.monotonic()
        while sent < args.requests:
            chunk = wrk(url, body, 16, 15)
            sent += chunk["requests"]
            errors += chunk["errors"]
            print(f"{sent} requests, {errors} errors", flush=True)
        after = process_rss(processes)
    finally:
        stop(processes)
        shutil.rmtree(work, ignore_errors=True)
    changes = {
        name: round((after.get(name, 0) - size) / size * 100, 1) for name, size in before.items()
    }
    report = {
        "requests": sent,
        "errors": errors,
        "seconds": round(time.monotonic() - started, 1),
        "warm_up_requests": warm["requests"],
        "rss_mb_after_warm_up": {k: round(v, 1) for k, v in before.items()},
        "rss_mb_after_soak": {k: round(v, 1) for k, v in after.items()},
        "change_percent": changes,
        "steady": all(abs(c) <= 10 for c in changes.values()),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
