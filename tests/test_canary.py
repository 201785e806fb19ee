"""Canary releases without a server: the store's states, the traffic split, the verdict."""

import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from modelserve.bundles import Canary
from modelserve.canary import EARLY_ERRORS, Tally, judge, tallies, verdict
from modelserve.errors import StoreConflict
from modelserve.runtime import ModelCache
from tests.support.bundles import make_bundle

STARTED = datetime(2026, 12, 1, tzinfo=timezone.utc)


def plan(version: int = 2, fraction: float = 0.2, **changes) -> Canary:
    settings = dict(
        version=version,
        fraction=fraction,
        started=STARTED,
        requests=100,
        seconds=60,
        error_margin=0.01,
        latency_factor=1.5,
    )
    return Canary(**{**settings, **changes})


def tally(requests: int, errors: int = 0, seconds: float = 0.002) -> Tally:
    counted = Tally()
    for n in range(requests):
        counted.add(n < errors, seconds)
    return counted


@pytest.fixture
def canary_store(demo_store, tmp_path):
    """Version 1 current, version 2 (a good bundle) stored."""
    demo_store.add(make_bundle(tmp_path / "v2"))
    return demo_store


def test_a_canary_is_started_promoted_and_aborted_with_history(canary_store):
    store = canary_store
    started = store.start_canary("diabetes", plan(), "try 2")
    assert (started.action, started.from_version, started.to_version) == ("canary", 1, 2)
    assert store.pointer("diabetes").canary == plan() and store.current_version("diabetes") == 1
    with pytest.raises(StoreConflict, match="is a canary already"):
        store.start_canary("diabetes", plan(started=STARTED + timedelta(1)), "again")

    aborted = store.end_canary("diabetes", promote=False, reason="not now", started=STARTED)
    assert (aborted.action, aborted.from_version, aborted.to_version) == ("abort", 2, 1)
    assert store.pointer("diabetes").canary is None
    with pytest.raises(StoreConflict, match="has ended already"):
        store.end_canary("diabetes", promote=False, reason="again", started=STARTED)  # too late

    store.start_canary("diabetes", plan(), "try 2 again")
    promoted = store.end_canary("diabetes", promote=True, reason="good", started=STARTED)
    assert (promoted.action, promoted.from_version, promoted.to_version) == ("promote", 1, 2)
    assert store.pointer("diabetes").canary is None and store.current_version("diabetes") == 2
    assert [e.action for e in store.history("diabetes")] == [
        "promote",
        "canary",
        "abort",
        "canary",
        "promote",
    ]


def test_any_switch_ends_a_running_canary_and_says_so(canary_store, tmp_path):
    third = canary_store.add(make_bundle(tmp_path / "v3"))
    canary_store.start_canary("diabetes", plan(), "try 2")
    entry = canary_store.promote("diabetes", third.version, "a person chose otherwise")
    assert entry.details["canary_ended"] == 2 and canary_store.pointer("diabetes").canary is None
    canary_store.start_canary("diabetes", plan(started=STARTED + timedelta(1)), "try 2 again")
    entry = canary_store.rollback("diabetes", to=2)  # the canary's own version, by hand
    assert "canary_ended" not in entry.details and canary_store.pointer("diabetes").canary is None


def test_the_split_follows_the_fraction_and_a_client_key_sticks(canary_store):
    canary_store.start_canary("diabetes", plan(fraction=0.2), "try 2")
    cache = ModelCache(canary_store)
    drawn = Counter(cache.route("diabetes") for _ in range(10_000))
    assert set(drawn) == {1, 2} and 1700 < drawn[2] < 2300
    keys = [f"user-{n}" for n in range(2000)]
    first = [cache.route("diabetes", key) for key in keys]
    assert first == [cache.route("diabetes", key) for key in keys]  # the same, every time
    assert 300 < first.count(2) < 500
    assert cache.canary("diabetes") == plan(fraction=0.2)


def test_the_verdict_waits_for_its_plan_then_compares_with_the_current_version():
    canary, soon = plan(), STARTED + timedelta(seconds=10)
    assert verdict(canary, tally(400), tally(99), soon) is None  # too early
    promoted = verdict(canary, tally(400), tally(100), soon)
    assert promoted.promote and promoted.reason.startswith("100 requests, error rate 0.0000")
    # More errors than the current version's rate plus the margin.
    erring = verdict(canary, tally(400, errors=4), tally(100, errors=3), soon)
    assert erring.promote is False and "3 of 100 requests failed" in erring.reason
    assert "at most 0.0200 allowed" in erring.reason
    # Slower than the factor allows (plus a millisecond's slack).
    slow = verdict(canary, tally(400, seconds=0.002), tally(100, seconds=0.02), soon)
    assert slow.promote is False and slow.reason.startswith("latency: 100 of 100 requests")
    assert "at most 3 allowed" in slow.reason
    # The time limit: judged on what it answered; nothing at all is an abort.
    late = STARTED + timedelta(seconds=61)
    assert verdict(canary, tally(400), tally(30), late).promote
    assert "no request reached version 2" in verdict(canary, tally(400), Tally(), late).reason


