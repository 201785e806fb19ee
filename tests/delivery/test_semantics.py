"""Git semantics a user expects from `git push production`, and switches that keep their word:
each case checks the store, the pointer, the branch and the history afterwards."""

import json
import stat

import pytest

from modelserve.bundles import METADATA_FILE, BundleMetadata, seal
from tests.delivery.conftest import git
from tests.delivery.test_push import remote_lines
from tests.support.bundles import make_bundle


def state(production) -> tuple:
    store = production.store
    return (
        production.head(),
        store.versions("diabetes"),
        store.current_version("diabetes"),
        store.history("diabetes"),
    )


def commit_file(development, path: str, text: str, message: str) -> str:
    file = development.tree / path
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(text)
    git("add", path, cwd=development.tree)
    git("commit", "-qm", message, cwd=development.tree)
    return git("rev-parse", "HEAD", cwd=development.tree).stdout.strip()


@pytest.fixture
def pushed(production, development) -> str:
    """A good bundle pushed and live as version 2; its commit."""
    development.commit_bundle("good")
    assert development.push().returncode == 0
    assert production.store.current_version("diabetes") == 2
    return production.head()


def test_a_force_push_is_refused_unless_the_repository_allows_it(production, development, pushed):
    before = state(production)
    git("commit", "--amend", "-qm", "rewritten", cwd=development.tree)
    forced = git("push", "-f", "production", "HEAD:master", cwd=development.tree, check=False)
    assert forced.returncode != 0
    assert "refusing to rewind refs/heads/master" in forced.stderr
    assert "receive.denyNonFastForwards false" in forced.stderr
    assert state(production) == before
    # Git's own check stands behind the hook's.
    assert git("config", "receive.denyNonFastForwards", cwd=production.repo).stdout == "true\n"

    git("config", "receive.denyNonFastForwards", "false", cwd=production.repo)
    forced = git("push", "-f", "production", "HEAD:master", cwd=development.tree, check=False)
    assert forced.returncode == 0, forced.stderr
    assert production.head() != before[0]
    assert state(production)[1:] == before[1:]  # the same bundle: no new version


def test_a_push_that_leaves_the_bundle_as_it_was_makes_no_version(production, development, pushed):
    _, versions, live, history = state(production)
    docs = commit_file(development, "NOTES.md", "notes\n", "docs only")
    result = development.push()
    assert result.returncode == 0, result.stderr
    assert f"modelserve: {docs[:12]}:model/ is version 2 of diabetes, live: nothing changes" in (
        remote_lines(result)
    )
    assert state(production) == (docs, versions, live, history)


def test_a_push_after_a_rollback_does_not_undo_it(production, development, pushed):
    rolled = production.cli("rollback")
    assert rolled.returncode == 0, rolled.stderr
    assert production.store.current_version("diabetes") == 1
    history = production.store.history("diabetes")

    notes = commit_file(development, "NOTES.md", "why v2 was rolled back\n", "notes")
    result = development.push()
    assert result.returncode == 0, result.stderr
    assert (
        f"modelserve: {notes[:12]}:model/ is already version 2 of diabetes; live is 1; "
        f"`modelserve models promote 2` to switch. Nothing changes"
    ) in remote_lines(result)
    assert state(production) == (notes, [1, 2], 1, history)


def test_files_beside_a_bundle_are_ignored(production, development):
    development.commit_bundle("good")
    commit_file(development, "model/README.md", "# My model\n", "readme")
    commit_file(development, "model/.gitkeep", "", "keep")
    commit_file(development, "model/.modelserveignore", "# scratch\n*.log\n", "ignore list")
    commit_file(development, "model/train.log", "epoch 1\n", "log")
    result = development.push()
    assert result.returncode == 0, result.stderr
    stored = production.store.bundle("diabetes", 2)
    assert sorted(p.name for p in stored.path.iterdir()) == [
        "data.csv",
        "metadata.json",
        "model.keras",
        "weights.npz",
    ]
    # A stray file nobody listed still fails: it might be part of the model.
    commit_file(development, "model/extra.bin", "?", "stray")
    refused = development.push()
    assert refused.returncode != 0 and "extra.bin: file is not listed" in refused.stderr


