"""Validation gates: what a bundle must pass before it may become the current version."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from modelserve.bundles import Bundle, ModelStore, read_metadata
from modelserve.bundles.metadata import BundleMetadata
from modelserve.datasets import read_csv
from modelserve.errors import ModelNotFound, ModelserveError
from modelserve.evaluation import evaluate
from modelserve.runtime import ModelRuntime, NumpyRuntime
from modelserve.settings import Settings

LATENCY_CALLS = 200
Status = Literal["PASS", "FAIL", "SKIP"]


@dataclass(frozen=True)
class GateResult:
    gate: str
    status: Status
    measured: str

    def line(self) -> str:
        return f"  {self.status:<4}  {self.gate:<10}  {self.measured}"


@dataclass
class GateReport:
    results: list[GateResult] = field(default_factory=list)
    accuracy: float | None = None
    metadata: BundleMetadata | None = None

    @property
    def passed(self) -> bool:
        return all(r.status == "PASS" for r in self.results)

    @property
    def failures(self) -> list[GateResult]:
        return [r for r in self.results if r.status == "FAIL"]

    def as_details(self) -> list[dict[str, str]]:
        return [{"gate": r.gate, "status": r.status, "measured": r.measured} for r in self.results]


class _Failed(Exception):
    """A gate failed; the ones after it cannot run."""


@dataclass
class _Check:
    path: Path
    store: ModelStore
    name: str
    settings: Settings
    report: GateReport = field(default_factory=GateReport)
    bundle: Bundle | None = None
    runtime: ModelRuntime | None = None
    current: ModelRuntime | None = None
    features: np.ndarray | None = None  # the evaluation dataset
    labels: np.ndarray | None = None
    probabilities: np.ndarray | None = None  # the candidate's, on the evaluation dataset


def check_bundle(path: Path, store: ModelStore, name: str, settings: Settings) -> GateReport:
    """Run every gate on the bundle folder ``path`` against ``name``'s current version."""
    check = _Check(Path(path), store, name, settings)
    gates: list[tuple[str, Callable[[_Check], str]]] = [
        ("metadata", _metadata),
        ("integrity", _integrity),
        ("loads", _loads),
        ("schema", _schema),
        ("smoke", _smoke),
        ("accuracy", _accuracy),
        ("latency", _latency),
    ]
    failed = False
    for gate, run in gates:
        if failed:
            check.report.results.append(GateResult(gate, "SKIP", "not run: an earlier gate failed"))
            continue
        try:
            check.report.results.append(GateResult(gate, "PASS", run(check)))
        except _Failed as exc:
            check.report.results.append(GateResult(gate, "FAIL", str(exc)))
            failed = True
    return check.report


def _metadata(check: _Check) -> str:
    try:
        meta = read_metadata(check.path)
    except ModelserveError as exc:
        raise _Failed(str(exc)) from exc
    check.report.metadata = meta
    return f"{meta.name}, {meta.n_features} inputs, {len(meta.layers)} layers"


def _integrity(check: _Check) -> str:
    try:
        check.bundle = Bundle.open(check.path)
    except ModelserveError as exc:
        raise _Failed(str(exc)) from exc
    return f"{len(check.bundle.metadata.files)} files match their SHA-256"


def _loads(check: _Check) -> str:
    started = time.perf_counter()
    try:
        check.runtime = NumpyRuntime(check.bundle).load()
    except ModelserveError as exc:
        raise _Failed(str(exc)) from exc
    return f"NumPy runtime loaded in {(time.perf_counter() - started) * 1000:.1f} ms"


def _schema(check: _Check) -> str:
    try:
        check.current = NumpyRuntime(check.store.bundle(check.name)).load()
    except ModelNotFound:
        return f"no current {check.name!r} to compare with"
    theirs, ours = check.runtime.metadata, check.current.metadata
    if theirs.features != ours.features:
        raise _Failed(
            f"inputs {_describe(theirs)} differ from version {ours.version}'s {_describe(ours)}"
        )
    if (theirs.output.name, theirs.output.shape) != (ours.output.name, ours.output.shape):
        raise _Failed(
            f"output {theirs.output.name}{list(theirs.output.shape)} differs from "
            f"version {ours.version}'s {ours.output.name}{list(ours.output.shape)}"
        )
    return f"inputs and output match version {ours.version}"


def _describe(meta: BundleMetadata) -> str:
    return f"[{meta.n_features}: {', '.join(meta.feature_names)}]"


def _smoke(check: _Check) -> str:
    meta = check.runtime.metadata
    try:
        dataset = read_csv(
            check.settings.data,
            n_features=meta.n_features,
            labels=True,
            feature_names=meta.feature_names,
        )
    except ModelserveError as exc:
        raise _Failed(f"the evaluation data does not fit this model: {exc}") from exc
    probabilities = check.runtime.predict(dataset.features).reshape(-1)
    bad = ~np.isfinite(probabilities) | (probabilities < 0) | (probabilities > 1)
    if bad.any():
        raise _Failed(
            f"{int(bad.sum())} of {len(probabilities)} predictions are NaN, infinite "
            f"or outside [0, 1]"
        )
    check.features, check.labels, check.probabilities = (
        dataset.features,
        dataset.labels,
        probabilities,
    )
    return f"{len(probabilities)} predictions finite, within [0, 1]"


def _accuracy(check: _Check) -> str:
    s = check.settings
    threshold = check.runtime.metadata.output.threshold
    accuracy = evaluate(check.labels, check.probabilities, threshold).accuracy
    check.report.accuracy = accuracy
    required, reason = s.gate_min_accuracy, f"floor {s.gate_min_accuracy:.4f}"
    if check.current is not None:
        current = evaluate(
            check.labels,
            check.current.predict(check.features),
            check.current.metadata.output.threshold,
        ).accuracy
        relative = current - s.gate_max_accuracy_drop
        if relative > required:
            required = relative
            reason = (
                f"current v{check.current.version} {current:.4f} - {s.gate_max_accuracy_drop:g}"
            )
    if accuracy < required:
        raise _Failed(f"{accuracy:.4f} < {required:.4f} ({reason})")
    return f"{accuracy:.4f} >= {required:.4f} ({reason})"


def _latency(check: _Check) -> str:
    row = check.features[:1]
    check.runtime.predict(row)  # warm caches before measuring
    timings = []
    for _ in range(LATENCY_CALLS):
        started = time.perf_counter()
        check.runtime.predict(row)
        timings.append(time.perf_counter() - started)
    median_ms = statistics.median(timings) * 1000
    budget = check.settings.gate_max_latency_ms
    if median_ms > budget:
        raise _Failed(f"single row median {median_ms:.3f} ms > budget {budget:g} ms")
    return f"single row median {median_ms:.3f} ms <= budget {budget:g} ms"