def test_a_few_stalls_are_chance_and_more_are_a_slower_version():
    canary, soon, current = plan(), STARTED + timedelta(seconds=10), tally(400, seconds=0.002)

    def stalled(stalls: int) -> Tally:  # 100 requests, some of them 0.2 s, the rest 2 ms
        counted = tally(100 - stalls, seconds=0.002)
        for _ in range(stalls):
            counted.add(False, 0.2)
        return counted

    assert stalled(3).p99 > 0.1  # its p99 is a stall, far above 1.5x the current 2 ms
    assert verdict(canary, current, stalled(3), soon).promote  # within chance
    slower = verdict(canary, current, stalled(4), soon)
    assert slower.promote is False and slower.reason.startswith("latency: 4 of 100 requests")


def test_a_broken_canary_is_aborted_after_a_few_errors_beyond_the_margin():
    canary, soon = plan(), STARTED + timedelta(seconds=1)
    assert verdict(canary, tally(50), tally(EARLY_ERRORS, EARLY_ERRORS), soon) is None
    early = verdict(canary, tally(50), tally(EARLY_ERRORS + 1, EARLY_ERRORS + 1), soon)
    assert early.promote is False and "11 of 11 requests failed" in early.reason
    # As many errors as the current version's rate allows are no reason to stop early.
    assert verdict(canary, tally(400, errors=40), tally(95, errors=10), soon) is None


def test_p99_is_the_bucket_bound_of_the_99th_percentile():
    counted = tally(99, seconds=0.001)
    counted.add(False, 2.0)
    assert counted.p99 == pytest.approx(0.001, rel=0.25)
    counted.add(False, 2.0)  # 2 of 101 are slow: the 99th percentile is among them
    assert counted.p99 == pytest.approx(2.0, rel=0.25)


def test_every_process_counts_go_into_one_verdict(canary_store):
    running = plan(requests=20)
    canary_store.start_canary("diabetes", running, "try 2")
    ledger = canary_store.canary_path("diabetes")
    with ledger.open("a") as lines:
        for pid in (101, 102):  # two server processes, ten canary requests each
            for version, requests in ((1, 40), (2, 10)):
                counted = tally(requests)
                line = {"started": STARTED.isoformat(), "version": version, "pid": pid}
                line |= {"requests": requests, "errors": 0, "buckets": counted.buckets}
                lines.write(json.dumps(line) + "\n")
    current, candidate = tallies(canary_store, "diabetes", running)
    assert (current.requests, candidate.requests) == (80, 20)
    decided = judge(canary_store, "diabetes", running)
    assert decided.promote and canary_store.current_version("diabetes") == 2
    entry = canary_store.history("diabetes")[-1]
    assert entry.details["canary"]["candidate"]["requests"] == 20
    assert judge(canary_store, "diabetes", running) is None  # already ended: nothing twice


def test_a_canary_nobody_uses_is_judged_when_its_status_is_asked(canary_store):
    from tests.conftest import Cli

    long_ago = datetime.now(timezone.utc) - timedelta(seconds=120)
    canary_store.start_canary("diabetes", plan(started=long_ago, seconds=60), "idle")
    shown = Cli(canary_store.root)("canary", "status")
    assert shown.returncode == 0, shown.stderr
    assert "diabetes: canary version 2 aborted now: no request reached version 2 in 12" in (
        shown.stdout
    )
    assert canary_store.pointer("diabetes").canary is None
    assert canary_store.history("diabetes")[-1].action == "abort"


def test_a_canary_figure_sets_the_floor_only_once_it_is_promoted(canary_store, pima_csv, tmp_path):
    from modelserve.datasets import read_csv
    from modelserve.datasets.gate import gate_split
    from modelserve.delivery.gates import check_bundle
    from modelserve.settings import Settings

    gate = gate_split(read_csv(pima_csv, labels=True)).gate
    figures = {"accuracy": 0.95, "gate_data": {"sha256": gate.sha256, "rows": len(gate)}}
    canary_store.start_canary("diabetes", plan(), "a canary measuring 0.95", figures)
    settings = Settings(store=canary_store.root, data=pima_csv)
    candidate = make_bundle(tmp_path / "candidate")

    def passes() -> bool:
        return check_bundle(candidate, canary_store, "diabetes", settings).passed

    assert passes()  # running: not accepted yet
    canary_store.end_canary("diabetes", promote=True, reason="good", started=STARTED)
    assert not passes()  # promoted: 0.95 - 0.02 is the floor now


def test_a_canary_whose_bundle_changed_is_aborted_instead_of_promoted(canary_store):
    canary_store.start_canary("diabetes", plan(requests=10), "try 2")
    (canary_store.bundle("diabetes", 2).path / "weights.npz").write_bytes(b"changed")
    decided = judge(canary_store, "diabetes", plan(requests=10), (tally(40), tally(10)))
    assert decided.promote is False and decided.reason.startswith("it could not be promoted: ")
    assert canary_store.current_version("diabetes") == 1
    assert canary_store.history("diabetes")[-1].action == "abort"
