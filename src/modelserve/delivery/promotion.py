"""Switching the live version by hand: a promotion and a rollback pass the same gates as a
push, unless forced (and then the history says so). Each history row carries the version's
commit and what the gates measured."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from modelserve.bundles import Canary, HistoryEntry, ModelStore
from modelserve.delivery.gates import check_bundle
from modelserve.errors import GateFailed, InvalidInput, ModelNotFound, StoreConflict
from modelserve.settings import Settings

Echo = Callable[[str], None]


@dataclass(frozen=True)
class GatedSwitch:
    """Switches ``name``'s live version through the gates (unless ``force``)."""

    store: ModelStore
    name: str
    settings: Settings
    echo: Echo
    force: bool = False

    def promote(self, version: int, reason: str) -> HistoryEntry:
        pointer = self.store.pointer(self.name)
        if pointer is not None and pointer.version == version:
            raise StoreConflict(f"version {version} of {self.name!r} is already current")
        details = self._checked(version)
        current = pointer.version if pointer else None
        return self.store.promote(self.name, version, reason, details, expected_current=current)

    def start_canary(self, version: int, reason: str) -> HistoryEntry:
        """``version`` answers ``settings.canary`` of requests first, judged by the plan the
        settings give (``modelserve.canary``)."""
        canary = canary_plan(self.settings, version)
        pointer = self.store.pointer(self.name)
        details = self._checked(version)
        current = pointer.version if pointer else None
        return self.store.start_canary(self.name, canary, reason, details, expected_current=current)

    def rollback(self, to: int | None, reason: str) -> HistoryEntry:
        """Back to the previous current version (or ``to``)."""
        name = self.name
        pointer = self.store.pointer(name)
        if pointer is None:
            raise ModelNotFound(f"model {name!r} has no current version to roll back from")
        target = to if to is not None else (pointer.previous or [None])[-1]
        if target is None:
            raise StoreConflict(f"model {name!r} has no earlier version to roll back to")
        if target == pointer.version:
            raise StoreConflict(f"version {target} of {name!r} is already current")
        details = self._checked(target, leaving=pointer.version)
        expected = (pointer.version, target)
        return self.store.rollback(name, to, reason, details=details, expected=expected)

    def _checked(self, version: int, leaving: int | None = None) -> dict[str, Any]:
        """The history details of switching to ``version``; raises GateFailed unless it
        passes."""
        store, name = self.store, self.name
        bundle = store.bundle(name, version)  # never past a bundle changed since it was stored
        record = store.records(name).get(version)
        origin = {"commit": record.origin["commit"]} if record and "commit" in record.origin else {}
        if self.force:
            self.echo(f"gates skipped (--force): version {version} of {name} was not checked")
            return {**origin, "forced": True, "gates": "skipped (--force)"}
        settings = self.settings.model_copy(update={"model": name})
        report = check_bundle(bundle.path, store, name, settings, leaving)
        for result in report.results:
            self.echo(result.line())
        if not report.passed:
            failed = ", ".join(r.gate for r in report.failures)
            raise GateFailed(
                f"version {version} failed the gates ({failed}); nothing changed "
                f"(--force switches anyway, and the history records it)"
            )
        return {**origin, **report.history_details()}


def canary_plan(settings: Settings, version: int) -> Canary:
    if not 0 < settings.canary < 1:
        raise InvalidInput(
            "a canary needs a share of requests: --fraction, or MODELSERVE_CANARY (e.g. 0.1)",
            field="canary",
        )
    return Canary(
        version=version,
        fraction=settings.canary,
        started=datetime.now(timezone.utc),
        requests=settings.canary_requests,
        seconds=settings.canary_seconds,
        error_margin=settings.canary_error_margin,
        latency_factor=settings.canary_latency_factor,
    )
