"""Validation gates: what a bundle must pass before it may become the current version."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from modelserve.bundles import KERAS_FILE, Bundle, ModelStore, read_metadata
from modelserve.bundles.keras_form import keras_form
from modelserve.bundles.metadata import BundleMetadata
from modelserve.datasets import Dataset, read_csv
from modelserve.datasets.gate import gate_split
from modelserve.errors import InvalidBundle, ModelNotFound, ModelserveError
from modelserve.evaluation import classify, evaluate
from modelserve.runtime import ModelRuntime, NumpyRuntime
from modelserve.settings import Settings

LATENCY_CALLS = 200
FORMS_TOLERANCE = 1e-5  # largest difference in probability between a bundle's two forms
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
    accuracy: float | None = None  # measured on the gate data
    gate_data: dict[str, str | int] | None = None  # its sha256 and row count
    metadata: BundleMetadata | None = None

    @property
    def passed(self) -> bool:
        return all(r.status == "PASS" for r in self.results)

    @property
    def failures(self) -> list[GateResult]:
        return [r for r in self.results if r.status == "FAIL"]

    def where(self, folder: str, shown_as: str) -> GateReport:
        """The same report, with paths under ``folder`` (a temporary folder of the server)
        shown as ``shown_as`` (the commit they came from)."""
        prefix = f"{folder}/"
        results = [replace(r, measured=r.measured.replace(prefix, shown_as)) for r in self.results]
        return replace(self, results=results)

    def as_details(self) -> list[dict[str, str]]:
        return [{"gate": r.gate, "status": r.status, "measured": r.measured} for r in self.results]

    def history_details(self) -> dict[str, Any]:
        """What a switch's history row keeps of this report."""
        return {"gates": self.as_details(), "accuracy": self.accuracy, "gate_data": self.gate_data}


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
    leaving: int | None = None
    gate: Dataset | None = None  # the rows no training run saw (datasets.gate)
    probabilities: np.ndarray | None = None  # the candidate's, on the gate rows


def check_bundle(
    path: Path, store: ModelStore, name: str, settings: Settings, leaving: int | None = None
) -> GateReport:
    """Run every gate on the bundle folder ``path`` against ``name``'s current version.
    ``leaving``: the version a rollback abandons, whose figures no longer set the floor."""
    check = _Check(Path(path), store, name, settings, leaving=leaving)
    gates: list[tuple[str, Callable[[_Check], str]]] = [
        ("metadata", _metadata),
        ("integrity", _integrity),
        ("loads", _loads),
        ("schema", _schema),
        ("smoke", _smoke),
        ("forms", _forms),
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
    except InvalidBundle as exc:  # what a rollback away from a damaged version finds
        return f"the current version cannot be compared with: {exc}"
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
        dataset = read_csv(check.settings.data, labels=True, **meta.table_options())
    except ModelserveError as exc:
        raise _Failed(f"the evaluation data does not fit this model: {exc}") from exc
    probabilities = check.runtime.predict(dataset.features).reshape(-1)
    bad = ~np.isfinite(probabilities) | (probabilities < 0) | (probabilities > 1)
    if bad.any():
        raise _Failed(
            f"{int(bad.sum())} of {len(probabilities)} predictions are NaN, infinite "
            f"or outside [0, 1]"
        )
    check.gate = gate_split(dataset).gate
    if not len(check.gate):
        raise _Failed(f"{check.settings.data} holds no gate rows to measure on: add rows")
    check.probabilities = check.runtime.predict(check.gate.features).reshape(-1)
    return f"{len(probabilities)} predictions finite, within [0, 1]"


def _forms(check: _Check) -> str:
    """The Keras form the bundle carries answers as the NumPy form that serving runs."""
    try:
        keras = keras_form(check.bundle.path / KERAS_FILE)(check.gate.features).reshape(-1)
    except ModelserveError as exc:
        raise _Failed(str(exc)) from exc
    gap = float(np.max(np.abs(keras - check.probabilities)))
    rows = len(check.gate)
    if not gap <= FORMS_TOLERANCE:  # NaN fails too
        threshold = check.runtime.metadata.output.threshold
        flipped = int(
            np.sum(classify(keras, threshold) != classify(check.probabilities, threshold))
        )
        raise _Failed(
            f"model.keras and weights.npz disagree by up to {gap:.4g} on {rows} gate rows "
            f"({flipped} change class); tolerance {FORMS_TOLERANCE:g}"
        )
    return f"model.keras and weights.npz agree within {gap:.1e} on {rows} gate rows"


def _accuracy(check: _Check) -> str:
    s, gate = check.settings, check.gate
    threshold = check.runtime.metadata.output.threshold
    accuracy = evaluate(gate.labels, check.probabilities, threshold).accuracy
    check.report.accuracy = accuracy
    check.report.gate_data = {"sha256": gate.sha256, "rows": len(gate)}
    required, reason = s.gate_min_accuracy, f"floor {s.gate_min_accuracy:.4f}"
    best = _best_accepted(check)
    if best is not None and best[0] - s.gate_max_accuracy_drop > required:
        required = best[0] - s.gate_max_accuracy_drop
        reason = f"best accepted v{best[1]} {best[0]:.4f} - {s.gate_max_accuracy_drop:g}"
    where = f"on {len(gate)} gate rows"
    if accuracy < required:
        raise _Failed(f"{accuracy:.4f} < {required:.4f} ({reason}) {where}")
    return f"{accuracy:.4f} >= {required:.4f} ({reason}) {where}"


def _best_accepted(check: _Check) -> tuple[float, int] | None:
    """The best accuracy a version still accepted reached on these gate rows: what the gates
    measured when it went live through them, and the current version measured now. A version
    rolled back from (or an aborted canary) no longer counts, nor does the one being left."""
    accepted: dict[int, float] = {}
    canaries: dict[int, float] = {}  # figures of canaries, accepted once promoted
    for entry in _history(check):
        if entry.action in ("rollback", "abort") and entry.from_version is not None:
            accepted.pop(entry.from_version, None)
            canaries.pop(entry.from_version, None)
        canaries.pop(entry.details.get("canary_ended"), None)
        figure = entry.details.get("accuracy")
        if entry.details.get("gate_data") == check.report.gate_data and isinstance(figure, float):
            if entry.action == "canary":
                canaries[entry.to_version] = figure
                continue
            accepted[entry.to_version] = max(figure, accepted.get(entry.to_version, 0.0))
        elif entry.action == "promote" and entry.to_version in canaries:
            accepted[entry.to_version] = canaries.pop(entry.to_version)
    if check.current is not None:
        now = evaluate(
            check.gate.labels,
            check.current.predict(check.gate.features),
            check.current.metadata.output.threshold,
        ).accuracy
        accepted[check.current.version] = max(now, accepted.get(check.current.version, 0.0))
    accepted.pop(check.leaving, None)
    return max(((figure, version) for version, figure in accepted.items()), default=None)


def _history(check: _Check) -> list:
    try:
        return check.store.history(check.name)
    except InvalidBundle as exc:  # the floor cannot be known: refuse rather than guess low
        raise _Failed(f"{exc}: the best accepted figure cannot be read") from exc


def _latency(check: _Check) -> str:
    row = check.gate.features[:1]
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
