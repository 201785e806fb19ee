"""bench/RESULTS.md and bench/results/bench.png from one run's bench.json."""

from __future__ import annotations

from pathlib import Path

EMBEDDED = "modelserve embedded"
CELERY = "modelserve celery, 2 workers"
CELERY_OFF = "modelserve celery, 2 workers, no batching"
BARE_STACKS = ("bare limit: granian WSGI", "bare limit: gunicorn gthread")
BASELINE = "baseline: tutorial design (model loaded per task)"
MLSERVER = "MLServer default"
KSERVE = "KServe, 2 workers"


def load(report: dict, stack: str, c: int, protocol: str = "v1") -> dict | None:
    entry = report["stacks"].get(stack)
    return entry["load"].get(protocol, {}).get(str(c)) if entry else None


def rps(report: dict, stack: str, c: int, protocol: str = "v1") -> float | None:
    measured = load(report, stack, c, protocol)
    return measured["requests_per_second"] if measured else None


def fastest_bare(report: dict, c: int) -> tuple[str, float] | None:
    measured = [(name, rps(report, name, c)) for name in BARE_STACKS]
    measured = [(name, value) for name, value in measured if value]
    return max(measured, key=lambda pair: pair[1]) if measured else None


def targets(report: dict) -> list[tuple[str, str, bool | None]]:
    """(target, measured, held) for each performance target."""
    rows = []

    def ratio(what: str, a: float | None, b: float | None, need: float) -> None:
        if a is None or b is None or b == 0:
            rows.append((what, "not measured", None))
            return
        rows.append((what, f"{a:g} / {b:g} = {a / b:.2f}×", a / b >= need))

    bare = fastest_bare(report, 16)
    ratio(
        f"embedded c=16 ≥ 0.8× the fastest bare handler ({bare[0] if bare else '?'})",
        rps(report, EMBEDDED, 16),
        bare[1] if bare else None,
        0.8,
    )
    embedded = load(report, EMBEDDED, 16)
    if embedded and embedded["requests"]:
        p99 = embedded["p99_ms"]
        rows.append(("embedded c=16 p99 ≤ 5 ms", f"{p99:g} ms", p99 <= 5))
    ratio(
        "V2 c=16 ≥ 10× MLServer default",
        rps(report, EMBEDDED, 16, "v2"),
        rps(report, MLSERVER, 16, "v2"),
        10,
    )
    ratio(
        "V2 c=16 ≥ 4× KServe, 2 workers",
        rps(report, EMBEDDED, 16, "v2"),
        rps(report, KSERVE, 16, "v2"),
        4,
    )
    ratio("v1 c=16 ≥ 3× KServe, 2 workers", rps(report, EMBEDDED, 16), rps(report, KSERVE, 16), 3)
    celery = rps(report, CELERY, 16)
    rows.append(
        (
            "Celery c=16 ≥ 3,000 requests/s",
            f"{celery:g}" if celery is not None else "not measured",
            celery >= 3000 if celery is not None else None,
        )
    )
    ratio("Celery c=16 ≥ 100× baseline", rps(report, CELERY, 16), rps(report, BASELINE, 16), 100)
    ratio(
        "Celery c=64 batching ≥ 2× no batching",
        rps(report, CELERY, 64),
        rps(report, CELERY_OFF, 64),
        2.0,
    )
    for name, entry in report["stacks"].items():
        if name.startswith("modelserve"):
            largest = entry["rss"]["largest_process_mb"]
            rows.append((f"{name}: every process ≤ 100 MB", f"{largest:g} MB", largest <= 100))
            rows.append(
                (
                    f"{name}: cold start ≤ 1 s",
                    f"{entry['cold_start_s']:g} s",
                    entry["cold_start_s"] <= 1,
                )
            )
    return rows


def write_report(report: dict, png: Path, markdown: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [f"{n} ({p})" for n, e in report["stacks"].items() for p in e["load"]]
    loads = [e["load"][p] for e in report["stacks"].values() for p in e["load"]]
    concurrency = ["1", "16", "64"]
    fig, axes = plt.subplots(1, 2, figsize=(14, 0.45 * len(names) + 2))
    for axis, metric, title in (
        (axes[0], "requests_per_second", "requests/s (higher is better)"),
        (axes[1], "p99_ms", "p99 latency, ms (lower is better, log)"),
    ):
        height = 0.8 / len(concurrency)
        for i, c in enumerate(concurrency):
            values = [measured[c][metric] for measured in loads]
            axis.barh([y + i * height for y in range(len(names))], values, height, label=f"c={c}")
        axis.set_yticks([y + height for y in range(len(names))], names)
        axis.invert_yaxis()
        axis.set_title(title)
        axis.legend()
    axes[1].set_xscale("log")
    axes[1].set_yticklabels([])
    fig.tight_layout()
    fig.savefig(png, dpi=110)

    lines = [
        "# Benchmark results",
        "",
        "One `make bench` run (`bench/run.py`): every stack serves the same model on",
        f"127.0.0.1 and is driven by wrk with a one-row JSON body for {report['seconds']:g} s",
        "per concurrency after a warm-up, in each protocol it speaks (v1: TensorFlow Serving's",
        "REST API; V2: the Open Inference Protocol). The load generator shares the machine.",
        "Before it was timed, each stack answered 5 rows within 1e-5 of modelserve's runtime.",
        "",
        f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, "
        f"Linux {report['machine']['kernel']}.",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in report["versions"].items()) + ".",
        "",
        "## Stacks",
        "",
        *(f"- **{name}**: {entry.get('note', '')}" for name, entry in report["stacks"].items()),
        "",
        "## Measurements",
        "",
        "| stack | protocol | c | requests/s | p50 ms | p99 ms | errors | RSS total MB "
        "| largest process MB | cold start s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in report["stacks"].items():
        for protocol, c in ((p, c) for p in entry["load"] for c in concurrency):
            load = entry["load"][protocol][c]
            # No answer within the run: wrk reports latencies of 0, which would read as fast.
            p50, p99 = (
                (f"{load['p50_ms']:.2f}", f"{load['p99_ms']:.2f}")
                if load["requests"]
                else ("none answered", "none answered")
            )
            lines.append(
                f"| {name} | {protocol} | {c} | {load['requests_per_second']:g} | {p50} | {p99} | "
                f"{load['errors']} | {entry['rss']['total_mb']:g} | "
                f"{entry['rss']['largest_process_mb']:g} | {entry['cold_start_s']:g} |"
            )
    lines += ["", "## Targets", "", "| target | measured | held |", "|---|---|---|"]
    rows = targets(report)
    for what, measured, held in rows:
        mark = {True: "yes", False: "**no**", None: "—"}[held]
        lines.append(f"| {what} | {measured} | {mark} |")
    if any(held is False for _, _, held in rows):
        lines += ["", "A target is missed: [PROFILE.md](PROFILE.md) says what the profile shows."]
    lines += [
        "",
        "Profiles, the changes they led to and the run-to-run variance: [PROFILE.md](PROFILE.md).",
    ]
    lines += ["", "![requests/s and p99 per stack](results/bench.png)", ""]
    markdown.write_text("\n".join(lines))
