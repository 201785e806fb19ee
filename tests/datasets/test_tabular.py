import hashlib

import numpy as np
import pytest

from modelserve.datasets import PIMA_FEATURES, parse_row, read_csv, read_csv_text
from modelserve.errors import InvalidInput


def test_reads_the_pima_table_with_labels(pima_csv):
    dataset = read_csv(pima_csv)
    assert dataset.features.shape == (765, 8)
    assert dataset.features.dtype == np.float32
    assert set(np.unique(dataset.labels)) == {0, 1}
    assert dataset.feature_names == PIMA_FEATURES
    assert dataset.sha256 == hashlib.sha256(pima_csv.read_bytes()).hexdigest()
    assert dataset.features[0].tolist() == pytest.approx([6, 148, 72, 35, 0, 33.6, 0.627, 50])


def test_model_width_accepts_rows_with_or_without_label():
    with_label = read_csv_text("1,2,1\n4,5,0\n", n_features=2)
    without = read_csv_text("1,2\n4,5\n", n_features=2)
    assert with_label.labels.tolist() == [1, 0]
    assert without.labels is None
    assert with_label.features.tolist() == without.features.tolist()


def test_header_line_names_features_and_blank_lines_are_skipped():
    dataset = read_csv_text("a,b,outcome\n\n1,2,1\n\n3,4,0\n")
    assert dataset.feature_names == ("a", "b")
    assert dataset.lines.tolist() == [3, 5]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1,2,1\n1,2\n", "input line 2: expected 3 fields like the first row, found 2"),
        ("1,2,1\n1,x,0\n", "input line 2, column 2: 'x' is not a number"),
        ("1,2,1\n1,nan,0\n", "input line 2, column 2: 'nan' is not a finite number"),
        ("1,2,1\n1,inf,0\n", "input line 2, column 2: 'inf' is not a finite number"),
        ("1,2,1\n1,2,2\n", "input line 2, column 3 (label): label must be 0 or 1, found 2"),
        ("", "input: no data rows"),
        ("5\n", "input line 1: expected feature columns and a label column, found 1 field"),
    ],
)
def test_training_tables_are_rejected_naming_line_and_column(text, message):
    with pytest.raises(InvalidInput) as error:
        read_csv_text(text)
    assert str(error.value) == message


def test_model_width_errors_name_the_feature():
    with pytest.raises(InvalidInput, match=r"line 1, column 2 \(glucose\): '-inf' is not a finite"):
        read_csv_text("1,-inf,3,4,5,6,7,8\n", n_features=8, feature_names=PIMA_FEATURES)
    with pytest.raises(InvalidInput, match="line 1: expected 8 fields, or 9 with the label"):
        read_csv_text("1,2,3,4,5,6,7\n", n_features=8)
    with pytest.raises(InvalidInput, match=r"found 8"):
        read_csv_text("1,2,3,4,5,6,7,8\n", n_features=8, labels=True)


def test_binary_and_unreadable_files_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(InvalidInput, match="not UTF-8"):
        read_csv(bad)
    with pytest.raises(InvalidInput, match="cannot read"):
        read_csv(tmp_path / "missing.csv")


def test_parse_row():
    row = parse_row("6,148,72,35,0,33.6,0.627,50", 8)
    assert row.shape == (1, 8) and row.dtype == np.float32
    with pytest.raises(InvalidInput, match="expected 8 numbers, found 2"):
        parse_row("1,2", 8)
    with pytest.raises(InvalidInput, match=r"column 8 \(age\): 'NaN' is not a finite number"):
        parse_row("1,2,3,4,5,6,7,NaN", 8, feature_names=PIMA_FEATURES)


def test_values_beyond_float32_are_refused():
    with pytest.raises(InvalidInput, match=r"column 2: '1e39' is too large for float32"):
        read_csv_text("1,1e39,1\n")


def test_a_field_beyond_the_csv_modules_limit_is_a_clear_error_naming_its_line():
    text = "1,2\n3,4\n" + '"' + "9" * 200_000 + '",1\n'
    message = r"big\.csv line 3: field larger than field limit"
    with pytest.raises(InvalidInput, match=message) as err:
        read_csv_text(text, source="big.csv", n_features=2)
    assert err.value.line == 3
    with pytest.raises(InvalidInput, match="row line 1: field larger"):
        parse_row('"' + "9" * 200_000 + '"', 1)
