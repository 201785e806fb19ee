"""Prometheus metrics; aggregated across the server's worker processes when
``PROMETHEUS_MULTIPROC_DIR`` is set, as ``modelserve serve`` does."""

from __future__ import annotations

import os
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

if TYPE_CHECKING:
    from modelserve.runtime import Prediction

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Label values come from fixed sets: a client cannot grow /metrics by inventing methods.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD = "other"
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096, 16384)


class Metrics:
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
        # Labelled children by label values: looking one up costs more than updating it.
        self._per_request: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._versions: dict[str, int] = {}  # the version this process last reported, by model

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """``route`` is a route's rule (or ``unmatched``), never a client's path."""
        if method not in METHODS:
            method = OTHER_METHOD
        children = self._per_request.get((route, method, status))
        if children is None:
            children = self._per_request[(route, method, status)] = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route),
            )
        children[0].inc()
        children[1].observe(seconds)

    def observe_prediction(self, prediction: Prediction, rows: int) -> None:
        self.batch_rows.observe(rows)
        if prediction.shared_by is not None:
            self.shared_calls.observe(prediction.shared_by)
        if prediction.queue_wait is not None:
            self.queue_wait.observe(prediction.queue_wait)
        # Across processes the gauge shows the most recent write: each process writes when the
        # version it serves changes, so the gauge follows the latest switch.
        if self._versions.get(prediction.model) != prediction.version:
            self._versions[prediction.model] = prediction.version
            self.model_version.labels(prediction.model).set(prediction.version)

    def exposition(self) -> tuple[bytes, str]:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
        else:
            registry = self.registry
        return generate_latest(registry), CONTENT_TYPE_LATEST
