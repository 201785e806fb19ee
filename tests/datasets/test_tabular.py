import hashlib

import numpy as np
import pytest

from modelserve.datasets import PIMA_FEATURES, Dataset, parse_row, read_csv, read_csv_text
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


# -- columns by name ---------------------------------------------------------------------------

PIMA_ROWS = ["6,148,72,35,0,33.6,0.627,50,1", "1,85,66,29,0,26.6,0.351,31,0"]


def _table(header: list[str], order: list[int], rows=PIMA_ROWS) -> str:
    """The Pima rows with their columns in ``order`` (indexes into the positional row)."""
    lines = [",".join(header)]
    for row in rows:
        fields = row.split(",")
        lines.append(",".join(fields[i] for i in order))
    return "\n".join(lines) + "\n"


def test_a_reordered_header_gives_the_features_in_the_models_order():
    positional = read_csv_text("\n".join(PIMA_ROWS), n_features=8, feature_names=PIMA_FEATURES)
    order = [7, 4, 5, 8, 1, 0, 2, 3, 6]
    header = [(*PIMA_FEATURES, "label")[i] for i in order]
    named = read_csv_text(_table(header, order), n_features=8, feature_names=PIMA_FEATURES)
    assert named.features.tolist() == positional.features.tolist()
    assert named.labels.tolist() == positional.labels.tolist() == [1, 0]
    assert named.feature_names == PIMA_FEATURES
    assert named.ignored_columns == ()
    assert named.lines.tolist() == [2, 3]


def test_names_match_ignoring_case_spaces_dashes_and_underscores():
    header = ["Pregnancies", "GLUCOSE", "blood pressure", "Skin-Thickness", " insulin ", "BMI"]
    header += ["Diabetes_Pedigree", "Age", "Label"]
    dataset = read_csv_text(_table(header, list(range(9))), feature_names=PIMA_FEATURES)
    assert dataset.features[0].tolist() == pytest.approx([6, 148, 72, 35, 0, 33.6, 0.627, 50])
    assert dataset.labels.tolist() == [1, 0]


def test_an_exact_name_wins_over_a_loose_one():
    dataset = read_csv_text("A,a\n5,2\n", feature_names=["a"])
    assert dataset.features.tolist() == [[2]]
    assert dataset.ignored_columns == ("A",)


def test_extra_columns_are_ignored_and_reported_even_when_not_numbers():
    text = "id,b,name,a\n7,2,alice,1\n8,4,bob,3\n"
    dataset = read_csv_text(text, feature_names=["a", "b"])
    assert dataset.features.tolist() == [[1, 2], [3, 4]]
    assert dataset.labels is None
    assert dataset.ignored_columns == ("id", "name")


def test_extra_columns_can_be_refused():
    with pytest.raises(InvalidInput) as error:
        read_csv_text("id,b,name,a\n7,2,x,1\n", feature_names=["a", "b"], extra_columns="refuse")
    assert str(error.value) == (
        "input: columns not used by the model: id, name; the model's features are a, b"
    )
    assert error.value.field == "id"
    # The label is not an extra column.
    assert read_csv_text("b,a,label\n1,2,1\n", feature_names=["a", "b"], extra_columns="refuse")


def test_missing_columns_are_named_with_the_closest_unused_header():
    text = "pregnancies,Glucose_mg,blood_pressure,skin_thickness,insulin,diabetes_pedigree,years\n"
    text += "1,2,3,4,5,6,7\n"
    with pytest.raises(InvalidInput) as error:
        read_csv_text(text, source="heart.csv", n_features=8, feature_names=PIMA_FEATURES)
    assert str(error.value) == (
        "heart.csv: missing columns: glucose (did you mean 'Glucose_mg'?), bmi, age; "
        "the model's features are " + ", ".join(PIMA_FEATURES)
    )
    assert error.value.field == "glucose"


def test_a_header_of_other_names_is_refused_not_read_by_position():
    with pytest.raises(InvalidInput, match="missing columns: a, b; the model's features are a, b"):
        read_csv_text("x,y\n1,2\n", n_features=2, feature_names=["a", "b"])


def test_a_duplicated_header_name_is_refused():
    with pytest.raises(InvalidInput) as error:
        read_csv_text("\na,b,a\n1,2,3\n", feature_names=["a", "b"])
    assert str(error.value) == "input line 2, column 3: the column name 'a' appears twice"
    assert error.value.field == "a" and error.value.line == 2


