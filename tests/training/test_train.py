import hashlib

import numpy as np

from modelserve.bundles.bundle import sha256_file
from modelserve.datasets import read_csv
from modelserve.datasets.gate import gate_split
from modelserve.runtime import load_runtime


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
    assert meta.files == {n: sha256_file(bundle.path / n) for n in ("model.keras", "weights.npz")}
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
