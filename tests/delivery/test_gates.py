"""The gates on bundle folders, without git."""

import pytest

from modelserve.delivery.gates import check_bundle
from modelserve.settings import Settings
from tests.support.bundles import make_bundle


@pytest.fixture
def settings(demo_store, pima_csv):
    return Settings(store=demo_store.root, data=pima_csv)


def statuses(report):
    return {r.gate: r.status for r in report.results}


def test_a_good_bundle_passes_every_gate_with_measured_values(demo_store, settings, tmp_path):
    report = check_bundle(make_bundle(tmp_path / "b"), demo_store, "diabetes", settings)
    assert report.passed
    assert list(statuses(report)) == [
        "metadata",
        "integrity",
        "loads",
        "schema",
        "smoke",
        "accuracy",
        "latency",
    ]
    measured = {r.gate: r.measured for r in report.results}
    assert measured["smoke"] == "765 predictions finite, within [0, 1]"
    assert measured["accuracy"].startswith("0.8366 >= 0.8166 (current v1 0.8366 - 0.02)")
    assert "ms <= budget 5 ms" in measured["latency"]
    assert report.accuracy == pytest.approx(0.8366, abs=1e-4)


@pytest.mark.parametrize(
    ("kind", "gate", "message"),
    [
        ("missing", "integrity", "model.keras: file is missing"),
        ("tampered", "integrity", "weights.npz: checksum does not match"),
        ("narrow", "schema", "inputs [7: pregnancies"),
        ("nan", "smoke", "765 of 765 predictions are NaN, infinite or outside [0, 1]"),
        ("poor", "accuracy", "0.1634 < 0.8166 (current v1 0.8366 - 0.02)"),
    ],
)
def test_each_bad_bundle_fails_its_gate_and_names_why(
    demo_store, settings, tmp_path, kind, gate, message
):
    report = check_bundle(make_bundle(tmp_path / "b", kind), demo_store, "diabetes", settings)
    assert not report.passed
    (failure,) = report.failures
    assert failure.gate == gate and message in failure.measured
    after = [r.status for r in report.results][[r.gate for r in report.results].index(gate) + 1 :]
    assert set(after) <= {"SKIP"}


def test_floor_and_latency_budget_come_from_settings(demo_store, tmp_path, pima_csv):
    strict = Settings(
        store=demo_store.root, data=pima_csv, gate_min_accuracy=0.9, gate_max_latency_ms=0.000001
    )
    report = check_bundle(make_bundle(tmp_path / "b"), demo_store, "diabetes", strict)
    assert statuses(report)["accuracy"] == "FAIL"
    assert "(floor 0.9000)" in report.failures[0].measured
    lenient = strict.model_copy(update={"gate_min_accuracy": 0.5})
    report = check_bundle(make_bundle(tmp_path / "c"), demo_store, "diabetes", lenient)
    assert [r.gate for r in report.failures] == ["latency"]


def test_without_a_current_model_only_the_floor_applies(store, tmp_path, pima_csv):
    settings = Settings(store=store.root, data=pima_csv)
    report = check_bundle(make_bundle(tmp_path / "b"), store, "diabetes", settings)
    assert report.passed
    assert {r.gate: r.measured for r in report.results}[
        "schema"
    ] == "no current 'diabetes' to compare with"
