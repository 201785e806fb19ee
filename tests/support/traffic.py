"""Steady prediction traffic that records every request's fate, for fault tests.

Each client thread sends one row at a time, each request on a new connection (so a request
that fails does so because of the server, not because the client reused a connection the
server was closing), and records when it was sent and answered, the status, the version
that answered and the probability. A request with no HTTP answer within ``timeout`` is lost.

Run as a program (``python -m tests.support.traffic URL ...``) it prints one JSON line per
answer until SIGTERM, so a test can drive it inside a network namespace and follow it as it
goes (``TrafficProcess``). Times are ``time.monotonic()``, one clock for every process of the
machine.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

PATH = "/v1/models/diabetes:predict"


@dataclass(frozen=True)
class Outcome:
    sent: float
    answered: float
    row: int
    status: int | None  # None: no HTTP answer (lost)
    version: str | None = None
    probability: float | None = None
    error: str | None = None  # why there was no answer, or the error document


def request(url: str, row: int, values: list[float], timeout: float) -> Outcome:
    parts = urlsplit(url)
    body = json.dumps({"instances": [values]})
    sent = time.monotonic()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request("POST", PATH, body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        document = response.read()
    except (OSError, http.client.HTTPException) as exc:
        return Outcome(sent, time.monotonic(), row, None, error=f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()
    if response.status != 200:
        error = document.decode(errors="replace")[:300]
        return Outcome(sent, time.monotonic(), row, response.status, error=error)
    probability = json.loads(document)["predictions"][0][0]
    return Outcome(
        sent, time.monotonic(), row, 200, response.getheader("X-Model-Version"), probability
    )


class Traffic:
    """``clients`` threads predicting rows in turn until stopped; ``on_outcome`` hears each."""

    def __init__(
        self,
        url: str,
        rows: list[list[float]],
        clients: int = 4,
        timeout: float = 30,
        on_outcome: Callable[[Outcome], None] | None = None,
    ):
        self.url, self.rows, self.timeout = url, rows, timeout
        self.outcomes: list[Outcome] = []
        self._on_outcome = on_outcome
        self._next_row = itertools.count()
        self._lock = threading.Lock()
        self._answered = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Traffic:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(self.timeout + 5)

    def wait_for_answers(self, sent_after: float, count: int, timeout: float = 60) -> None:
        """Block until ``count`` requests sent after ``sent_after`` (monotonic) have an answer."""
        with self._answered:
            done = self._answered.wait_for(
                lambda: sum(o.sent > sent_after for o in self.outcomes) >= count, timeout
            )
        assert done, f"fewer than {count} answers to requests sent after {sent_after}"

    def _client(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                row = next(self._next_row) % len(self.rows)
            outcome = request(self.url, row, self.rows[row], self.timeout)
            with self._lock:
                self.outcomes.append(outcome)
                self._answered.notify_all()
            if self._on_outcome is not None:
                self._on_outcome(outcome)


@dataclass
class Phase:
    """What happened to the requests answered (or given up) between ``start`` and ``end``,
    and how soon after the phase's fault ended (``fault_end``) requests succeeded: the
    first one sent after it, and every one sent after ``steady_after``."""

    name: str
    sent: int
    ok: int
    unavailable: int  # 503
    timed_out: int  # 504
    other: int
    wrong: int
    lost: int
    first_ok_after: float | None  # seconds from fault_end to the first 200 sent after it
    steady_after: float | None  # seconds from fault_end after which every answer is 200

    def row(self) -> list:
        return [
            self.name, self.sent, self.ok, self.unavailable, self.timed_out, self.other,
            self.wrong, self.lost, _seconds(self.first_ok_after), _seconds(self.steady_after),
        ]  # fmt: skip


def phase(
    name: str,
    outcomes: Iterable[Outcome],
    start: float,
    end: float,
    fault_end: float,
    is_right: Callable[[Outcome], bool],
) -> Phase:
    # By answer time: a request in flight when a fault begins belongs to that fault.
    mine = sorted((o for o in outcomes if start <= o.answered < end), key=lambda o: o.sent)
    failed_after = [o.sent for o in mine if o.status != 200]
    steady = max(failed_after[-1], fault_end) if failed_after else fault_end
    oks = [o for o in mine if o.status == 200]
    first_ok = next((o.sent for o in oks if o.sent >= fault_end), None)
    return Phase(
        name=name,
        sent=len(mine),
        ok=len(oks),
        unavailable=sum(o.status == 503 for o in mine),
        timed_out=sum(o.status == 504 for o in mine),
        other=sum(o.status not in (None, 200, 503, 504) for o in mine),
        wrong=sum(not is_right(o) for o in oks),
        lost=sum(o.status is None for o in mine),
        first_ok_after=None if first_ok is None else max(0.0, first_ok - fault_end),
        steady_after=(steady - fault_end) if any(o.sent > steady for o in oks) else None,
    )


PHASE_HEADERS = [
    "phase", "sent", "200", "503", "504", "other", "wrong", "lost",
    "first 200 after (s)", "steady 200 after (s)",
]  # fmt: skip


def table(phases: list[Phase]) -> str:
    rows = [PHASE_HEADERS, *(p.row() for p in phases)]
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(PHASE_HEADERS))]
    return "\n".join(
        "  ".join(str(c).rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows
    )


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


class TrafficProcess:
    """This module run as a program, in another host (``prefix``: ``ip netns exec NAME``)."""

    def __init__(self, prefix: list[str], url: str, rows: Path, clients: int, timeout: float):
        from tests.support.processes import Process

        self.process = Process(
            [url, "--rows", str(rows), "--clients", str(clients), "--timeout", str(timeout)],
            {},
            prefix=prefix,
            command=[sys.executable, "-m", "tests.support.traffic"],
        )

    @property
    def outcomes(self) -> list[Outcome]:
        return [Outcome(**json.loads(line)) for line in self.process.log.matching(r"^\{")]

    def wait_for_answers(self, sent_after: float, count: int, timeout: float = 60) -> None:
        """Block until ``count`` requests sent after ``sent_after`` (monotonic) have an answer."""

        def enough(lines: list[str]) -> bool:
            sent = (json.loads(line)["sent"] for line in lines if line.startswith("{"))
            return sum(t > sent_after for t in sent) >= count

        self.process.log.wait_until(enough, timeout, f"{count} answers after {sent_after}")

    def stop(self) -> list[Outcome]:
        """Stop sending; every request in flight is answered or given up first."""
        self.process.stop(signal.SIGTERM, timeout=60)
        return self.outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("--rows", required=True, help="JSON file: a list of rows")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args()
    with open(args.rows) as f:
        rows = json.load(f)
    lock = threading.Lock()

    def emit(outcome: Outcome) -> None:
        with lock:
            print(json.dumps(asdict(outcome)), flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with Traffic(args.url, rows, args.clients, args.timeout, emit):
        stop.wait()  # until SIGTERM; requests in flight then finish and are reported
    print("done", flush=True)


if __name__ == "__main__":
    main()
