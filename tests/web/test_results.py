"""Kept prediction results: what the pages page through, filter and download."""

import csv
import io
import json
import os
import time

import numpy as np
import pytest

from modelserve.errors import ModelNotFound
from modelserve.monitoring.feedback import read_labels_csv
from modelserve.web.results import Description, PredictionResult, ResultStore

KEY = "5f0c2a9e41b7d3680000000000000007"


def make_result(n: int = 120, labels: bool = True, key: str | None = None) -> PredictionResult:
    rng = np.random.default_rng(0)
    return PredictionResult(
        description=Description("m", 2, "rows.csv", 0.5, ["a", "b"], ["id"], request_id=key),
        rows=np.arange(1, n + 1),
        features=rng.random((n, 2)).astype(np.float32) * 100,
        labels=rng.integers(0, 2, n) if labels else None,
        probabilities=rng.random(n),
    )


def test_a_result_reads_back_as_it_was_saved(tmp_path):
    store = ResultStore(tmp_path)
    result = make_result()
    back = store.load(store.save(result))
    assert back.description == result.description
    for name in ("rows", "features", "labels", "probabilities"):
        assert np.array_equal(getattr(back, name), getattr(result, name))
    unlabelled = store.load(store.save(make_result(labels=False)))
    assert unlabelled.labels is None and unlabelled.wrong is None and unlabelled.metrics is None


def test_pages_and_the_wrong_rows_filter():
    result = make_result()
    wrong = np.flatnonzero(result.wrong)
    first = result.page(1)
    assert (first.number, first.pages, first.matching, first.first) == (1, 3, 120, 1)
    assert [r.row for r in first.rows] == list(range(1, 51))
    last = result.page(99)  # past the end: the last page
    assert (last.number, len(last.rows), last.first) == (3, 20, 101)
    only_wrong = result.page(1, wrong_only=True)
    assert only_wrong.matching == len(wrong)
    assert [r.row for r in only_wrong.rows] == (wrong[:50] + 1).tolist()
    assert all(r.wrong for r in only_wrong.rows)


def test_the_csv_holds_every_row_with_its_features_as_typed(tmp_path):
    result = make_result(3)
    result.features[0, 0] = np.float32(33.6)
    table = list(csv.reader(io.StringIO(result.to_csv())))
    assert table[0] == ["row", "a", "b", "label", "probability", "predicted"]
    assert table[1][1] == "33.6"  # not float32's 33.5999985
    assert [int(r[5]) for r in table[1:]] == result.predicted.tolist()
    assert len(table) == 4


def test_a_logged_results_csv_filled_in_is_its_feedback(tmp_path):
    store = ResultStore(tmp_path)
    result = store.load(store.save(make_result(3, labels=False, key=KEY)))
    assert result.description.request_id == KEY
    table = list(csv.reader(io.StringIO(result.to_csv())))
    assert table[0] == ["request_id", "row", "a", "b", "label", "probability", "predicted"]
    # Rows as the prediction log numbers them (from 0), the label left for a person to give.
    assert [(r[0], r[1], r[4]) for r in table[1:]] == [
        (KEY, "0", ""),
        (KEY, "1", ""),
        (KEY, "2", ""),
    ]
    for r in table[1:]:
        r[4] = r[6]
    filled = "".join(",".join(r) + "\n" for r in table)
    labels = read_labels_csv(filled, "rows.csv")
    assert [(x.request_id, x.row, x.label) for x in labels] == [
        (KEY, i, int(result.predicted[i])) for i in range(3)
    ]
    labelled = list(csv.DictReader(io.StringIO(make_result(3, key=KEY).to_csv())))
    assert [r["label"] for r in labelled] == [str(v) for v in make_result(3).labels]


def test_a_result_kept_before_the_log_existed_reads_as_not_logged(tmp_path):
    store = ResultStore(tmp_path)
    result_id = store.save(make_result(2))
    path = tmp_path / f"{result_id}.npz"
    with np.load(path) as arrays:
        saved = dict(arrays)
    described = json.loads(str(saved["description"]))
    del described["request_id"]
    saved["description"] = np.array(json.dumps(described))
    np.savez_compressed(path, **saved)
    assert store.load(result_id).description.request_id is None


def test_unknown_malformed_and_expired_ids_are_not_found(tmp_path):
    store = ResultStore(tmp_path, ttl_seconds=60)
    result_id = store.save(make_result())
    for bad in ("../../etc/passwd", "x" * 22, ""):
        with pytest.raises(ModelNotFound, match="kept for an hour"):
            store.load(bad)
    past = time.time() - 120
    os.utime(tmp_path / f"{result_id}.npz", (past, past))
    with pytest.raises(ModelNotFound):
        store.load(result_id)


def test_the_folder_keeps_a_bounded_number_of_results(tmp_path):
    store = ResultStore(tmp_path, keep=3)
    ids = [store.save(make_result(5)) for _ in range(6)]
    # Each save drops what lies beyond ``keep`` before it adds its own.
    assert len(list(tmp_path.iterdir())) == 4
    assert store.load(ids[-1]).description.model == "m"


def test_only_its_own_files_expire_and_the_folder_must_be_private(tmp_path):
    folder = tmp_path / "results"
    store = ResultStore(folder, ttl_seconds=60)
    store.claim_folder()
    foreign = folder / "notes.txt"
    foreign.write_text("not a result")
    past = time.time() - 3600
    os.utime(foreign, (past, past))
    store.save(make_result(5))
    assert foreign.exists()  # older than any result, yet not the store's to delete

    folder.chmod(0o755)
    with pytest.raises(PermissionError, match="open to other users"):
        store.save(make_result(5))
