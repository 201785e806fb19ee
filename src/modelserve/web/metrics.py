"""Prometheus metrics; aggregated across the server's worker processes when
``PROMETHEUS_MULTIPROC_DIR`` is set, as ``modelserve serve`` does."""

from __future__ import annotations

import collections
import os
from bisect import bisect_left
from typing import TYPE_CHECKING

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from modelserve.bulk import Bulk
from modelserve.monitoring.log import ROWS_METRIC

if TYPE_CHECKING:
    from modelserve.runtime import Prediction

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Label values come from fixed sets: a client cannot grow /metrics by inventing methods.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)


# route, method, status, seconds, and the prediction it ran with its row count
_Answered = tuple[str, str, int, float, "Prediction | None", "int | None"]


class Metrics:
    FLUSH_SECONDS = 0.05

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "modelserve_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "modelserve_request_duration_seconds",
            "Time to answer an HTTP request",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_rows = Histogram(
            "modelserve_batch_rows",
            "Rows per prediction request",
            buckets=ROW_BUCKETS,
            registry=self.registry,
        )
        self.shared_calls = Histogram(
            "modelserve_model_call_requests",
            "Per request: how many requests ran in its model call (above 1: adaptive batching)",
            buckets=ROW_BUCKETS[:9],
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "modelserve_queue_wait_seconds",
            "Time a Celery task waited before a worker ran it",
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.model_version = Gauge(
            "modelserve_model_version",
            "Model version that answered the latest prediction",
            ["model"],
            multiprocess_mode="mostrecent",
            registry=self.registry,
        )
        self.logged_rows = Counter(*ROWS_METRIC, ["outcome"], registry=self.registry)
        self._collectors: list[Collector] = []  # computed when scraped (live accuracy, drift)
        self._bulk: Bulk[_Answered] = Bulk(self._observe_all, self.FLUSH_SECONDS, 4096)
        self._versions: dict[str, int] = {}  # the version this process last reported, by model

    def observe(
        self,
        route: str,
        method: str,
        status: int,
        seconds: float,
        prediction: Prediction | None = None,
        rows: int | None = None,
    ) -> None:
        """One answered request (``route`` is a route's rule or ``unmatched``, never a client's
        path), counted within ``FLUSH_SECONDS``, and at once before this process's exposition."""
        self._bulk.add((route, method, status, seconds, prediction, rows))

    def flush(self) -> None:
        self._bulk.flush()

    def _observe_all(self, answered: list[_Answered]) -> None:
        counts: collections.Counter[tuple[str, str, int]] = collections.Counter()
        latencies: dict[str, list[float]] = collections.defaultdict(list)
        rows, shared, waits = [], [], []
        for route, method, status, seconds, prediction, n in answered:
            counts[route, method if method in METHODS else OTHER_METHOD, status] += 1
            latencies[route].append(seconds)
            if prediction is None:
                continue
            rows.append(n)
            if prediction.shared_by is not None:
                shared.append(prediction.shared_by)
            if prediction.queue_wait is not None:
                waits.append(prediction.queue_wait)
            # Across processes the gauge shows the most recent write: each process writes when
            # the version it serves changes, so the gauge follows the latest switch.
            if self._versions.get(prediction.model) != prediction.version:
                self._versions[prediction.model] = prediction.version
                self.model_version.labels(prediction.model).set(prediction.version)
        for (route, method, status), n in counts.items():
            self.requests.labels(route, method, str(status)).inc(n)
        for route, seconds in latencies.items():
            _observe_many(self.latency.labels(route), seconds)
        _observe_many(self.batch_rows, rows)
        _observe_many(self.shared_calls, shared)
        _observe_many(self.queue_wait, waits)

    def count_logged(self, outcome: str, rows: int) -> None:
        self.logged_rows.labels(outcome).inc(rows)

    def add_collector(self, collector: Collector) -> None:
        self._collectors.append(collector)

    def exposition(self) -> tuple[bytes, str]:
        self.flush()
        registry = CollectorRegistry()  # no describe on register: nothing is collected twice
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            MultiProcessCollector(registry)
        else:
            registry.register(_Registered(self.registry))
        for collector in self._collectors:
            registry.register(collector)
        return generate_latest(registry), CONTENT_TYPE_LATEST


class _Registered(Collector):
    """This process's own metrics, as one collector of the exposition's registry."""

    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

    def collect(self):
        return self.registry.collect()


def _observe_many(histogram: Histogram, values: list[float]) -> None:
    """``histogram.observe`` of each value, in one write per bucket touched rather than two
    writes per value (each a lock and an mmap write in multiprocess mode). prometheus_client
    has no bulk form: this adds to the histogram's own values, as ``observe`` does."""
    if not values:
        return
    bounds, buckets = (
        getattr(histogram, "_upper_bounds", None),
        getattr(histogram, "_buckets", None),
    )
    if bounds is None or buckets is None:  # internals changed: the public way, value by value
        for value in values:
            histogram.observe(value)
        return
    counts = collections.Counter(bisect_left(bounds, value) for value in values)
    histogram._sum.inc(sum(values))
    for bucket, count in counts.items():
        buckets[bucket].inc(count)
