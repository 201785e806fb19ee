"""The gates on bundle folders, without git."""

import pytest

from modelserve.bundles import Bundle, seal
from modelserve.datasets import read_csv
from modelserve.datasets.gate import gate_split
from modelserve.delivery.gates import check_bundle
from modelserve.settings import Settings
from tests.support.bundles import make_bundle


@pytest.fixture
def settings(demo_store, pima_csv):
    return Settings(store=demo_store.root, data=pima_csv)


def gate_rows(settings):
    return gate_split(read_csv(settings.data, labels=True)).gate


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
        "forms",
        "accuracy",
        "latency",
    ]
    measured = {r.gate: r.measured for r in report.results}
    assert measured["smoke"] == "765 predictions finite, within [0, 1]"
    assert measured["forms"].startswith("model.keras and weights.npz agree within ")
    assert measured["forms"].endswith(" on 131 gate rows")
    assert measured["accuracy"] == (
        "0.7252 >= 0.7052 (best accepted v1 0.7252 - 0.02) on 131 gate rows"
    )
    assert "ms <= budget 5 ms" in measured["latency"]
    assert report.accuracy == pytest.approx(0.7252, abs=1e-4)
    assert report.gate_data == {"sha256": gate_rows(settings).sha256, "rows": 131}


@pytest.mark.parametrize(
    ("kind", "gate", "message"),
    [
        ("missing", "integrity", "model.keras: file is missing"),
        ("tampered", "integrity", "weights.npz: checksum does not match"),
        ("narrow", "schema", "inputs [7: pregnancies"),
        ("nan", "smoke", "765 of 765 predictions are NaN, infinite or outside [0, 1]"),
        ("forged", "forms", "disagree by up to 0.1409 on 131 gate rows (4 change class)"),
        ("misshapen", "forms", "model.keras: the Keras form does not run: matmul"),
        ("poor", "accuracy", "0.2748 < 0.7052 (best accepted v1 0.7252 - 0.02)"),
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


def test_the_floor_follows_the_best_accepted_figure_not_the_current_one(
    demo_store, settings, tmp_path
):
    better = demo_store.add(make_bundle(tmp_path / "v2"))
    gate = gate_rows(settings)
    measured = {"sha256": gate.sha256, "rows": len(gate)}

    def went_live_measuring(accuracy: float, gate_data: dict) -> None:
        """Version 2 went live with this figure, then version 1 was promoted again."""
        details = {"accuracy": accuracy, "gate_data": gate_data}
        demo_store.promote("diabetes", better.version, "test", details)
        demo_store.promote("diabetes", 1, "back to 1")

    candidate = make_bundle(tmp_path / "candidate")

    def failures() -> list[tuple[str, str]]:
        report = check_bundle(candidate, demo_store, "diabetes", settings)
        return [(r.gate, r.measured) for r in report.failures]

    went_live_measuring(0.95, {"sha256": "0" * 64, "rows": 10})  # on other rows: not comparable
    assert failures() == []
    went_live_measuring(0.80, measured)
    assert failures() == [
        ("accuracy", "0.7252 < 0.7800 (best accepted v2 0.8000 - 0.02) on 131 gate rows")
    ]
    # A version rolled back from is no longer accepted: its figure stops setting the floor.
    demo_store.promote("diabetes", better.version, "again")
    demo_store.rollback("diabetes")
    assert failures() == []


def test_gate_data_with_a_header_is_read_by_the_models_own_names(demo_store, tmp_path, pima_csv):
    # The data file names its columns, in another order, and the label as the bundle's
    # training data named it: the gates read it by those names and measure the same rows.
    dataset = read_csv(pima_csv, labels=True)
    order = list(reversed(range(len(dataset.feature_names))))
    headered = tmp_path / "outcomes.csv"
    lines = [",".join(["outcome", *(dataset.feature_names[i] for i in order)])]
    lines += [
        ",".join([str(label), *(f"{row[i]:g}" for i in order)])
        for row, label in zip(dataset.features, dataset.labels, strict=True)
    ]
    headered.write_text("\n".join(lines) + "\n")
    folder = make_bundle(tmp_path / "b")
    metadata = Bundle.open(folder).metadata
    record = metadata.dataset.model_copy(update={"label_column": "outcome"})
    seal(folder, metadata.model_copy(update={"dataset": record}))
    settings = Settings(store=demo_store.root, data=headered)
    report = check_bundle(folder, demo_store, "diabetes", settings)
    assert report.passed, report.results
    assert report.accuracy == pytest.approx(0.7252, abs=1e-4)
