"""What the pre- and post-receive hooks do, as plain functions over (old, new, ref) updates.

pre-receive runs the gates on the tip of the deploy branch before any ref moves and refuses
the push if one fails; it records the report in the repository. post-receive, once the ref
has moved, adds that bundle to the store and makes it current, with the report in history.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from modelserve.bundles import ModelStore
from modelserve.delivery.gates import GateReport, GateResult, check_bundle
from modelserve.delivery.repository import ZERO, extract_bundle
from modelserve.errors import ModelserveError
from modelserve.settings import Settings

Echo = Callable[[str], None]
REPORTS = "modelserve-gates"  # folder in the bare repository: one report per checked commit


def pre_receive(updates, settings: Settings, git_dir: Path, echo: Echo) -> bool:
    """Check every push to the deploy branch; True if the push may proceed."""
    accepted = True
    for _old, new, ref in updates:
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
        echo(f"modelserve: checking {settings.deploy_path}/ in {new[:12]} ({ref})")
        report = _check_commit(new, settings)
        for result in report.results:
            echo(result.line())
        if report.passed:
            _save_report(git_dir, new, report)
            echo("modelserve: all gates passed; the model goes live once the push completes")
        else:
            failed = ", ".join(r.gate for r in report.failures)
            echo(f"modelserve: push refused ({failed} failed); production is unchanged")
            accepted = False
    return accepted


def post_receive(updates, settings: Settings, git_dir: Path, echo: Echo) -> bool:
    """Promote the bundle of each deploy-branch update that pre-receive passed."""
    ok = True
    store = ModelStore(settings.store)
    for _old, new, ref in updates:
        if not _deploys(ref, settings) or new == ZERO:
            continue
        report = _load_report(git_dir, new)
        try:
            with tempfile.TemporaryDirectory() as tmp:
                bundle = extract_bundle(new, settings.deploy_path, Path(tmp))
                added = store.add(bundle, settings.model)
            entry = store.promote(
                settings.model,
                added.version,
                reason=f"git push {ref} {new[:12]}",
                details={
                    "commit": new,
                    "ref": ref,
                    "gates": report.get("gates", []),
                    "accuracy": report.get("accuracy"),
                    "holdout": added.metadata.evaluation.metrics.model_dump(),
                },
            )
        except ModelserveError as exc:
            echo(f"modelserve: could not promote {new[:12]}: {exc}")
            ok = False
            continue
        echo(
            f"modelserve: {settings.model} version {entry.to_version} is live "
            f"(was {entry.from_version}); roll back with `modelserve rollback`"
        )
    return ok


def _deploys(ref: str, settings: Settings) -> bool:
    return ref == f"refs/heads/{settings.deploy_branch}"


def _check_commit(commit: str, settings: Settings) -> GateReport:
    with tempfile.TemporaryDirectory() as tmp:
        try:
            bundle = extract_bundle(commit, settings.deploy_path, Path(tmp))
        except ModelserveError as exc:
            return GateReport(results=[GateResult("bundle", "FAIL", str(exc))])
        return check_bundle(bundle, ModelStore(settings.store), settings.model, settings)


def _save_report(git_dir: Path, commit: str, report: GateReport) -> None:
    folder = git_dir / REPORTS
    folder.mkdir(exist_ok=True)
    (folder / f"{commit}.json").write_text(
        json.dumps({"gates": report.as_details(), "accuracy": report.accuracy})
    )


def _load_report(git_dir: Path, commit: str) -> dict:
    try:
        return json.loads((git_dir / REPORTS / f"{commit}.json").read_text())
    except FileNotFoundError:
        return {}