def test_the_label_is_found_by_name_anywhere():
    dataset = read_csv_text("b,LABEL,a\n1,1,2\n3,0,4\n", feature_names=["a", "b"], labels=True)
    assert dataset.features.tolist() == [[2, 1], [4, 3]]
    assert dataset.labels.tolist() == [1, 0]
    other = read_csv_text(
        "b,outcome,a,id\n1,1,2,9\n", feature_names=["a", "b"], label_column="Outcome"
    )
    assert other.labels.tolist() == [1] and other.ignored_columns == ("id",)
    assert other.label_column == "outcome"
    with pytest.raises(InvalidInput, match="no label column named 'outcome'"):
        read_csv_text("b,a\n1,2\n", feature_names=["a", "b"], label_column="outcome", labels=True)
    # Labels optional: a file to predict need not carry the label the model was trained with.
    unlabelled = read_csv_text("b,a\n1,2\n", feature_names=["a", "b"], label_column="outcome")
    assert unlabelled.labels is None


def test_a_spare_column_is_never_taken_for_the_label():
    names = ["a", "b"]
    # A 0/1 column the model does not know (smoker, say) is not the true class.
    dataset = read_csv_text("b,smoker,a\n1,1,2\n3,0,4\n", feature_names=names)
    assert dataset.labels is None and dataset.ignored_columns == ("smoker",)
    with pytest.raises(InvalidInput, match="columns not used by the model: smoker"):
        read_csv_text("b,smoker,a\n1,1,2\n", feature_names=names, extra_columns="refuse")
    # The label it was trained with, by its name, with its values checked.
    with pytest.raises(
        InvalidInput, match=r"line 2, column 2 \(y\): label must be 0 or 1, found 5"
    ):
        read_csv_text("b,y,a\n1,5,2\n", feature_names=names, label_column="y")
    # Forbidden labels: a label column is just an extra column.
    forbidden = read_csv_text("b,label,a\n1,1,2\n", feature_names=names, labels=False)
    assert forbidden.labels is None and forbidden.ignored_columns == ("label",)


def test_unnamed_columns_are_refused():
    with pytest.raises(InvalidInput, match="column 1: the column has no name in the header"):
        read_csv_text(",a,b,label\n0,1,2,1\n", labels=True)


def test_required_labels_need_a_label_column():
    with pytest.raises(InvalidInput, match=r"no label column named 'label' \(other .*: x, y\)"):
        read_csv_text("b,x,a,y\n1,1,2,0\n", feature_names=["a", "b"], labels=True)
    with pytest.raises(InvalidInput, match="no label column named 'label'$"):
        read_csv_text("b,a\n1,2\n", feature_names=["a", "b"], labels=True)


def test_bad_values_name_line_column_number_and_header_name():
    with pytest.raises(InvalidInput) as error:
        read_csv_text("b,id,a\n1,x,2\n3,y,nan\n", feature_names=["a", "b"])
    assert str(error.value) == "input line 3, column 3 (a): 'nan' is not a finite number"
    assert error.value.field == "a" and error.value.line == 3
    with pytest.raises(InvalidInput, match="line 2: expected 3 fields like the header, found 2"):
        read_csv_text("b,id,a\n1,2\n", feature_names=["a", "b"])


def test_a_headerless_table_is_still_read_by_position():
    dataset = read_csv_text("\n".join(PIMA_ROWS), n_features=8, feature_names=PIMA_FEATURES)
    assert dataset.features[1].tolist() == pytest.approx([1, 85, 66, 29, 0, 26.6, 0.351, 31])
    assert dataset.labels.tolist() == [1, 0] and dataset.ignored_columns == ()


def test_thirty_features_under_a_shuffled_header():
    rng = np.random.default_rng(3)
    names = [f"f{i}" for i in range(30)]
    values = rng.normal(size=(5, 30)).round(4)
    labels = rng.integers(0, 2, size=5)
    order = rng.permutation(31)  # 30 is the label
    header = [(names + ["label"])[i] for i in order]
    rows = [
        ",".join(str(int(labels[r])) if i == 30 else repr(float(values[r, i])) for i in order)
        for r in range(5)
    ]
    dataset = read_csv_text(
        "\n".join([",".join(header), *rows]), n_features=30, feature_names=names, labels=True
    )
    assert dataset.features.tolist() == values.astype(np.float32).tolist()
    assert dataset.labels.tolist() == labels.tolist()


def test_training_takes_the_label_by_name_else_the_last_column():
    named = read_csv_text("a,label,b\n1,1,2\n3,0,4\n", labels=True)
    assert named.feature_names == ("a", "b")
    assert named.features.tolist() == [[1, 2], [3, 4]] and named.labels.tolist() == [1, 0]
    last = read_csv_text("a,b,outcome\n1,2,1\n", labels=True)
    assert last.feature_names == ("a", "b") and last.labels.tolist() == [1]
    with pytest.raises(InvalidInput, match="line 2: expected 3 fields like the header, found 4"):
        read_csv_text("a,b,outcome\n1,2,1,0\n", labels=True)


def test_positional_construction_of_a_dataset_still_works():
    dataset = Dataset(np.zeros((1, 2), np.float32), None, ("a", "b"), "", np.array([1]))
    assert dataset.ignored_columns == ()
