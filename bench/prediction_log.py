"""What the prediction log costs: requests/s with it off and on, and the room its rows take.

Starts three `modelserve serve` (embedded mode, default web workers) on one fresh store: the
log off, on with SQLite (predictions.db beside the store) and on with PostgreSQL (a database
made for the run and dropped after). Then wrk drives `POST /v1/models/diabetes:predict` with
a one-row body at each in turn, in short bursts, round after round, each round in another
order: the machine's speed drifts (its cores are shared with other machines) by more than
the difference measured, and bursts seconds apart see nearly the same machine. The verdict
is the median of the rounds' on/off ratios. /metrics must account for every answered
request: rows written + duplicate + dropped == 200 answers. Then the size of each database
per million rows. Writes bench/results/prediction-log.json and the "Prediction log" section
of bench/RESULTS.md.

    python bench/prediction_log.py [--seconds 3] [--rounds 20] [--connections 8]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psycopg
import requests
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import BIN, HERE, RESULTS, Stack, free_port, start, stop, wrk  # noqa: E402

PATH = "/v1/models/diabetes:predict"
BODY = {"instances": [[6, 148, 72, 35, 0, 33.6, 0.627, 50]]}
POSTGRES = os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
CONFIGS = ("off", "sqlite", "postgresql")
OUTCOMES = ("written", "duplicate", "dropped")
TARGET = 0.9  # logging on keeps at least this share of the requests/s with it off
SECTION = "## Prediction log"


def loads() -> list[float]:
    return [round(value, 2) for value in os.getloadavg()]


def busy_seconds() -> float:
    """CPU time the whole machine has spent busy since boot, all cores together."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(session: int) -> tuple[float, float]:
    """CPU time of the server (the processes of its session) and of PostgreSQL's processes,
    which write the log's rows when it is the database."""
    server = postgres = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            name, rest = stat.read_text().rsplit(")", 1)
        except OSError:
            continue
        fields = rest.split()
        ticks = int(fields[11]) + int(fields[12])
        if int(fields[3]) == session:
            server += ticks
        elif name.endswith("(postgres"):
            postgres += ticks
    tick = os.sysconf("SC_CLK_TCK")
    return server / tick, postgres / tick


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def scrape(port: int) -> dict[str, int]:
    """The prediction route's answers by status and the log's rows by outcome, across the
    server's processes."""
    text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    counts: dict[str, int] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "modelserve_requests_total" and labels.get("method") == "POST":
                if "predict" in labels.get("route", ""):
                    key = f"status_{labels['status']}"
                    counts[key] = counts.get(key, 0) + int(sample.value)
            elif sample.name == "modelserve_prediction_log_rows_total":
                counts[labels["outcome"]] = int(sample.value)
    return counts


def settled(port: int, logging: bool, deadline: float) -> dict[str, int]:
    """The counts once every answered row has reached its outcome (the writer threads batch
    rows for up to a quarter of a second; the metrics of the other process lag a little)."""
    previous: dict[str, int] | None = None
    while True:
        counts = scrape(port)
        answered = sum(v for k, v in counts.items() if k.startswith("status_"))
        accounted = sum(counts.get(outcome, 0) for outcome in OUTCOMES)
        done = counts == previous and (not logging or accounted >= counts.get("status_200", 0))
        if done or time.monotonic() > deadline:
            counts["answered"] = answered
            return counts
        previous = counts
        time.sleep(0.5)


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {key: value - before.get(key, 0) for key, value in after.items()}


def ready(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException):
            if requests.post(f"http://127.0.0.1:{port}{PATH}", json=BODY, timeout=5).ok:
                return
        time.sleep(0.05)
    raise TimeoutError("modelserve serve did not answer")


@dataclass
class Server:
    config: str
    processes: list[subprocess.Popen]
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    @property
    def logging(self) -> bool:
        return self.config != "off"


def start_server(config: str, work: Path, database_url: str) -> Server:
    port = free_port()
    env = {
        "MODELSERVE_STORE": str(work / "store"),
        "MODELSERVE_PREDICTION_LOG": "false" if config == "off" else "true",
        # Empty: the default, SQLite beside the store (an inherited URL would win otherwise).
        "MODELSERVE_DATABASE_URL": database_url if config == "postgresql" else "",
    }
    command = [str(BIN / "modelserve"), "serve", "--port", str(port)]
    server = Server(config, start(Stack(f"modelserve, log {config}", [command], env)), port)
    ready(port, time.monotonic() + 60)  # the first one installs the demo model in the store
    return server


