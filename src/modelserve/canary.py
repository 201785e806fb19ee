"""Canary releases: a version answers a share of requests first, is measured beside the
current one, and is promoted or aborted by its plan (``bundles.store.Canary``).

Every server process counts the predictions it routes while a canary runs (requests, server
errors, a latency histogram, per version; not requests naming a version, nor the pages') and
appends its counts to the model's ``canary.jsonl`` in bulk, every ``FLUSH_SECONDS``. Then it
reads the lines added since its last reading (every process's) and judges: the first process
to reach a verdict applies it through the store, which accepts one verdict per canary (the
others find it ended). A process that counted for a canary judges it every ``FLUSH_SECONDS``
even without traffic. ``modelserve canary status`` reads the same lines, and applies a verdict
that is due (a canary no request ever reached is judged there).

The verdict, once the canary answered ``requests`` predictions or ``seconds`` passed:
promote if its error rate is at most the current version's plus ``error_margin`` and its p99
latency at most ``latency_factor`` times the current version's (plus 1 ms, below which a
histogram cannot tell), abort otherwise. The p99 is judged by counting: the canary's requests
slower than that limit may exceed 1 % of them by what chance allows (3 standard deviations),
no more. Two p99s compared directly would let one stall on a loaded machine decide: the p99
of a few hundred requests is their slowest two or three. A canary with ``EARLY_ERRORS``
errors beyond what the margin allows is aborted at once, so a broken version costs few
requests.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from modelserve.bulk import Bulk
from modelserve.bundles import Canary, ModelStore
from modelserve.errors import ModelserveError, StoreConflict

FLUSH_SECONDS = 0.1
EARLY_ERRORS = 10
LATENCY_SLACK = 0.001  # seconds: differences below a histogram's resolution at 1 ms
# A version as fast as the current one has 1 % of its requests above the current p99, and
# fewer above the limit: a share beyond 1 % by this many standard deviations is no chance.
SLOW_SIGMAS = 3
# Latency histogram bounds: 0.1 ms to about 12 s, each 25 % above the last.
BOUNDS = tuple(0.0001 * 1.25**i for i in range(53))
log = logging.getLogger(__name__)


@dataclass
class Tally:
    """What one version answered while the canary ran."""

    requests: int = 0
    errors: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BOUNDS) + 1))

    def add(self, failed: bool, seconds: float) -> None:
        self.requests += 1
        self.errors += failed
        self.buckets[bisect.bisect_left(BOUNDS, seconds)] += 1

    def merge(self, other: Tally) -> None:
        self.requests += other.requests
        self.errors += other.errors
        self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def p99(self) -> float | None:
        """The upper bound of the bucket holding the 99th percentile, in seconds."""
        if not self.requests:
            return None
        rank, seen = 0.99 * self.requests, 0
        for bucket, count in enumerate(self.buckets):
            seen += count
            if seen >= rank:
                return BOUNDS[bucket] if bucket < len(BOUNDS) else float("inf")
        return float("inf")

    def slower_than(self, seconds: float) -> int:
        """Requests that surely took longer than ``seconds``: those in buckets above its own."""
        return sum(self.buckets[bisect.bisect_left(BOUNDS, seconds) + 1 :])

    def summary(self) -> dict[str, Any]:
        p99 = self.p99
        return {
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": round(self.error_rate, 4),
            "p99_ms": None if p99 is None else round(p99 * 1000, 3),
        }


@dataclass(frozen=True)
class Verdict:
    promote: bool
    reason: str


def verdict(canary: Canary, current: Tally, candidate: Tally, now: datetime) -> Verdict | None:
    """What the plan says now, or None while it is too early to say."""
    allowed = current.error_rate + canary.error_margin
    worse_errors = candidate.error_rate > allowed
    if candidate.errors - allowed * candidate.requests >= EARLY_ERRORS:  # errors beyond it
        return Verdict(False, _figures("errors", candidate, current, allowed))
    elapsed = (now - canary.started).total_seconds()
    if candidate.requests < canary.requests and elapsed < canary.seconds:
        return None
    if not candidate.requests:
        return Verdict(False, f"no request reached version {canary.version} in {elapsed:.0f} s")
    if worse_errors:
        return Verdict(False, _figures("errors", candidate, current, allowed))
    if current.p99 is not None:
        limit = current.p99 * canary.latency_factor + LATENCY_SLACK
        slow, tolerated = candidate.slower_than(limit), _slow_by_chance(candidate.requests)
        if slow > tolerated:
            return Verdict(
                False,
                f"latency: {slow} of {candidate.requests} requests took longer than "
                f"{limit * 1000:.1f} ms ({canary.latency_factor:g}x the current version's p99 "
                f"of {current.p99 * 1000:.1f} ms, plus 1 ms), at most {tolerated} allowed; "
                f"its p99 {_ms(candidate.p99)}",
            )
    return Verdict(
        True,
        f"{candidate.requests} requests, error rate {candidate.error_rate:.4f} "
        f"(current {current.error_rate:.4f}), p99 {_ms(candidate.p99)} "
        f"(current {_ms(current.p99)})",
    )


def _slow_by_chance(requests: int) -> int:
    """How many of ``requests`` may exceed the current p99 by chance alone (3 of 100, 11 of
    500, 19 of 1,000)."""
    return math.floor(0.01 * requests + SLOW_SIGMAS * math.sqrt(0.01 * 0.99 * requests))


def _figures(what: str, candidate: Tally, current: Tally, allowed: float) -> str:
    return (
        f"{what}: {candidate.errors} of {candidate.requests} requests failed "
        f"({candidate.error_rate:.4f}, at most {allowed:.4f} allowed; current "
        f"{current.error_rate:.4f}); {candidate.requests} requests went to it"
    )


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"


def tallies(store: ModelStore, name: str, canary: Canary) -> tuple[Tally, Tally]:
    """The current version's and the canary's counts so far, over every process."""
    reading = _Reading()
    reading.read(store.canary_path(name), canary)
    return reading.current, reading.candidate


@dataclass
class _Reading:
    """Counts read from a canary's ledger so far, and where the next read starts."""

    offset: int = 0
    current: Tally = field(default_factory=Tally)
    candidate: Tally = field(default_factory=Tally)

    def read(self, ledger: Path, canary: Canary) -> None:
        """Adds the whole lines written since the last read."""
        try:
            with open(ledger, "rb") as file:
                if os.fstat(file.fileno()).st_size < self.offset:  # a new canary's ledger
                    self.offset, self.current, self.candidate = 0, Tally(), Tally()
                file.seek(self.offset)
                data = file.read()
        except FileNotFoundError:
            return
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits
        self.offset += len(complete)
        started = canary.started.isoformat()
        for line in complete.splitlines():
            try:
                entry = json.loads(line)
                if entry["started"] != started:
                    continue
                counted = Tally(entry["requests"], entry["errors"], entry["buckets"])
            except (ValueError, KeyError, TypeError):  # cut short by a crash: skip it
                continue
            (self.candidate if entry["version"] == canary.version else self.current).merge(counted)


