import json
import shutil

import pytest

from modelserve.bundles import METADATA_FILE, WEIGHTS_FILE, Bundle
from modelserve.bundles.bundle import sha256_file
from modelserve.errors import InvalidBundle
from modelserve.settings import demo_bundle_path


@pytest.fixture
def bundle_dir(tmp_path):
    return shutil.copytree(demo_bundle_path(), tmp_path / "bundle")


def test_demo_bundle_holds_everything_the_format_promises(bundle_dir):
    bundle = Bundle.open(bundle_dir)
    meta = bundle.metadata
    assert (meta.name, meta.version) == ("diabetes", 1)
    assert [f.name for f in meta.features][:2] == ["pregnancies", "glucose"]
    assert {f.dtype for f in meta.features} == {"float32"}
    assert meta.output.threshold == 0.5 and meta.output.shape == (1,)
    assert len(meta.normalisation.mean) == 8
    assert [(layer.units, layer.activation) for layer in meta.layers] == [
        (12, "relu"),
        (8, "relu"),
        (1, "sigmoid"),
    ]
    m = meta.evaluation.metrics
    assert m.n == 127 and sum(map(sum, m.confusion_matrix)) == 127
    assert 0.70 <= m.accuracy <= 1 and m.roc_auc is not None
    assert (meta.training.epochs, meta.training.batch_size, meta.training.seed) == (150, 10, 7)
    assert len(meta.training.data_sha256) == 64
    assert meta.files == {
        name: sha256_file(bundle_dir / name) for name in ("data.csv", "model.keras", "weights.npz")
    }
    # It carries the table it was trained and measured on, verbatim.
    dataset = meta.dataset
    assert bundle.dataset_path() == bundle_dir / "data.csv"
    assert (dataset.name, dataset.file, dataset.rows) == (
        "pima-indians-diabetes.csv",
        "data.csv",
        765,
    )
    assert dataset.sha256 == meta.training.data_sha256 == sha256_file(bundle.dataset_path())
    assert len(dataset.holdout) == m.n and dataset.holdout == sorted(set(dataset.holdout))
    # A few KB, so it can ship in the repository.
    assert sum(p.stat().st_size for p in bundle_dir.iterdir()) < 100_000


def test_tampered_file_is_refused_naming_it(bundle_dir):
    with open(bundle_dir / WEIGHTS_FILE, "r+b") as f:
        f.seek(200)
        byte = f.read(1)
        f.seek(200)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(InvalidBundle, match=r"weights\.npz: checksum does not match"):
        Bundle.open(bundle_dir)
    # Reading metadata alone still works, for inspection.
    assert Bundle.open(bundle_dir, verify=False).version == 1


def test_missing_and_unlisted_files_are_refused(bundle_dir):
    (bundle_dir / "notes.txt").write_text("extra")
    with pytest.raises(InvalidBundle, match=r"notes\.txt: file is not listed"):
        Bundle.open(bundle_dir)
    (bundle_dir / "notes.txt").unlink()
    (bundle_dir / "model.keras").unlink()
    with pytest.raises(InvalidBundle, match=r"model\.keras: file is missing"):
        Bundle.open(bundle_dir)


def test_invalid_metadata_is_refused_naming_the_field(bundle_dir):
    path = bundle_dir / METADATA_FILE
    document = json.loads(path.read_text())
    document["layers"][-1]["activation"] = "softmax"
    path.write_text(json.dumps(document))
    with pytest.raises(InvalidBundle, match=r"invalid metadata at layers\.2\.activation"):
        Bundle.open(bundle_dir)
    document["layers"][-1]["activation"] = "sigmoid"
    document["files"]["../escape.txt"] = document["files"].pop("weights.npz")
    path.write_text(json.dumps(document))
    with pytest.raises(InvalidBundle, match="'../escape.txt' is not a plain file name"):
        Bundle.open(bundle_dir)
    path.write_text("{not json")
    with pytest.raises(InvalidBundle, match="metadata.json: invalid metadata"):
        Bundle.open(bundle_dir)
    path.unlink()
    with pytest.raises(InvalidBundle, match="metadata.json: file is missing"):
        Bundle.open(bundle_dir)


def test_the_dataset_copy_is_checked_like_the_model(bundle_dir):
    with open(bundle_dir / "data.csv", "a") as f:
        f.write("1,2,3,4,5,6,7,8,1\n")
    with pytest.raises(InvalidBundle, match=r"data\.csv: checksum does not match"):
        Bundle.open(bundle_dir)
    (bundle_dir / "data.csv").unlink()
    with pytest.raises(InvalidBundle, match=r"data\.csv: file is missing"):
        Bundle.open(bundle_dir)


def test_the_dataset_record_is_optional_and_must_name_a_listed_file(bundle_dir):
    path = bundle_dir / METADATA_FILE
    document = json.loads(path.read_text())
    # A bundle made before datasets were recorded: no record, no copy.
    older = {k: v for k, v in document.items() if k != "dataset"}
    older["files"] = {k: v for k, v in document["files"].items() if k != "data.csv"}
    (bundle_dir / "data.csv").rename(bundle_dir.parent / "data.csv")
    path.write_text(json.dumps(older))
    bundle = Bundle.open(bundle_dir)
    assert bundle.metadata.dataset is None and bundle.dataset_path() is None
    # A record without a copy (the table was too large to carry) is valid too.
    uncopied = {**document["dataset"], "file": None}
    path.write_text(json.dumps({**older, "dataset": uncopied}))
    assert Bundle.open(bundle_dir).dataset_path() is None
    path.write_text(json.dumps({**older, "dataset": document["dataset"]}))
    with pytest.raises(InvalidBundle, match="dataset file 'data.csv' is not listed in files"):
        Bundle.open(bundle_dir)
    beyond = {**uncopied, "holdout": [765]}
    path.write_text(json.dumps({**older, "dataset": beyond}))
    with pytest.raises(InvalidBundle, match="holdout indexes must be data rows"):
        Bundle.open(bundle_dir)


def test_the_dataset_copy_must_be_the_table_recorded(bundle_dir):
    path = bundle_dir / METADATA_FILE
    document = json.loads(path.read_text())
    (bundle_dir / "data.csv").write_text("6,148,72,35,0,33.6,0.627,50,1\n")
    document["files"]["data.csv"] = sha256_file(bundle_dir / "data.csv")
    path.write_text(json.dumps(document))
    with pytest.raises(InvalidBundle, match="'data.csv' is not a verbatim copy of the table"):
        Bundle.open(bundle_dir)
