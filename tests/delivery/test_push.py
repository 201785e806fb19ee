"""`git push production` into a repository made by `modelserve deploy init`."""

import json
import time

import pytest

from tests.delivery.conftest import git


def remote_lines(result) -> list[str]:
    return [
        line.removeprefix("remote: ").rstrip()
        for line in result.stderr.splitlines()
        if line.startswith("remote: ")
    ]


def test_deploy_init_prints_the_remote_to_add(production, tmp_path):
    result = production.cli("deploy", "init", str(tmp_path / "other.git"))
    assert f"git remote add production {tmp_path / 'other.git'}" in result.stdout
    assert "git remote add production ssh://" in result.stdout
    hook = (tmp_path / "other.git" / "hooks" / "pre-receive").read_text()
    assert "modelserve deploy pre-receive" in hook and len(hook.splitlines()) < 20
    again = production.cli("deploy", "init", str(tmp_path / "other.git"))
    assert again.returncode == 2 and "not empty" in again.stderr


def test_a_good_push_passes_the_gates_and_goes_live(production, development):
    development.commit_bundle("good")
    result = development.push()
    assert result.returncode == 0, result.stderr
    lines = remote_lines(result)
    gates = ("metadata", "integrity", "loads", "schema", "smoke", "forms", "accuracy", "latency")
    for gate in gates:
        assert any(line.strip().startswith(f"PASS  {gate}") for line in lines), lines
    assert (
        "modelserve: diabetes version 2 is live (was 1); roll back with `modelserve rollback`"
        in lines
    )
    assert production.store.current_version("diabetes") == 2
    commit = git("rev-parse", "HEAD", cwd=development.tree).stdout.strip()
    assert production.head() == commit

    entry = production.store.history("diabetes")[-1]
    assert entry.details["commit"] == commit and entry.details["ref"] == "refs/heads/master"
    assert [g["status"] for g in entry.details["gates"]] == ["PASS"] * 8
    assert entry.details["accuracy"] == pytest.approx(0.7252, abs=1e-4)
    assert entry.details["holdout"]["n"] == 127
    assert entry.details["gate_data"]["rows"] == 131

    # Rollback is one command, well under 2 s, and recorded.
    started = time.monotonic()
    rolled = production.cli("rollback")
    assert rolled.returncode == 0 and time.monotonic() - started < 2
    assert production.store.current_version("diabetes") == 1
    history = [
        json.loads(line)
        for line in production.cli("models", "history", "--json", "--reverse").stdout.splitlines()
    ]
    assert [(h["action"], h["to"]) for h in history] == [
        ("promote", 1),
        ("promote", 2),
        ("rollback", 1),
    ]


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("missing", "FAIL  integrity   "),
        ("tampered", "weights.npz: checksum does not match the metadata"),
        ("narrow", "FAIL  schema      inputs [7: "),
        ("nan", "FAIL  smoke       765 of 765 predictions are NaN"),
        ("poor", "FAIL  accuracy    0.2748 < 0.7052"),
        ("forged", "FAIL  forms       model.keras and weights.npz disagree by up to 0.1409"),
    ],
)
def test_bad_pushes_are_refused_and_change_nothing(production, development, kind, reason):
    development.commit_bundle("good")
    assert development.push().returncode == 0
    head, versions = production.head(), production.store.versions("diabetes")
    history = production.store.history("diabetes")

    development.commit_bundle(kind)
    result = development.push()
    assert result.returncode != 0
    lines = "\n".join(remote_lines(result))
    assert reason in lines
    assert "push refused" in lines and "production is unchanged" in lines
    assert "[remote rejected]" in result.stderr
    assert production.head() == head
    assert production.store.versions("diabetes") == versions
    assert production.store.current_version("diabetes") == 2
    assert production.store.history("diabetes") == history


def test_a_commit_without_a_bundle_is_refused(production, development):
    (development.tree / "README").write_text("notes\n")
    git("add", "README", cwd=development.tree)
    git("commit", "-qm", "no model", cwd=development.tree)
    result = development.push()
    assert result.returncode != 0
    assert "has no folder 'model'" in result.stderr
    assert production.head() is None and production.store.versions("diabetes") == [1]


def test_other_branches_are_stored_not_deployed(production, development):
    development.commit_bundle("poor")
    result = development.push("experiment")
    assert result.returncode == 0
    assert (
        "refs/heads/experiment is not the deploy branch (master): stored, not deployed"
        in result.stderr
    )
    assert production.store.versions("diabetes") == [1]


def test_deleting_the_deploy_branch_is_refused(production, development):
    development.commit_bundle("good")
    assert development.push().returncode == 0
    result = git("push", "production", ":master", cwd=development.tree, check=False)
    assert result.returncode != 0 and "refusing to delete the deploy branch" in result.stderr
    assert production.head() is not None


def test_manual_promote_passes_the_same_gates(production, development, tmp_path):
    from tests.support.bundles import make_bundle

    poor = production.store.add(make_bundle(tmp_path / "poor", "poor"))
    refused = production.cli("models", "promote", str(poor.version))
    assert refused.returncode == 1
    assert "FAIL  accuracy" in refused.stdout
    assert "failed the gates (accuracy); nothing changed" in refused.stderr
    assert production.store.current_version("diabetes") == 1

    good = production.store.add(make_bundle(tmp_path / "good"))
    promoted = production.cli("models", "promote", str(good.version))
    assert promoted.returncode == 0, promoted.stderr
    assert production.store.current_version("diabetes") == good.version
    assert production.store.history("diabetes")[-1].details["gates"][0]["status"] == "PASS"


def test_a_symlink_out_of_the_bundle_is_refused(production, development):
    development.commit_bundle("good")
    (development.tree / "model" / "escape").symlink_to("/etc/passwd")
    git("add", "model", cwd=development.tree)
    git("commit", "-qm", "link", cwd=development.tree)
    result = development.push()
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "'model/escape', which is not a plain file inside the bundle folder" in result.stderr
    assert production.store.versions("diabetes") == [1]