class CanaryJudge:
    """Per server process: counts the predictions it routed while a canary runs, writes them
    in bulk, and judges each canary it counted for after every write (and every
    ``FLUSH_SECONDS`` without traffic, so a time limit is kept), reading only the lines added
    since its last reading."""

    def __init__(self, store: ModelStore):
        self.store = store
        self._bulk: Bulk[tuple[str, Canary, int, bool, float]] = Bulk(
            self._write_and_judge, FLUSH_SECONDS, 4096, idle=True
        )
        self._running: dict[str, Canary] = {}  # the canaries this process counted for
        self._readings: dict[tuple[str, datetime], _Reading] = {}

    def observe(self, model: str, canary: Canary, version: int, status: int, seconds: float):
        """A prediction routed to ``version`` while ``canary`` ran; client errors (4xx)
        say nothing of the model and are not counted."""
        if status < 400 or status >= 500:
            self._bulk.add((model, canary, version, status >= 500, seconds))

    def flush(self) -> None:
        self._bulk.flush()

    def _write_and_judge(self, answered: list[tuple[str, Canary, int, bool, float]]) -> None:
        counts: dict[tuple[str, Canary, int], Tally] = {}
        for model, canary, version, failed, seconds in answered:
            counts.setdefault((model, canary, version), Tally()).add(failed, seconds)
            self._running[model] = canary
        for (model, canary, version), tally in counts.items():
            line = json.dumps(
                {
                    "started": canary.started.isoformat(),
                    "version": version,
                    "pid": os.getpid(),
                    "requests": tally.requests,
                    "errors": tally.errors,
                    "buckets": tally.buckets,
                }
            )
            # One write of one line, appended: lines of several processes never mix.
            with open(self.store.canary_path(model), "a") as ledger:
                ledger.write(line + "\n")
        for model, canary in list(self._running.items()):
            self._judge(model, canary)

    def _judge(self, model: str, canary: Canary) -> None:
        pointer = self.store.pointer(model)
        if pointer is None or pointer.canary != canary:  # ended, here or elsewhere
            del self._running[model]
            self._readings.pop((model, canary.started), None)
            return
        reading = self._readings.setdefault((model, canary.started), _Reading())
        reading.read(self.store.canary_path(model), canary)
        judge(self.store, model, canary, (reading.current, reading.candidate))


def judge(
    store: ModelStore, name: str, canary: Canary, counts: tuple[Tally, Tally] | None = None
) -> Verdict | None:
    """Applies the plan's verdict, if it has one now; None while the canary runs on (or if
    it ended meanwhile). ``counts``: the current version's and the canary's, if read already."""
    current, candidate = counts or tallies(store, name, canary)
    decided = verdict(canary, current, candidate, datetime.now(timezone.utc))
    if decided is None:
        return None
    details = {
        "canary": {
            "fraction": canary.fraction,
            "current": current.summary(),
            "candidate": candidate.summary(),
        }
    }
    if decided.promote:
        try:
            store.bundle(name, canary.version)  # what promoting it would check first
        except ModelserveError as exc:  # it cannot go live (its bundle changed): abort it
            decided = Verdict(False, f"it could not be promoted: {exc}")
    try:
        _end(store, name, canary, decided, details)
    except StoreConflict:  # another process, or a person, ended it first
        return None
    log.info("canary of %s version %s: %s", name, canary.version, decided.reason)
    return decided


def _end(store: ModelStore, name: str, canary: Canary, decided: Verdict, details: dict) -> None:
    outcome = "promoted" if decided.promote else "aborted"
    store.end_canary(
        name,
        promote=decided.promote,
        reason=f"canary {outcome}: {decided.reason}",
        details=details,
        started=canary.started,
    )
