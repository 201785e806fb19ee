"""What the pre- and post-receive hooks do, as plain functions over (old, new, ref) updates.

pre-receive runs before any ref moves: it refuses a rewound deploy branch, recognises a
bundle the store already holds (no new version: it says which one), and runs the gates on a
new one, refusing the push if one fails; it records what it decided in the repository.
post-receive, once the ref has moved, adds a new bundle to the store and makes it current,
with the gate report and the commit in its record and in the history.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from modelserve.bundles import Bundle, ModelStore
from modelserve.bundles.store import flock
from modelserve.delivery.gates import GateReport, GateResult, check_bundle
from modelserve.delivery.promotion import canary_plan
from modelserve.delivery.repository import ZERO, branch_tip, extract_bundle, rewinds
from modelserve.errors import ModelserveError
from modelserve.settings import Settings

Echo = Callable[[str], None]
REPORTS = "modelserve-gates"  # folder in the bare repository: one report per checked commit
DEPLOY_LOCK = "modelserve-deploy.lock"  # file in the bare repository


def pre_receive(updates, settings: Settings, git_dir: Path, echo: Echo) -> bool:
    """Check every push to the deploy branch; True if the push may proceed."""
    accepted = True
    store = ModelStore(settings.store)
    for old, new, ref in updates:
        if not _deploys(ref, settings):
            echo(
                f"modelserve: {ref} is not the deploy branch ({settings.deploy_branch}): "
                f"stored, not deployed"
            )
            continue
        if new == ZERO:
            echo(f"modelserve: refusing to delete the deploy branch {ref}")
            accepted = False
            continue
        if rewinds(git_dir, old, new):
            echo(
                f"modelserve: refusing to rewind {ref} ({new[:12]} does not contain "
                f"{old[:12]}): push on top of it, or allow it with "
                f"`git config receive.denyNonFastForwards false` in {git_dir}"
            )
            accepted = False
            continue
        if not _check_update(new, ref, store, settings, git_dir, echo):
            accepted = False
    return accepted


def post_receive(updates, settings: Settings, git_dir: Path, echo: Echo) -> bool:
    """Promote the bundle of each deploy-branch update that pre-receive passed."""
    ok = True
    store = ModelStore(settings.store)
    # One deployment at a time: a push that completes later deploys later, never under one
    # whose ref git moved before.
    with flock(git_dir / DEPLOY_LOCK):
        for _old, new, ref in updates:
            if _deploys(ref, settings) and new != ZERO:
                ok = _deploy(new, ref, store, settings, git_dir, echo) and ok
    return ok


def _deploy(
    new: str, ref: str, store: ModelStore, settings: Settings, git_dir: Path, echo: Echo
) -> bool:
    report = _load_report(git_dir, new)
    if "known" in report:
        return True  # the store holds this bundle already: pre-receive said which version
    tip = branch_tip(git_dir, ref)
    if tip != new:  # a later push moved the branch meanwhile: the tip is what deploys
        moved = (tip or "nothing")[:12]
        echo(f"modelserve: {ref} moved on to {moved}; {new[:12]} is not deployed")
        return True
    try:
        with tempfile.TemporaryDirectory() as tmp:
            bundle = extract_bundle(new, settings.deploy_path, Path(tmp))
            added = store.add(bundle, settings.model, origin={"commit": new, "ref": ref})
        reason = f"git push {ref} {new[:12]}"
        details = {
            "commit": new,
            "ref": ref,
            **report,
            "holdout": added.metadata.evaluation.metrics.model_dump(),
        }
        pointer = store.pointer(settings.model)
        if settings.canary and pointer is not None:
            if pointer.canary is not None:  # the newer push replaces it
                superseded = f"canary superseded by git push {ref} {new[:12]}"
                store.end_canary(settings.model, promote=False, reason=superseded)
                echo(f"modelserve: the canary of version {pointer.canary.version} is aborted")
            plan = canary_plan(settings, added.version)
            entry = store.start_canary(settings.model, plan, reason, details)
            echo(
                f"modelserve: {settings.model} version {entry.to_version} answers "
                f"{plan.fraction:.0%} of requests as a canary (version {entry.from_version} "
                f"the rest); it goes live after {plan.requests} requests or "
                f"{plan.seconds:g} s if its errors and latency hold up, and is aborted "
                f"otherwise: `modelserve canary status`"
            )
            return True
        entry = store.promote(settings.model, added.version, reason, details)
    except ModelserveError as exc:
        echo(f"modelserve: could not promote {new[:12]}: {exc}")
        return False
    echo(
        f"modelserve: {settings.model} version {entry.to_version} is live "
        f"(was {entry.from_version}); roll back with `modelserve rollback`"
    )
    return True


def _check_update(
    new: str, ref: str, store: ModelStore, settings: Settings, git_dir: Path, echo: Echo
) -> bool:
    """A bundle the store holds passes as that version; a new one passes if the gates do."""
    where = f"{new[:12]}:{settings.deploy_path}"
    with tempfile.TemporaryDirectory() as tmp:
        try:
            folder = extract_bundle(new, settings.deploy_path, Path(tmp))
        except ModelserveError as exc:
            folder = None
            report = GateReport(results=[GateResult("bundle", "FAIL", str(exc))])
        digest = _digest(folder) if folder else None
        known = store.find_received(settings.model, digest) if digest else None
        if known is not None:
            _save_report(git_dir, new, {"known": known})
            echo(_already(store, settings.model, known, where))
            return True
        if folder is not None:
            echo(f"modelserve: checking {where}/ ({ref})")
            report = check_bundle(folder, store, settings.model, settings)
        report = report.where(tmp, new[:12] + ":")
    for result in report.results:
        echo(result.line())
    if report.passed:
        _save_report(git_dir, new, report.history_details())
        echo("modelserve: all gates passed; it goes live once git accepts the push")
        return True
    failed = ", ".join(r.gate for r in report.failures)
    echo(f"modelserve: push refused ({failed} failed); production is unchanged")
    return False


def _digest(folder: Path) -> str | None:
    """The digest of a bundle whose files all match it; None otherwise (the gates say why)."""
    try:
        return Bundle.open(folder).digest
    except ModelserveError:
        return None


def _already(store: ModelStore, model: str, version: int, where: str) -> str:
    pointer = store.pointer(model)
    live = pointer.version if pointer else None
    if live == version:
        return f"modelserve: {where}/ is version {version} of {model}, live: nothing changes"
    return (
        f"modelserve: {where}/ is already version {version} of {model}; live is {live}; "
        f"`modelserve models promote {version}` to switch. Nothing changes"
    )


def _deploys(ref: str, settings: Settings) -> bool:
    return ref == f"refs/heads/{settings.deploy_branch}"


def _save_report(git_dir: Path, commit: str, decision: dict) -> None:
    folder = git_dir / REPORTS
    folder.mkdir(exist_ok=True)
    (folder / f"{commit}.json").write_text(json.dumps(decision))


def _load_report(git_dir: Path, commit: str) -> dict:
    try:
        return json.loads((git_dir / REPORTS / f"{commit}.json").read_text())
    except FileNotFoundError:
        return {}