def burst(server: Server, args: argparse.Namespace) -> dict:
    """wrk at one server for ``args.seconds``; what it answered and what it cost."""
    session = server.processes[0].pid
    cpu = (busy_seconds(), *process_cpu_seconds(session), children_cpu_seconds())
    started = time.monotonic()
    measured = wrk(server.url, args.body, args.connections, args.seconds)
    elapsed = time.monotonic() - started
    server_end, postgres_end = process_cpu_seconds(session)
    used = {
        "server": server_end - cpu[1],
        "postgres": postgres_end - cpu[2],
        "wrk": children_cpu_seconds() - cpu[3],
    }
    # What the rest of the machine did meanwhile: all busy CPU time less the server's, wrk's
    # and PostgreSQL's (the other servers, idle, among it).
    used["others"] = max(0.0, busy_seconds() - cpu[0] - sum(used.values()))
    return {
        "config": server.config,
        "requests_per_second": measured["requests_per_second"],
        "p50_ms": measured["p50_ms"],
        "p99_ms": measured["p99_ms"],
        "requests": measured["requests"],
        "errors": measured["errors"],
        "cores_used": {name: round(seconds / elapsed, 2) for name, seconds in used.items()},
        # The cost of an answer in CPU, which queueing behind the log's writer does not hide.
        "cpu_us_per_request": round(
            (used["server"] + used["postgres"]) / max(measured["requests"], 1) * 1e6
        ),
    }


def accounted(before: dict[str, int], after: dict[str, int], logging: bool) -> dict:
    """A server's answers over the whole measurement, and the log's rows for them."""
    server = delta(after, before)
    ok = server.get("status_200", 0)
    result = {"server_200": ok, "server_other": server["answered"] - ok}
    if logging:
        rows = {outcome: server.get(outcome, 0) for outcome in OUTCOMES}
        result["rows"] = rows
        # wrk stops with up to one request per connection answered but never read: the
        # server's count of 200 answers is the exact one.
        result["rows_accounted"] = sum(rows.values()) == ok
    return result


def sqlite_size(path: Path) -> dict:
    # Folds the write-ahead log into the file, so the file alone is the data.
    with contextlib.closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = connection.execute("SELECT count(*) FROM predictions").fetchone()[0]
    wal = path.with_name(path.name + "-wal")
    size = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    return per_million(rows, size)


def postgres_size(url: str) -> dict:
    with psycopg.connect(url) as connection:
        rows, total, table, indexes = connection.execute(
            "SELECT count(*), pg_total_relation_size('predictions'), "
            "pg_relation_size('predictions'), pg_indexes_size('predictions') FROM predictions"
        ).fetchone()
    size = per_million(rows, total)
    size["table_mb_per_million_rows"] = round(table / rows, 1) if rows else None
    size["indexes_mb_per_million_rows"] = round(indexes / rows, 1) if rows else None
    return size


def per_million(rows: int, size: int) -> dict:
    # bytes / rows × 1e6 rows / 1e6 bytes per MB
    return {
        "rows": rows,
        "bytes": size,
        "mb_per_million_rows": round(size / rows, 1) if rows else None,
    }


def summary(runs: list[dict]) -> dict:
    mean, cpu = {}, {}
    for config in CONFIGS:
        values = [run["requests_per_second"] for run in runs if run["config"] == config]
        mean[config] = round(sum(values) / len(values), 1)
        cpu[config] = statistics.median(
            run["cpu_us_per_request"] for run in runs if run["config"] == config
        )
    # Each on run beside the off run of its round, and the median of those: the machine (a
    # virtual one, its cores shared with others) drifts by more than the difference between
    # rounds, and now and then a run lands in a slow spell.
    by_round: dict[str, list[float]] = {config: [] for config in CONFIGS if config != "off"}
    for run in runs:
        if run["config"] != "off":
            (off,) = (r for r in runs if r["round"] == run["round"] and r["config"] == "off")
            ratio = run["requests_per_second"] / off["requests_per_second"]
            by_round[run["config"]].append(round(ratio, 3))
    return {
        "mean_requests_per_second": mean,
        "median_cpu_us_per_request": cpu,
        "ratio_on_off": {
            config: round(mean[config] / mean["off"], 3) for config in CONFIGS if config != "off"
        },
        "ratio_on_off_by_round": by_round,
        "median_ratio_on_off": {
            config: round(statistics.median(ratios), 3) for config, ratios in by_round.items()
        },
        "target_ratio": TARGET,
    }


