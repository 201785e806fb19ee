"""modelserve beside the alternatives, on the same model, in one run (`make bench`).

For each stack: start it on 127.0.0.1, time the cold start (launch to first correct answer),
check its probabilities on 5 rows against modelserve's runtime (1e-5), drive it with wrk at
concurrency 1, 16 and 64 after a warm-up, with a one-row body of each protocol it speaks
(TensorFlow Serving's v1, the Open Inference Protocol V2), and read its processes' memory. Writes
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

BARE_GRANIAN = "bare limit: granian WSGI"

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
STACKS_DIR = HERE / "stacks"
RESULTS = HERE / "results"
VENVS = Path(os.environ.get("BENCH_VENVS", ROOT / "build" / "bench"))
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
    protocols: tuple[str, ...] = ("v1",)  # the first one also times the cold start
    venv: tuple[str, list[str]] | None = None  # (name, packages) of its own environment


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def venv_bin(name: str) -> Path:
    return VENVS / name / "bin"


def venv(name: str, packages: list[str]) -> Path:
    """A virtual environment of its own for a competitor, made once (when its stack first
    runs) and reused."""
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


PATHS = {"v1": "/v1/models/diabetes:predict", "v2": "/v2/models/diabetes/infer"}
BOTH = ("v1", "v2")


def request_body(protocol: str, rows: np.ndarray) -> dict:
    if protocol == "v1":
        return {"instances": rows.tolist()}
    return {
        "inputs": [
            {
                "name": "features",
                "shape": list(rows.shape),
                "datatype": "FP32",
                "data": rows.reshape(-1).tolist(),
            }
        ]
    }


def probabilities(protocol: str, answer: dict) -> np.ndarray:
    if protocol == "v1":
        return np.asarray(answer["predictions"], dtype=np.float64)
    return np.asarray(answer["outputs"][0]["data"], dtype=np.float64)


def mlserver(port: int, work: Path, name: str, **settings) -> Stack:
    """MLServer with a settings folder of its own; ``settings`` beyond the ports."""
    folder = work / name.replace(" ", "-").replace(",", "")
    model = folder / "diabetes"
    model.mkdir(parents=True, exist_ok=True)
    (folder / "settings.json").write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "http_port": port,
                "grpc_port": free_port(),
                "metrics_port": free_port(),
                **settings,
            }
        )
    )
    (model / "model-settings.json").write_text(
        json.dumps({"name": "diabetes", "implementation": "mlserver_runtime.Diabetes"})
    )
    return Stack(
        name,
        [[str(venv_bin("mlserver") / "mlserver"), "start", str(folder)]],
        {"BENCH_BUNDLE": str(demo_bundle_path()), "PYTHONPATH": str(STACKS_DIR)},
        STACKS_DIR,
        note=f"bench/stacks/mlserver_runtime.py, the same NumPy forward pass; settings "
        f"{json.dumps(settings) if settings else 'default'}",
        protocols=("v2",),
        venv=("mlserver", ["mlserver", "uvloop<0.22", "numpy"]),
    )


def stacks(port: int, store: Path, work: Path) -> list[Stack]:
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
    bentoml, ray, kserve = venv_bin("bentoml"), venv_bin("ray"), venv_bin("kserve")
    return [
        Stack(
            "modelserve embedded",
            [serve],
            base,
            note="`modelserve serve` with its defaults (2 processes)",
            protocols=BOTH,
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
            BARE_GRANIAN,
            [
                [
                    str(BIN / "granian"),
                    "--interface",
                    "wsgi",
                    "--workers",
                    "2",
                    "--no-ws",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "bare_wsgi:app",
                ]
            ],
            numpy_env,
            STACKS_DIR,
            note="bench/stacks/bare_wsgi.py (orjson, the NumPy forward pass, no framework) on "
            "granian's WSGI interface, 2 processes",
            protocols=BOTH,
        ),
        Stack(
            "bare limit: gunicorn gthread",
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
                    "bare_wsgi:app",
                ]
            ],
            numpy_env,
            STACKS_DIR,
            note="the same handler on gunicorn (gthread, 2 processes × 2 threads, a socket "
            "each): the server modelserve used before granian",
            protocols=BOTH,
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
            venv=("bentoml", ["bentoml>=1.4,<1.5", "numpy"]),
        ),
        Stack(
            "Ray Serve",
            [[str(ray / "python"), "ray_serve_app.py", str(port)]],
            numpy_env,
            STACKS_DIR,
            note="bench/stacks/ray_serve_app.py: 2 replicas, the same NumPy forward pass",
            venv=("ray", ["ray[serve]", "numpy"]),
        ),
        mlserver(port, work, "MLServer default"),
        mlserver(port, work, "MLServer fastest", parallel_workers=0, metrics_endpoint=None),
        Stack(
            "KServe, 2 workers",
            [[str(kserve / "python"), "kserve_app.py", str(port)]],
            numpy_env,
            STACKS_DIR,
            note="bench/stacks/kserve_app.py: KServe's ModelServer, 2 workers, the same NumPy "
            "forward pass",
            protocols=BOTH,
            venv=("kserve", ["kserve", "numpy"]),
        ),
    ]


def start(stack: Stack) -> list[subprocess.Popen]:
    if stack.venv is not None:
        venv(*stack.venv)
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


def first_answer(
    url: str, protocol: str, rows: np.ndarray, expected: np.ndarray, deadline: float
) -> float:
    """Seconds until the stack answers the 5 rows correctly (polls: the stack is starting)."""
    started = time.monotonic()
    while time.monotonic() < deadline:
        try:
            response = requests.post(url, json=request_body(protocol, rows), timeout=30)
            if response.status_code == 200:
                got = probabilities(protocol, response.json())
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
        "granian",
        "gunicorn",
        "celery",
        "kombu",
        "keras",
        "tensorflow-cpu",
    ):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    for name, bin_dir in (
        ("bentoml", VENVS / "bentoml"),
        ("ray", VENVS / "ray"),
        ("mlserver", VENVS / "mlserver"),
        ("kserve", VENVS / "kserve"),
    ):
        if not (bin_dir / "bin" / "python").exists():
            continue  # its stack did not run
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
    work = Path(tempfile.mkdtemp(prefix="modelserve-bench-"))
    body_files = {}
    for protocol in PATHS:
        body_files[protocol] = work / f"{protocol}.json"
        body_files[protocol].write_text(json.dumps(request_body(protocol, rows[:1])))
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
    for stack in stacks(port, work / "store", work):
        if args.only and not any(o in stack.name for o in args.only):
            continue
        shutil.rmtree(work / "store", ignore_errors=True)
        print(f"== {stack.name}", flush=True)
        processes = start(stack)
        try:
            first = stack.protocols[0]
            cold = first_answer(
                f"http://127.0.0.1:{port}{PATHS[first]}",
                first,
                rows,
                expected,
                time.monotonic() + 180,
            )
            entry = {"note": stack.note, "cold_start_s": round(cold, 2), "load": {}}
            for protocol in stack.protocols:
                url = f"http://127.0.0.1:{port}{PATHS[protocol]}"
                first_answer(url, protocol, rows, expected, time.monotonic() + 30)
                load = entry["load"][protocol] = {}
                for connections in CONCURRENCY:
                    wrk(url, body_files[protocol], connections, args.warmup)
                    load[str(connections)] = wrk(
                        url, body_files[protocol], connections, args.seconds
                    )
                    print(f"   {protocol} c={connections}: {load[str(connections)]}", flush=True)
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
