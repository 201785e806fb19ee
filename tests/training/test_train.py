import hashlib
import json
import os
import pty
import re
import subprocess
import sys

import numpy as np
import pytest

from modelserve.bundles.bundle import sha256_file
from modelserve.datasets import read_csv
from modelserve.datasets.gate import gate_split
from modelserve.runtime import load_runtime
from tests.conftest import Cli

pytestmark = pytest.mark.train


def test_full_training_reaches_the_accuracy_floor(trained_store, pima_csv):
    store, result = trained_store
    bundle = store.bundle("diabetes")
    meta = bundle.metadata
    metrics = meta.evaluation.metrics
    assert metrics.accuracy >= 0.70  # the gates' default floor
    # Trained and evaluated on the 634 rows outside the gate data: 507 and a 20 % holdout.
    outside = gate_split(read_csv(pima_csv, labels=True)).training
    assert len(outside) == 634 and (meta.training.rows, metrics.n) == (507, 127)
    assert meta.evaluation.split == "stratified 20% holdout, seed 7, of 634 rows"
    assert (meta.training.epochs, meta.training.batch_size, meta.training.seed) == (150, 10, 7)
    assert meta.training.data_sha256 == hashlib.sha256(pima_csv.read_bytes()).hexdigest()
    assert meta.files == {
        n: sha256_file(bundle.path / n) for n in ("data.csv", "model.keras", "weights.npz")
    }
    # The training data travels with the model, verbatim, with the rows it was measured on.
    assert bundle.dataset_path().read_bytes() == pima_csv.read_bytes()
    assert meta.dataset.name == "pima-indians-diabetes.csv" and meta.dataset.rows == 765
    assert meta.dataset.sha256 == meta.training.data_sha256
    assert len(meta.dataset.holdout) == metrics.n
    # The first version of a model becomes current; the printed metrics are the stored ones.
    assert store.current_version("diabetes") == 1
    assert f"accuracy {metrics.accuracy:.4f}" in result.stdout
    assert "stored diabetes version 1 (current)" in result.stdout


def test_the_holdout_is_stratified(pima_csv):
    from modelserve.training.train import holdout_split

    dataset = read_csv(pima_csv)
    split = holdout_split(dataset, seed=3)
    assert len(split.test_labels) == 153
    assert split.test_labels.mean() == np.float64(53 / 153)
    assert abs(split.train_labels.mean() - dataset.labels.mean()) < 0.01


def test_a_fixed_seed_gives_the_same_model_twice(pima_csv, tmp_path):
    from modelserve.training.train import train_classifier

    dataset = read_csv(pima_csv)
    first, second, other = (
        train_classifier(dataset, epochs=3, batch_size=10, seed=seed) for seed in (11, 11, 12)
    )
    assert first.evaluation == second.evaluation
    for a, b in zip(first.model.get_weights(), second.model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(first.model.get_weights(), other.model.get_weights(), strict=True)
    )


def test_trained_bundle_predicts_the_same_in_both_runtimes(trained_store, pima_csv):
    store, _ = trained_store
    bundle = store.bundle("diabetes")
    features = read_csv(pima_csv).features
    np.testing.assert_allclose(
        load_runtime(bundle).predict(features),
        load_runtime(bundle, "keras").predict(features),
        rtol=0,
        atol=1e-5,
    )


def test_the_recorded_holdout_rows_are_the_rows_measured(pima_csv):
    from sklearn.model_selection import train_test_split

    from modelserve.training.train import holdout_split, measured_split

    dataset = read_csv(pima_csv, labels=True)
    split, holdout = measured_split(dataset, seed=7)
    assert holdout == sorted(holdout) and len(holdout) == len(split.test_labels) == 127
    assert not set(holdout) & set(gate_split(dataset).gate_rows.tolist())
    pairs = zip(split.test_features, split.test_labels, strict=True)
    measured = {(*r.tolist(), int(y)) for r, y in pairs}
    recorded = {(*dataset.features[i].tolist(), int(dataset.labels[i])) for i in holdout}
    assert measured == recorded
    # Tracking the indexes leaves the split as it was: the same seed, the same model.
    outside = gate_split(dataset).training
    again = holdout_split(outside, seed=7)
    xtr, xte, ytr, yte = train_test_split(
        outside.features, outside.labels, test_size=0.2, stratify=outside.labels, random_state=7
    )
    for ours, plain in zip(
        (again.train_features, again.test_features, again.train_labels, again.test_labels),
        (xtr, xte, ytr, yte),
        strict=True,
    ):
        np.testing.assert_array_equal(ours, plain)
    np.testing.assert_array_equal(outside.features[again.test_rows], again.test_features)


