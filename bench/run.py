"""modelserve beside the alternatives, on the same model, in one run (`make bench`).

For each stack: start it on 127.0.0.1, time the cold start (launch to first correct answer),
check its probabilities on 5 rows against modelserve's runtime (1e-5), drive it with wrk at
concurrency 1, 16 and 64 after a warm-up, and read its processes' memory. Writes
bench/results/bench.json, bench/results/bench.png and bench/RESULTS.md.

    python bench/run.py [--seconds 8] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import requests

from modelserve.bundles import Bundle
from modelserve.datasets import read_csv
from modelserve.runtime import load_runtime
from modelserve.settings import demo_bundle_path, demo_dataset_path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STACKS_DIR = HERE / "stacks"
RESULTS = HERE / "results"
VENVS = ROOT / "build" / "bench"
CONCURRENCY = (1, 16, 64)
BROKER = os.environ.get("BENCH_BROKER", "amqp://guest:guest@127.0.0.1:5672//")
PYTHON = Path(sys.executable)
BIN = PYTHON.parent


@dataclass
class Stack:
    name: str
    commands: list[list[str]]  # started in order; the last one serves HTTP
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path = ROOT
    note: str = ""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def venv(name: str, packages: list[str]) -> Path:
    """A virtual environment of its own for a competitor, made once and reused."""
    path = VENVS / name
    if not (path / ".complete").exists():
        shutil.rmtree(path, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        subprocess.run(
            [
                str(path / "bin" / "pip"),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                *packages,
            ],
            check=True,
        )
        (path / ".complete").touch()
    return path / "bin"


def stacks(port: int, store: Path) -> list[Stack]:
    serve = [str(BIN / "modelserve"), "serve", "--port", str(port), "--workers", "2"]
    base = {"MODELSERVE_STORE": str(store)}

    def celery(workers: int, batching: bool) -> Stack:
        queue = f"bench-{uuid.uuid4().hex[:6]}"
        env = {
            **base,
            "MODELSERVE_BROKER_URL": BROKER,
            "MODELSERVE_QUEUE": queue,
            **({} if batching else {"MODELSERVE_BATCHING": "off"}),
        }
        return Stack(
            f"modelserve celery, {workers} worker{'s' if workers > 1 else ''}"
            f"{'' if batching else ', no batching'}",
            [[str(BIN / "modelserve"), "worker", "--concurrency", str(workers)], serve],
            env,
            note=f"`modelserve serve` (2 processes) and `modelserve worker --concurrency "
            f"{workers}` over RabbitMQ, adaptive batching {'on' if batching else 'off'}",
        )

    bundle = str(demo_bundle_path())
    numpy_env = {"BENCH_BUNDLE": bundle, "PYTHONPATH": str(STACKS_DIR)}
    queue = f"baseline-{uuid.uuid4().hex[:6]}"
    baseline_env = {
        **numpy_env,
        "BENCH_BROKER": BROKER,
        "BENCH_QUEUE": queue,
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    bentoml = venv("bentoml", ["bentoml>=1.4,<1.5", "numpy"])
    ray = venv("ray", ["ray[serve]", "numpy"])
    return [
        Stack(
            "modelserve embedded",
            [serve],
            base,
            note="`modelserve serve` with its defaults (2 processes, 2 threads each)",
        ),
        Stack(
            "modelserve embedded, batching",
            [serve],
            {**base, "MODELSERVE_BATCHING": "on"},
            note="the same with MODELSERVE_BATCHING=on",
        ),
        celery(1, True),
        celery(1, False),
        celery(2, True),
        celery(2, False),
        Stack(
            "bare limit: gunicorn + Flask + NumPy",
            [[str(BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "bare:app"]],
            numpy_env,
            STACKS_DIR,
            note="gunicorn's defaults: sync workers, a connection per request",
        ),
        Stack(
            "bare limit, threaded keep-alive",
            [
                [
                    str(BIN / "gunicorn"),
                    "-w",
                    "2",
                    "-k",
                    "gthread",
                    "--threads",
                    "2",
                    "--reuse-port",
                    "-b",
                    f"127.0.0.1:{port}",
                    "bare:app",
                ]
            ],
            numpy_env,
            STACKS_DIR,
            note="the server settings modelserve's embedded mode uses",
        ),
        Stack(
            "baseline: tutorial design (model loaded per task)",
            [
                [
                    str(BIN / "celery"),
                    "-A",
                    "baseline",
                    "worker",
                    "-c",
                    "1",
                    "--loglevel",
                    "WARNING",
                ],
                [
                    str(BIN / "gunicorn"),
                    "-w",
                    "2",
                    "--threads",
                    "8",
                    "-b",
                    f"127.0.0.1:{port}",
                    "baseline:web",
                ],
            ],
            baseline_env,
            STACKS_DIR,
            note="bench/stacks/baseline.py: Flask + one Celery worker that loads the Keras "
            "model from disk for every task",
        ),
        Stack(
            "BentoML 1.4",
            [
                [
                    str(bentoml / "bentoml"),
                    "serve",
                    "bentoml_service:Diabetes",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ]
            ],
            numpy_env,
            STACKS_DIR,
            note="bench/stacks/bentoml_service.py: 2 workers, the same NumPy forward pass",
        ),
        Stack(
            "Ray Serve",
            [[str(ray / "python"), "ray_serve_app.py", str(port)]],
            numpy_env,
            STACKS_DIR,
            note="bench/stacks/ray_serve_app.py: 2 replicas, the same NumPy forward pass",
        ),
    ]


def start(stack: Stack) -> list[subprocess.Popen]:
    env = {**os.environ, **stack.env}
    return [
        subprocess.Popen(
            command,
            cwd=stack.cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for command in stack.commands
    ]


def stop(processes: list[subprocess.Popen]) -> None:
    for process in reversed(processes):
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
    if any(p for p in processes if "ray" in " ".join(map(str, p.args))):
        subprocess.run([str(VENVS / "ray" / "bin" / "ray"), "stop", "--force"], capture_output=True)


def first_answer(url: str, body: dict, expected: np.ndarray, deadline: float) -> float:
    """Seconds until the stack answers the 5 rows correctly (polls: the stack is starting)."""
    started = time.monotonic()
    while time.monotonic() < deadline:
        try:
            response = requests.post(url, json=body, timeout=30)
            if response.status_code == 200:
                got = np.asarray(response.json()["predictions"], dtype=np.float64)
                if np.abs(got.reshape(-1) - expected.reshape(-1)).max() > 1e-5:
                    raise AssertionError(f"{url} answers differently: {got} vs {expected}")
                return time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"{url} did not answer")


def rss_mb(processes: list[subprocess.Popen]) -> dict[str, float]:
    """Resident memory of every process of the stack: the total and the largest one."""
    pids = {p.pid for p in processes}
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    todo, tree = list(pids), set()
    while todo:
        pid = todo.pop()
        if pid not in tree:
            tree.add(pid)
            todo += children.get(pid, [])
    sizes = []
    for pid in tree:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        except OSError:
            pass
    return {
        "total_mb": round(sum(sizes), 1),
        "largest_process_mb": round(max(sizes), 1),
        "processes": len(sizes),
    }


def wrk(url: str, body_file: Path, connections: int, seconds: float) -> dict:
    threads = 1 if connections == 1 else 2
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(seconds))}s",
            "--timeout",
            "30s",
            "-s",
            str(HERE / "wrk_post.lua"),
            url,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "BENCH_BODY_FILE": str(body_file)},
        check=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["requests_per_second"] = round(result["requests"] / result["seconds"], 1)
    return result


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in (
        "modelserve",
        "numpy",
        "flask",
        "gunicorn",
        "celery",
        "kombu",
        "keras",
        "tensorflow-cpu",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    for name, bin_dir in (("bentoml", VENVS / "bentoml"), ("ray", VENVS / "ray")):
        out = subprocess.run(
            [
                str(bin_dir / "bin" / "python"),
                "-c",
                f"import importlib.metadata as m; print(m.version('{name}'))",
            ],
            capture_output=True,
            text=True,
        )
        found[name] = out.stdout.strip() or "?"
    rabbit = subprocess.run(["rabbitmqctl", "--quiet", "version"], capture_output=True, text=True)
    found["rabbitmq"] = rabbit.stdout.strip() or "?"
    found["wrk"] = (
        subprocess.run(["wrk", "-v"], capture_output=True, text=True)
        .stdout.split("\n")[0]
        .split(" [")[0]
        or "?"
    )
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--only", nargs="*", default=None, help="Run stacks whose name has this")
    args = parser.parse_args()

    rows = read_csv(demo_dataset_path()).features[:5]
    expected = load_runtime(Bundle.open(demo_bundle_path())).predict(rows)
    body = {"instances": rows.tolist()}
    one_row = {"instances": rows[:1].tolist()}
    work = Path(tempfile.mkdtemp(prefix="modelserve-bench-"))
    body_file = work / "body.json"
    body_file.write_text(json.dumps(one_row))
    report = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": len(os.sched_getaffinity(0)),
            "kernel": platform.release(),
        },
        "versions": {},
        "seconds": args.seconds,
        "stacks": {},
    }
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1/models/diabetes:predict"
    for stack in stacks(port, work / "store"):
        if args.only and not any(o in stack.name for o in args.only):
            continue
        shutil.rmtree(work / "store", ignore_errors=True)
        print(f"== {stack.name}", flush=True)
        processes = start(stack)
        try:
            cold = first_answer(url, body, expected, time.monotonic() + 180)
            entry = {"note": stack.note, "cold_start_s": round(cold, 2), "load": {}}
            for connections in CONCURRENCY:
                wrk(url, body_file, connections, args.warmup)
                entry["load"][str(connections)] = wrk(url, body_file, connections, args.seconds)
                print(f"   c={connections}: {entry['load'][str(connections)]}", flush=True)
            entry["rss"] = rss_mb(processes)
            print(f"   cold start {cold:.2f} s, rss {entry['rss']}", flush=True)
            report["stacks"][stack.name] = entry
        finally:
            stop(processes)
    report["versions"] = versions()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    from report import write_report

    write_report(report, RESULTS / "bench.png", HERE / "RESULTS.md")
    print(f"wrote {RESULTS / 'bench.json'}, {RESULTS / 'bench.png'}, {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
