"""Canary releases under load, embedded and in Celery mode: a good canary goes live by its
plan with no failed request; a broken one is aborted early, having cost a bounded share."""

import time

import requests

from modelserve.canary import EARLY_ERRORS
from modelserve.delivery.promotion import canary_plan
from modelserve.settings import Settings
from tests.conftest import Cli
from tests.delivery.conftest import git
from tests.support.bundles import make_bundle
from tests.support.load import ROW, Load

FRACTION = 0.25
PLAN = {
    "MODELSERVE_CANARY": str(FRACTION),
    "MODELSERVE_CANARY_REQUESTS": "100",
    "MODELSERVE_CANARY_SECONDS": "60",
}


def until_ended(production, load: Load) -> float:
    """Seconds until no canary runs (the servers judged it), while the clients go on."""
    started, deadline = time.monotonic(), time.monotonic() + 60
    while production.store.pointer("diabetes").canary is not None:
        assert time.monotonic() < deadline, "the canary was never judged"
        load.wait_for_more(1)
    return time.monotonic() - started


def test_a_good_canary_goes_live_by_its_plan_under_load(serving, production, tmp_path):
    good = production.store.add(make_bundle(tmp_path / "good", "revised"))
    cli = Cli(production.store.root, **production.env, **PLAN)
    with Load(serving.url, clients=8) as load:
        started = cli("canary", "start", str(good.version))
        assert started.returncode == 0, started.stderr
        assert "answers 25% of requests" in started.stdout
        until_ended(production, load)
        load.wait_for_more(5)
    entry = production.store.history("diabetes")[-1]
    assert production.store.current_version("diabetes") == good.version, entry.reason
    assert {a.status for a in load.all} == {200}
    seen = [a.version for a in load.all]
    assert {"1", str(good.version)} <= set(seen)
    for answers in load.answers:  # after the promotion, only the new version answers
        assert {a.version for a in answers[-3:]} == {str(good.version)}
    assert entry.action == "promote" and entry.reason.startswith("canary promoted: ")
    candidate = entry.details["canary"]["candidate"]
    assert candidate["requests"] >= 100 and candidate["errors"] == 0


def test_a_broken_canary_is_aborted_early_and_costs_a_bounded_share(serving, production, tmp_path):
    broken = production.store.add(make_bundle(tmp_path / "broken", "unloadable"))
    settings = Settings(**{k.removeprefix("MODELSERVE_").lower(): v for k, v in PLAN.items()})
    # Past the gates (which would refuse it): the plan, not the gates, is under test here.
    production.store.start_canary("diabetes", canary_plan(settings, broken.version), "test")
    with Load(serving.url, clients=8) as load:
        until_ended(production, load)
        load.wait_for_more(5)
    assert production.store.current_version("diabetes") == 1
    entry = production.store.history("diabetes")[-1]
    assert entry.action == "abort" and entry.to_version == 1
    assert entry.reason.startswith("canary aborted: errors: ")
    candidate = entry.details["canary"]["candidate"]
    assert candidate["errors"] >= EARLY_ERRORS and candidate["requests"] < 100  # early
    failed = [a for a in load.all if a.status != 200]
    # Every failure was the canary's, and they stopped once it was aborted.
    assert failed and {a.version for a in failed} == {str(broken.version)}
    assert {a.status for a in failed} == {503}
    for answers in load.answers:
        assert {(a.status, a.version) for a in answers[-3:]} == {(200, "1")}
    # The share it cost: about its fraction of the requests sent before it was judged.
    assert len(failed) <= FRACTION * len(load.all) + 2 * EARLY_ERRORS


def test_a_client_key_stays_on_one_version_for_the_whole_canary(serving, production, tmp_path):
    good = production.store.add(make_bundle(tmp_path / "good", "revised"))
    settings = Settings(canary=0.5, canary_requests=1_000_000, canary_seconds=3600)
    production.store.start_canary("diabetes", canary_plan(settings, good.version), "test")
    url = f"{serving.url}/v1/models/diabetes:predict"
    with requests.Session() as http:

        def versions(key: str | None) -> set[str]:
            headers = {"X-Client-Key": key} if key else {}
            answers = [
                http.post(url, json={"instances": [ROW]}, headers=headers) for _ in range(30)
            ]
            assert {a.status_code for a in answers} == {200}
            return {a.headers["X-Model-Version"] for a in answers}

        assert all(len(versions(f"user-{n}")) == 1 for n in range(4))
        assert versions(None) == {"1", str(good.version)}  # no key: drawn per request


def test_a_push_goes_live_as_a_canary_and_a_newer_push_replaces_it(
    production, development, tmp_path
):
    cli = Cli(production.store.root, **production.env, **PLAN)
    repo = tmp_path / "canary.git"
    assert cli("deploy", "init", str(repo)).returncode == 0
    git("remote", "add", "canaried", str(repo), cwd=development.tree)
    development.commit_bundle("good")
    first = git("push", "canaried", "HEAD:master", cwd=development.tree, check=False)
    assert first.returncode == 0, first.stderr
    assert "diabetes version 2 answers 25% of requests as a canary (version 1 the rest)" in (
        first.stderr
    )
    assert production.store.current_version("diabetes") == 1
    assert production.store.pointer("diabetes").canary.version == 2

    development.commit_bundle("revised")
    second = git("push", "canaried", "HEAD:master", cwd=development.tree, check=False)
    assert second.returncode == 0, second.stderr
    assert "the canary of version 2 is aborted" in second.stderr
    assert production.store.pointer("diabetes").canary.version == 3
    actions = [
        (e.action, e.from_version, e.to_version) for e in production.store.history("diabetes")
    ]
    assert actions[-3:] == [("canary", 1, 2), ("abort", 2, 1), ("canary", 1, 3)]
    assert production.store.history("diabetes")[-2].reason.startswith(
        "canary superseded by git push"
    )