def table(report: dict) -> list[str]:
    lines = [
        "| round | order | off requests/s | SQLite | PostgreSQL | SQLite / off "
        "| PostgreSQL / off | CPU µs per request: off, SQLite, PostgreSQL "
        "| cores in the PostgreSQL burst: server, PostgreSQL, wrk, others |",
        "|---:|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for number in range(1, report["rounds"] + 1):
        runs = [run for run in report["runs"] if run["round"] == number]
        by = {run["config"]: run for run in runs}
        off = by["off"]["requests_per_second"]
        cores = by["postgresql"]["cores_used"]
        lines.append(
            f"| {number} | {', '.join(run['config'] for run in runs)} | {off:g} | "
            f"{by['sqlite']['requests_per_second']:g} | "
            f"{by['postgresql']['requests_per_second']:g} | "
            f"{by['sqlite']['requests_per_second'] / off:.2f} | "
            f"{by['postgresql']['requests_per_second'] / off:.2f} | "
            f"{', '.join(str(by[c]['cpu_us_per_request']) for c in CONFIGS)} | "
            f"{cores['server']:g}, {cores['postgres']:g}, {cores['wrk']:g}, {cores['others']:g} |"
        )
    return lines


def accounting(report: dict) -> list[str]:
    lines = [
        "| log | 200 answers | other | written | duplicate | dropped | accounted |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for config in CONFIGS:
        total = report["servers"][config]
        rows = total.get("rows")
        logged = (
            f"{rows['written']} | {rows['duplicate']} | {rows['dropped']} | "
            f"{'yes' if total['rows_accounted'] else '**no**'}"
            if rows
            else "— | — | — | —"
        )
        lines.append(f"| {config} | {total['server_200']} | {total['server_other']} | {logged} |")
    return lines


def section(report: dict) -> str:
    s = report["summary"]
    mean, ratio = s["mean_requests_per_second"], s["ratio_on_off"]
    median, cpu = s["median_ratio_on_off"], s["median_cpu_us_per_request"]
    sizes = report["size"]
    off = [run["requests_per_second"] for run in report["runs"] if run["config"] == "off"]
    held = {c: "yes" if median[c] >= TARGET else "**no**" for c in median}
    return "\n".join(
        [
            SECTION,
            "",
            "`python bench/prediction_log.py` (in `make bench`): three `modelserve serve`, "
            "embedded mode, default web workers, side by side: the log off, on with SQLite and "
            f"on with PostgreSQL {report['versions']['postgresql']}. wrk drives each in turn "
            f"with a one-row v1 `:predict` body at {report['connections']} connections "
            f"({report['threads']} threads), {report['seconds']:g} s at a time after a "
            f"{report['warmup']:g} s warm-up, {report['rounds']} rounds, each in another "
            "order: bursts seconds apart see nearly the same machine, whose speed drifts by "
            "more than the difference measured. CPU µs per request is the server's and "
            "PostgreSQL's CPU time over wrk's requests; wrk shares the machine.",
            "",
            *table(report),
            "",
            "Over the whole measurement, the server's own counts (/metrics): every answer's "
            "row written, or counted as duplicate or dropped.",
            "",
            *accounting(report),
            "",
            "| log | mean requests/s | median CPU µs per request | on / off (means) "
            "| on / off by round | median on / off | within 10 % of off |",
            "|---|---:|---:|---:|---|---:|---|",
            f"| off | {mean['off']:g} | {cpu['off']:g} | — | — | — | — |",
            *(
                f"| {c} | {mean[c]:g} | {cpu[c]:g} | {ratio[c]:.3f} | "
                f"{', '.join(f'{r:.2f}' for r in s['ratio_on_off_by_round'][c])} | "
                f"{median[c]:.3f} | {held[c]} |"
                for c in CONFIGS
                if c != "off"
            ),
            "",
            f"The off bursts alone spread from {min(off):g} to {max(off):g} requests/s "
            f"({(max(off) - min(off)) / mean['off']:.0%} of their mean): the machine's drift, "
            "which a round's ratio mostly cancels; the verdict is the median of the rounds' "
            "ratios.",
            "",
            "Room taken per million logged rows (1 MB = 10⁶ bytes): SQLite "
            f"{sizes['sqlite']['mb_per_million_rows']:g} MB (the file after a WAL checkpoint, "
            f"{sizes['sqlite']['rows']} rows), PostgreSQL "
            f"{sizes['postgresql']['mb_per_million_rows']:g} MB "
            f"(`pg_total_relation_size`, of which table "
            f"{sizes['postgresql']['table_mb_per_million_rows']:g} MB and indexes "
            f"{sizes['postgresql']['indexes_mb_per_million_rows']:g} MB; "
            f"{sizes['postgresql']['rows']} rows).",
            "",
            f"Load average (1 min) before the first run {report['load']['start'][0]:g}, after "
            f"the last {report['load']['end'][0]:g} (the benchmark's own processes and "
            f"threads, mostly); {report['load_note']}",
            "",
        ]
    )


def write_section(markdown: Path, text: str) -> None:
    """Replaces the section in RESULTS.md, or appends it: run.py rewrites the file."""
    current = markdown.read_text() if markdown.exists() else ""
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.M | re.S)
    if pattern.search(current):
        current = pattern.sub(lambda _: text + "\n", current, count=1).rstrip("\n") + "\n"
    else:
        current = current.rstrip("\n") + "\n\n" + text
    markdown.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3, help="Each burst's length")
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--no-markdown", action="store_true", help="Leave bench/RESULTS.md as it is"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="modelserve-bench-log-"))
    args.body = work / "v1.json"
    args.body.write_text(json.dumps(BODY))
    name = f"modelserve_bench_{uuid.uuid4().hex[:8]}"
    database_url = f"{POSTGRES}/{name}"
    subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", name], check=True)
    report: dict = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "cores": len(os.sched_getaffinity(0)),
            "kernel": platform.release(),
        },
        "connections": args.connections,
        "threads": 1 if args.connections == 1 else 2,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "rounds": args.rounds,
        "load": {"start": loads()},
        "runs": [],
    }
    try:
        with psycopg.connect(database_url) as connection:
            server_version = connection.execute("SHOW server_version").fetchone()[0]
        report["versions"] = {"postgresql": server_version.split()[0]}
        servers: dict[str, Server] = {}
        try:
            for config in CONFIGS:
                servers[config] = start_server(config, work, database_url)
            for server in servers.values():
                wrk(server.url, args.body, args.connections, args.warmup)
            before = {
                c: settled(s.port, s.logging, time.monotonic() + 20) for c, s in servers.items()
            }
            for round_number in range(args.rounds):
                # Each round in another order: no configuration always follows another.
                shift = round_number % len(CONFIGS)
                for config in CONFIGS[shift:] + CONFIGS[:shift]:
                    run = burst(servers[config], args)
                    run["round"] = round_number + 1
                    report["runs"].append(run)
                    print(
                        f"round {round_number + 1:2d} {config:10s} "
                        f"{run['requests_per_second']:8.1f} requests/s",
                        flush=True,
                    )
            report["servers"] = {
                config: accounted(
                    before[config],
                    settled(server.port, server.logging, time.monotonic() + 20),
                    server.logging,
                )
                for config, server in servers.items()
            }
        finally:
            for server in servers.values():
                stop(server.processes)
        report["size"] = {
            "sqlite": sqlite_size(work / "predictions.db"),
            "postgresql": postgres_size(database_url),
        }
    finally:
        subprocess.run(
            ["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "--force", name],
            check=False,
        )
        shutil.rmtree(work, ignore_errors=True)  # a few hundred thousand rows of SQLite
    report["load"]["end"] = loads()
    others = max(run["cores_used"]["others"] for run in report["runs"])
    report["load_note"] = (
        f"other processes used at most {others:g} of the {report['machine']['cores']} cores "
        "during a burst: "
        + (
            "no other work shared the machine."
            if others < 0.15
            else "the machine was shared, the figures are below what it gives alone."
        )
    )
    report["summary"] = summary(report["runs"])
    report["summary"]["every_row_accounted"] = all(
        server.get("rows_accounted", True) for server in report["servers"].values()
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "prediction-log.json").write_text(json.dumps(report, indent=2) + "\n")
    text = section(report)
    print("\n" + text)
    if not args.no_markdown:
        write_section(HERE / "RESULTS.md", text)
    print(f"wrote {RESULTS / 'prediction-log.json'}")


if __name__ == "__main__":
    main()
