"""``predict`` and ``evaluate`` read CSV columns by header name, and ``evaluate`` measures a
model on its own data and rows when its bundle records them."""

import hashlib
import json
import shutil

import pytest

from modelserve.bundles import Bundle, ModelStore, seal
from modelserve.bundles.metadata import DatasetRecord
from modelserve.datasets import PIMA_FEATURES
from modelserve.settings import demo_bundle_path
from tests.conftest import Cli

# Column order of the reordered file, as indexes into a positional Pima row (8 is the label).
ORDER = [7, 4, 5, 8, 1, 0, 2, 3, 6]


def _reordered(source, target, *, header=None, extra=True):
    """``source`` (positional Pima rows) with its columns shuffled under a header, plus an id
    and a text column the model does not use."""
    names = header or [(*PIMA_FEATURES, "label")[i] for i in ORDER]
    lines = [",".join(["id", *names, "name"] if extra else names)]
    for n, line in enumerate(source.read_text().splitlines(), start=1):
        fields = line.split(",")
        moved = [fields[i] for i in ORDER]
        lines.append(",".join([str(n), *moved, f"person {n}"] if extra else moved))
    target.write_text("\n".join(lines) + "\n")
    return target


def _probabilities(result):
    assert result.returncode == 0, result.stderr
    return [json.loads(line)["probability"] for line in result.stdout.splitlines()]


def test_predict_reads_a_reordered_file_by_name(cli, pima_csv, tmp_path):
    reordered = _reordered(pima_csv, tmp_path / "reordered.csv")
    by_name = cli("predict", "--data", str(reordered), "--json")
    positional = cli("predict", "--data", str(pima_csv), "--json")
    assert _probabilities(by_name) == _probabilities(positional)
    assert [json.loads(r)["label"] for r in by_name.stdout.splitlines()] == [
        json.loads(r)["label"] for r in positional.stdout.splitlines()
    ]
    assert "ignored columns not used by the model: id, name" in by_name.stderr.splitlines()


def test_predict_can_refuse_extra_columns(cli, pima_csv, tmp_path):
    reordered = _reordered(pima_csv, tmp_path / "reordered.csv")
    result = cli("predict", "--data", str(reordered), "--extra-columns", "refuse")
    assert result.returncode == 1 and result.stdout == ""
    assert "columns not used by the model: id, name" in result.stderr
    assert cli("predict", "--data", str(reordered), "--extra-columns", "maybe").returncode == 2


def test_a_missing_column_is_an_error_naming_it(cli, pima_csv, tmp_path):
    header = [(*PIMA_FEATURES, "label")[i] for i in ORDER]
    header[header.index("glucose")] = "Glucose_mg"
    header[header.index("bmi")] = "weight"
    data = _reordered(pima_csv, tmp_path / "heart.csv", header=header)
    result = cli("predict", "--data", str(data))
    assert result.returncode == 1 and result.stdout == ""
    assert f"{data}: missing columns: glucose (did you mean 'Glucose_mg'?), bmi" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_evaluate_reads_by_name_and_says_what_it_measured(cli, pima_csv, tmp_path):
    reordered = _reordered(pima_csv, tmp_path / "reordered.csv", extra=False)
    by_name = json.loads(cli("evaluate", "--data", str(reordered), "--json").stdout)
    positional = json.loads(cli("evaluate", "--data", str(pima_csv), "--json").stdout)
    assert by_name["accuracy"] == positional["accuracy"] and by_name["n"] == 765
    assert (by_name["rows"], by_name["data"]) == ("all", "reordered.csv")
    text = cli("evaluate", "--data", str(pima_csv)).stdout.splitlines()[0]
    assert text == (
        "diabetes version 1 on 765 rows of pima-indians-diabetes.csv "
        "(all rows, including those the model was trained on)"
    )
    assert cli("evaluate", "--data", str(reordered)).stdout.startswith(
        "diabetes version 1 on 765 rows of reordered.csv (all rows)\n"
    )


@pytest.fixture
def recorded(tmp_path, pima_csv):
    """A ``modelserve`` whose store holds the demo model sealed with a copy of its data (under
    another file name) and three held-out rows; MODELSERVE_DATA names another, smaller file."""

    made = iter(range(100))

    def make(*, with_record: bool = True) -> Cli:
        folder = tmp_path / f"bundle-{next(made)}"
        shutil.copytree(demo_bundle_path(), folder)
        shutil.copy(pima_csv, folder / "data.csv")
        record = DatasetRecord(
            name="pima-indians-diabetes.csv",
            sha256=hashlib.sha256(pima_csv.read_bytes()).hexdigest(),
            rows=765,
            file="data.csv",
            holdout=[0, 2, 4],
        )
        meta = Bundle.open(demo_bundle_path()).metadata
        seal(folder, meta.model_copy(update={"dataset": record if with_record else None}))
        root = tmp_path / f"store-{folder.name}"
        ModelStore(root).seed(folder, "diabetes")
        return Cli(root, MODELSERVE_DATA=str(elsewhere))

    elsewhere = tmp_path / "elsewhere.csv"
    elsewhere.write_text("6,148,72,35,0,33.6,0.627,50,1\n1,85,66,29,0,26.6,0.351,31,0\n")
    return make


def test_evaluate_defaults_to_the_models_own_data(recorded):
    result = recorded()("evaluate", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["n"], report["data"], report["rows"]) == (
        765,
        "pima-indians-diabetes.csv",
        "all",
    )


def test_evaluate_on_the_held_out_rows(recorded):
    cli = recorded()
    result = cli("evaluate", "--rows", "holdout")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == (
        "diabetes version 1 on the 3 held-out rows of pima-indians-diabetes.csv"
    )
    report = json.loads(cli("evaluate", "--rows", "holdout", "--json").stdout)
    assert (report["n"], report["rows"]) == (3, "holdout")


def test_held_out_rows_need_the_bundles_record_and_its_file(recorded, tmp_path, pima_csv):
    missing = recorded(with_record=False)("evaluate", "--rows", "holdout")
    assert missing.returncode == 1 and missing.stdout == ""
    assert "does not record which rows its evaluation held out" in missing.stderr
    same = recorded()("evaluate", "--rows", "holdout", "--data", str(pima_csv), "--json")
    assert json.loads(same.stdout)["n"] == 3
    other = recorded()("evaluate", "--rows", "holdout", "--data", str(tmp_path / "elsewhere.csv"))
    assert other.returncode == 1
    assert "elsewhere.csv is not the file the model was trained on" in other.stderr
    assert recorded()("evaluate", "--rows", "some").returncode == 2
