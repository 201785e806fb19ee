"""Live accuracy and drift as Prometheus gauges, read from the monitor when scraped.

Every server process reads the same database, so each computes the same values: they are
collected at scrape time (at most every ``reuse_seconds``), not kept per process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from modelserve.errors import ModelserveError
from modelserve.monitoring.monitor import Monitor, MonitorReport
from modelserve.settings import format_duration

log = logging.getLogger(__name__)

_FIGURES = ("accuracy", "precision", "recall", "roc_auc")


class MonitorGauges(Collector):
    def __init__(self, monitor: Monitor, models: Callable[[], list[str]], reuse_seconds: float):
        self.monitor = monitor
        self.models = models
        self.reuse_seconds = reuse_seconds
        self._reports: list[MonitorReport] = []
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        reports = self._recent_reports()
        window = f"over the last {format_duration(self.monitor.window)}"
        by_version = ["model", "version"]
        logged = GaugeMetricFamily(
            "modelserve_live_predictions", f"Predictions logged {window}", labels=by_version
        )
        labelled = GaugeMetricFamily(
            "modelserve_live_labelled", f"Logged predictions labelled {window}", labels=by_version
        )
        figures = {
            name: GaugeMetricFamily(
                f"modelserve_live_{name}",
                f"{name} of labelled predictions {window}",
                labels=by_version,
            )
            for name in _FIGURES
        }
        psi = GaugeMetricFamily(
            "modelserve_feature_psi",
            f"Population stability index of each feature's inputs {window}",
            labels=["model", "feature"],
        )
        drifted = GaugeMetricFamily(
            "modelserve_feature_drifted",
            "1 where a feature's PSI is above MODELSERVE_DRIFT_THRESHOLD",
            labels=["model", "feature"],
        )
        count = GaugeMetricFamily(
            "modelserve_drifted_features", "Features drifted", labels=["model"]
        )
        for report in reports:
            for version in report.versions:
                key = [report.model, str(version.version)]
                logged.add_metric(key, version.predictions)
                labelled.add_metric(key, version.labelled)
                for name in _FIGURES:
                    value = getattr(version, name)
                    if value is not None:
                        figures[name].add_metric(key, value)
            for feature in report.drift:
                psi.add_metric([report.model, feature.feature], feature.psi)
                drifted.add_metric([report.model, feature.feature], float(feature.drifted))
            if report.drift_note is None:
                count.add_metric([report.model], len(report.drifted))
        yield from (logged, labelled, *figures.values(), psi, drifted, count)

    def _recent_reports(self) -> list[MonitorReport]:
        with self._lock:
            now = time.monotonic()
            if self._read_at is not None and now - self._read_at < self.reuse_seconds:
                return self._reports
            reports = []
            for model in self.models():
                try:
                    reports.append(self.monitor.report(model))
                except ModelserveError as exc:
                    log.warning("monitor: %s: %s", model, exc)
            self._reports, self._read_at = reports, now
            return reports
