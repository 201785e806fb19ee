"""Gate data: chosen by content, the same rows whatever the order, never shared with training."""

from dataclasses import replace

import pytest

from modelserve.datasets import read_csv
from modelserve.datasets.gate import gate_split


def rows_of(dataset) -> set[tuple]:
    pairs = zip(dataset.features, dataset.labels, strict=True)
    return {(*row.tolist(), int(label)) for row, label in pairs}


def test_the_gate_rows_are_a_fifth_chosen_by_content(pima_csv, tmp_path):
    dataset = read_csv(pima_csv, labels=True)
    split = gate_split(dataset)
    assert (len(split.gate), len(split.training)) == (131, 634)
    assert not rows_of(split.gate) & rows_of(split.training)
    assert abs(split.gate.labels.mean() - dataset.labels.mean()) < 0.05  # both classes

    reversed_csv = tmp_path / "reversed.csv"
    reversed_csv.write_text("\n".join(reversed(pima_csv.read_text().splitlines())) + "\n")
    again = gate_split(read_csv(reversed_csv, labels=True))
    assert rows_of(again.gate) == rows_of(split.gate)
    # The digest names the rows in the table's order: another order, another digest.
    assert again.gate.sha256 != split.gate.sha256 and len(split.gate.sha256) == 64


def test_duplicates_of_a_row_fall_on_the_same_side(pima_csv, tmp_path):
    lines = pima_csv.read_text().splitlines()
    doubled = tmp_path / "doubled.csv"
    doubled.write_text("\n".join(lines + lines) + "\n")
    split = gate_split(read_csv(doubled, labels=True))
    assert (len(split.gate), len(split.training)) == (262, 1268)
    assert not rows_of(split.gate) & rows_of(split.training)


def test_an_unlabelled_table_has_no_gate_data(pima_csv):
    unlabelled = replace(read_csv(pima_csv, labels=True), labels=None)
    with pytest.raises(ValueError, match="gate data needs labels"):
        gate_split(unlabelled)


def test_each_side_knows_which_rows_of_the_table_it_holds(pima_csv):
    import numpy as np

    dataset = read_csv(pima_csv, labels=True)
    split = gate_split(dataset)
    # Ascending indexes of the table's data rows, together every row once.
    rows = np.concatenate([split.gate_rows, split.training_rows])
    assert sorted(rows.tolist()) == list(range(len(dataset)))
    for side, indexes in ((split.gate, split.gate_rows), (split.training, split.training_rows)):
        assert np.all(np.diff(indexes) > 0) and len(indexes) == len(side)
        np.testing.assert_array_equal(dataset.features[indexes], side.features)
        np.testing.assert_array_equal(dataset.labels[indexes], side.labels)
        np.testing.assert_array_equal(dataset.lines[indexes], side.lines)