def test_retraining_the_demo_reproduces_its_figures(pima_csv):
    """The shipped demo bundle is what `modelserve train` makes of the shipped table."""
    from modelserve.bundles import Bundle
    from modelserve.settings import demo_bundle_path
    from modelserve.training.train import measured_split

    demo = Bundle.open(demo_bundle_path())
    dataset = read_csv(demo.dataset_path(), labels=True)
    assert demo.dataset_path().read_bytes() == pima_csv.read_bytes()
    _, holdout = measured_split(dataset, seed=demo.metadata.training.seed)
    assert demo.metadata.dataset.holdout == holdout


def test_train_json_reports_the_version_and_what_to_run_next(tmp_path, pima_csv):
    cli = Cli(tmp_path / "store")  # the demo model is current: a new version is not
    result = cli("train", "--data", str(pima_csv), "--epochs", "2", "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)  # one object, nothing else on stdout
    store = tmp_path / "store"
    assert {k: document[k] for k in ("model", "version", "current", "stored", "next")} == {
        "model": "diabetes",
        "version": 2,
        "current": False,
        "stored": str(store / "diabetes" / "2"),
        "next": "modelserve models promote 2 --model diabetes",
    }
    assert document["metrics"]["n"] == 127
    assert document["dataset"]["file"] == "data.csv" and len(document["dataset"]["holdout"]) == 127

    text = cli("--store", str(store), "train", "--data", str(pima_csv), "--epochs", "2")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == f"stored diabetes version 3 (not current; current is 1) in {store}"
    assert lines[-1] == f"To serve it: modelserve --store {store} models promote 3 --model diabetes"


def test_training_without_a_terminal_writes_two_lines_and_no_tensorflow_noise(tmp_path, pima_csv):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "KERAS_"))}
    cli = Cli(tmp_path / "store", MODELSERVE_SEED_DEMO="false")
    cli.env = {**env, **{k: v for k, v in cli.env.items() if k.startswith("MODELSERVE_")}}
    result = cli("train", "--data", str(pima_csv), "--epochs", "2")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 2, result.stderr
    assert lines[0] == "training on pima-indians-diabetes.csv (765 rows) for 2 epochs (seed 7)"
    assert re.fullmatch(r"trained in \d+\.\d s", lines[1])
    assert "stored diabetes version 1 (current)" in result.stdout
    assert result.stdout.splitlines()[-1] == (
        "To try it: modelserve evaluate --model diabetes --rows holdout, "
        "or the pages' /predictions?model=diabetes"
    )


def test_training_on_a_terminal_shows_each_epoch(tmp_path, pima_csv):
    leader, follower = pty.openpty()
    env = {**Cli(tmp_path / "store").env, "COLUMNS": "80", "TERM": "xterm"}
    process = subprocess.Popen(
        [sys.executable, "-m", "modelserve", "train", "--data", str(pima_csv), "--epochs", "3"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
    os.close(leader)
    assert process.wait(timeout=120) == 0
    process.stdout.close()
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", seen.decode()).replace("\r", "\n")
    assert re.search(
        r"epoch +3/3 .* loss \d\.\d{3} acc \d\.\d{3} · holdout \d\.\d{3} \d\.\d{3}", screen
    )
    assert "trained in" in screen
    assert not [line for line in screen.splitlines() if len(line) > 80]
