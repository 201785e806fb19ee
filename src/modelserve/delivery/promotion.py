"""Promotion through the gates: the same checks a push passes guard a manual promote."""

from __future__ import annotations

from collections.abc import Callable

from modelserve.bundles import HistoryEntry, ModelStore
from modelserve.delivery.gates import check_bundle
from modelserve.errors import GateFailed, StoreConflict
from modelserve.settings import Settings


def gated_promote(
    store: ModelStore,
    name: str,
    version: int,
    settings: Settings,
    reason: str,
    echo: Callable[[str], None],
) -> HistoryEntry:
    pointer = store.pointer(name)
    if pointer is not None and pointer.version == version:
        raise StoreConflict(f"version {version} of {name!r} is already current")
    report = check_bundle(store.bundle(name, version, verify=False).path, store, name, settings)
    for result in report.results:
        echo(result.line())
    if not report.passed:
        failed = ", ".join(r.gate for r in report.failures)
        raise GateFailed(f"version {version} failed the gates ({failed}); nothing changed")
    return store.promote(
        name, version, reason, details={"gates": report.as_details(), "accuracy": report.accuracy}
    )
