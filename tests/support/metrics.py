"""Reading a server's /metrics the way Prometheus would."""

import time
from collections.abc import Callable

import requests
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, tuple], float]
# Each server process writes its metrics within this of answering (Metrics.FLUSH_SECONDS).
SETTLE_SECONDS = 5


def samples(url: str) -> Samples:
    """Every sample at ``{url}/metrics``, keyed by name and sorted labels."""
    text = requests.get(f"{url}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def samples_once(url: str, settled: Callable[[Samples], bool]) -> Samples:
    """The samples once ``settled`` holds for them: a process writes what it answered in bulk,
    so what another process answered a moment ago may not be counted yet. Returns the last
    reading after SETTLE_SECONDS either way, for the caller's asserts to show."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while not settled(current := samples(url)) and time.monotonic() < deadline:
        time.sleep(0.02)  # between readings of a value that settles within 50 ms
    return current


LOGGED = "modelserve_prediction_log_rows_total"


def logged_rows(found: Samples) -> dict[str, float]:
    """Rows the prediction log counted, by outcome (written, duplicate, dropped)."""
    return {
        dict(labels)["outcome"]: value for (name, labels), value in found.items() if name == LOGGED
    }


def wait_until_logged(url: str, rows: int, timeout: float = 30) -> dict[str, float]:
    """The log's counts once ``rows`` rows in all are accounted for (written within a quarter
    second; longer while its database returns from a fault); fails at ``timeout``."""
    deadline = time.monotonic() + timeout
    while sum((counts := logged_rows(samples(url))).values()) < rows:
        assert time.monotonic() < deadline, f"{counts} after {timeout} s; {rows} rows were sent"
        time.sleep(0.05)  # between readings of counts written every quarter second
    return counts
