"""bench/RESULTS.md and bench/results/bench.png from one run's bench.json."""

from __future__ import annotations

from pathlib import Path

EMBEDDED = "modelserve embedded"
CELERY = "modelserve celery, 2 workers"
CELERY_OFF = "modelserve celery, 2 workers, no batching"
BARE = "bare limit: gunicorn + Flask + NumPy"
BARE_THREADED = "bare limit, threaded keep-alive"
BASELINE = "baseline: tutorial design (model loaded per task)"


def rps(report: dict, stack: str, c: int) -> float | None:
    entry = report["stacks"].get(stack)
    return entry["load"][str(c)]["requests_per_second"] if entry else None


def targets(report: dict) -> list[tuple[str, str, bool | None]]:
    """(target, measured, held) for each performance target."""
    rows = []

    def ratio(what: str, a: float | None, b: float | None, need: float) -> None:
        if a is None or b is None or b == 0:
            rows.append((what, "not measured", None))
            return
        rows.append((what, f"{a:g} / {b:g} = {a / b:.2f}×", a / b >= need))

    ratio("embedded c=16 ≥ 0.8× bare limit", rps(report, EMBEDDED, 16), rps(report, BARE, 16), 0.8)
    embedded, threaded = rps(report, EMBEDDED, 16), rps(report, BARE_THREADED, 16)
    if embedded and threaded:
        rows.append(
            (
                "for reference, not a target: embedded c=16 vs the bare limit on modelserve's "
                "server settings",
                f"{embedded:g} / {threaded:g} = {embedded / threaded:.2f}×",
                None,
            )
        )
    ratio("Celery c=16 ≥ 100× baseline", rps(report, CELERY, 16), rps(report, BASELINE, 16), 100)
    ratio(
        "Celery c=16 ≥ 1.0× BentoML", rps(report, CELERY, 16), rps(report, "BentoML 1.4", 16), 1.0
    )
    ratio(
        "Celery c=16 ≥ 1.0× Ray Serve", rps(report, CELERY, 16), rps(report, "Ray Serve", 16), 1.0
    )
    ratio(
        "Celery c=64 batching ≥ 2× no batching",
        rps(report, CELERY, 64),
        rps(report, CELERY_OFF, 64),
        2.0,
    )
    on, off = report["stacks"].get(CELERY), report["stacks"].get(CELERY_OFF)
    if on and off and on["load"]["64"]["requests"] and off["load"]["64"]["requests"]:
        a, b = on["load"]["64"]["p99_ms"], off["load"]["64"]["p99_ms"]
        rows.append(("Celery c=64 batching p99 no worse", f"{a:g} ms vs {b:g} ms", a <= b))
    for name, entry in report["stacks"].items():
        if name.startswith("modelserve"):
            largest = entry["rss"]["largest_process_mb"]
            rows.append((f"{name}: every process ≤ 100 MB", f"{largest:g} MB", largest <= 100))
            rows.append(
                (
                    f"{name}: cold start ≤ 2 s",
                    f"{entry['cold_start_s']:g} s",
                    entry["cold_start_s"] <= 2,
                )
            )
    return rows


def write_report(report: dict, png: Path, markdown: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(report["stacks"])
    concurrency = ["1", "16", "64"]
    fig, axes = plt.subplots(1, 2, figsize=(14, 0.45 * len(names) + 2))
    for axis, metric, title in (
        (axes[0], "requests_per_second", "requests/s (higher is better)"),
        (axes[1], "p99_ms", "p99 latency, ms (lower is better, log)"),
    ):
        height = 0.8 / len(concurrency)
        for i, c in enumerate(concurrency):
            values = [report["stacks"][n]["load"][c][metric] for n in names]
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
        "per concurrency after a warm-up. The load generator shares the machine. Before it",
        "was timed, each stack answered 5 rows within 1e-5 of modelserve's runtime.",
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
        "| stack | c | requests/s | p50 ms | p99 ms | errors | RSS total MB | largest process MB "
        "| cold start s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, entry in report["stacks"].items():
        for c in concurrency:
            load = entry["load"][c]
            # No answer within the run: wrk reports latencies of 0, which would read as fast.
            p50, p99 = (
                (f"{load['p50_ms']:.2f}", f"{load['p99_ms']:.2f}")
                if load["requests"]
                else ("none answered", "none answered")
            )
            lines.append(
                f"| {name} | {c} | {load['requests_per_second']:g} | {p50} | {p99} | "
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