def test_gate_messages_name_the_commit_not_a_server_path(production, development, pushed):
    development.commit_bundle("tampered")
    commit = git("rev-parse", "HEAD", cwd=development.tree).stdout.strip()
    result = development.push()
    assert result.returncode != 0
    lines = remote_lines(result)
    assert any(f"{commit[:12]}:model/weights.npz: checksum does not match" in x for x in lines)
    assert not any("/tmp" in line for line in lines), lines


def test_versions_are_readable_by_the_serving_user(production, pushed):
    folder = production.store.bundle("diabetes", 2).path
    assert stat.S_IMODE(folder.stat().st_mode) == 0o755


def test_rollback_passes_the_gates_unless_forced(production, development, pushed, tmp_path):
    poor = production.store.add(make_bundle(tmp_path / "poor", "poor"))
    before = state(production)

    refused = production.cli("rollback", "--to", str(poor.version))
    assert refused.returncode == 1
    assert "FAIL  accuracy" in refused.stdout and "failed the gates (accuracy)" in refused.stderr
    assert state(production) == before

    forced = production.cli("rollback", "--to", str(poor.version), "--force")
    assert forced.returncode == 0, forced.stderr
    assert "gates skipped (--force)" in forced.stdout
    entry = production.store.history("diabetes")[-1]
    assert (entry.action, entry.to_version) == ("rollback", poor.version)
    assert entry.details["forced"] is True and entry.details["gates"] == "skipped (--force)"

    back = production.cli("rollback")  # to version 2, through the gates
    assert back.returncode == 0, back.stderr
    entry = production.store.history("diabetes")[-1]
    assert (entry.action, entry.to_version) == ("rollback", 2)
    assert entry.details["commit"] == pushed  # the version's commit, from its record
    assert [g["status"] for g in entry.details["gates"]] == ["PASS"] * 8
    assert entry.details["accuracy"] == pytest.approx(0.7252, abs=1e-4)
    history = [
        json.loads(line)
        for line in production.cli("models", "history", "--json").stdout.splitlines()
    ]
    assert history[0]["details"]["commit"] == pushed  # newest first


def test_a_stored_bundle_changed_in_place_is_refused(production, pushed):
    bundle = production.store.bundle("diabetes", 2)
    meta = bundle.metadata
    claimed = meta.evaluation.model_copy(
        update={"metrics": meta.evaluation.metrics.model_copy(update={"accuracy": 0.99})}
    )
    # Consistent in itself, every checksum rewritten, as a forger would.
    forged = BundleMetadata.model_validate(meta.model_copy(update={"evaluation": claimed}))
    seal(bundle.path, forged)
    shown = production.cli("models", "show", "--model", "diabetes:2")
    assert shown.returncode != 0 and "0.99" not in shown.stdout
    assert f"{bundle.path / METADATA_FILE}: changed since the store accepted version 2" in (
        shown.stderr
    )
    back = production.cli("rollback")  # away from it, through the gates
    assert back.returncode == 0, back.stderr
    assert production.store.current_version("diabetes") == 1
    again = production.cli("models", "promote", "2", "--force")
    assert again.returncode != 0 and "changed since the store accepted" in again.stderr
    assert production.store.current_version("diabetes") == 1


def test_a_push_of_a_damaged_versions_bundle_repairs_it_as_a_new_version(
    production, development, pushed
):
    bundle = production.store.bundle("diabetes", 2)
    (bundle.path / "weights.npz").write_bytes(b"damaged")
    notes = commit_file(development, "NOTES.md", "same model\n", "notes")
    result = development.push()  # the same bundle as version 2, which no longer verifies
    assert result.returncode == 0, result.stderr
    assert production.store.versions("diabetes") == [1, 2, 3]
    assert production.store.current_version("diabetes") == 3
    assert production.store.history("diabetes")[-1].details["commit"] == notes
