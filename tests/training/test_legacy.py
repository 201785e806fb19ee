import json

import h5py
import numpy as np
import pytest

from modelserve.datasets import read_csv
from modelserve.errors import InvalidInput
from modelserve.runtime import load_runtime
from modelserve.training.legacy import load_legacy

pytestmark = pytest.mark.train


def reference_network(json_path, h5_path):
    """The network the legacy files describe, rebuilt by hand in Keras 3 from the raw HDF5."""
    import keras

    config = json.loads(json_path.read_text())["config"]["layers"]
    model = keras.Sequential(
        [keras.Input((8,))]
        + [
            keras.layers.Dense(c["config"]["units"], activation=c["config"]["activation"])
            for c in config
        ]
    )
    with h5py.File(h5_path) as f:
        for layer, c in zip(model.layers, config, strict=True):
            name = c["config"]["name"]
            group = f[name][name]
            layer.set_weights([group["kernel:0"][()], group["bias:0"][()]])
    return model


def test_import_equals_the_legacy_network_on_every_row(
    cli, import_legacy_args, seed_model, pima_csv, tmp_path
):
    json_path, h5_path = seed_model
    result = cli(*import_legacy_args, "--model", "legacy")
    assert result.returncode == 0, result.stderr
    assert "stored legacy version 1 (current)" in result.stdout

    from modelserve.bundles import ModelStore

    bundle = ModelStore(tmp_path / "store").bundle("legacy")
    meta = bundle.metadata
    assert meta.training.source == "import-legacy"
    assert meta.training.keras_version == "2.3.1"
    assert meta.normalisation is None
    assert [layer.activation for layer in meta.layers] == ["sigmoid"] * 3
    # Which rows the tutorial's model was fitted to is unknown: none are claimed as held out.
    assert meta.dataset.holdout == [] and meta.training.rows == 0
    assert bundle.dataset_path().read_bytes() == pima_csv.read_bytes()

    features = read_csv(pima_csv).features
    expected = reference_network(json_path, h5_path).predict_on_batch(features)
    np.testing.assert_allclose(
        load_runtime(bundle, "keras").predict(features), expected, rtol=0, atol=1e-6
    )
    np.testing.assert_allclose(load_runtime(bundle).predict(features), expected, rtol=0, atol=1e-5)


def test_malformed_json_is_a_clear_error(seed_model, tmp_path):
    _, h5_path = seed_model
    cases = {
        "{not json": "not valid JSON",
        '{"class_name": "Model", "config": {}}': "expected a Keras Sequential model",
        '{"class_name": "Sequential", "config": {"layers": []}}': "the model lists no layers",
        json.dumps(
            {
                "class_name": "Sequential",
                "config": {
                    "layers": [
                        {
                            "class_name": "Conv2D",
                            "config": {"name": "c", "batch_input_shape": [None, 8]},
                        }
                    ]
                },
            }
        ): "layer 'c' is a Conv2D; only Dense and Dropout are supported",
    }
    for text, message in cases.items():
        path = tmp_path / "model.json"
        path.write_text(text)
        with pytest.raises(InvalidInput, match=message):
            load_legacy(path, h5_path)


def test_mismatched_weights_are_a_clear_error(seed_model, tmp_path):
    json_path, h5_path = seed_model
    config = json.loads(json_path.read_text())
    config["config"]["layers"][1]["config"]["units"] = 16
    wider = tmp_path / "wider.json"
    wider.write_text(json.dumps(config))
    with pytest.raises(InvalidInput, match=r"layer 'dense_2' has kernel \(12, 8\).*\(12, 16\)"):
        load_legacy(wider, h5_path)

    config = json.loads(json_path.read_text())
    config["config"]["layers"][2]["config"]["name"] = "output"
    renamed = tmp_path / "renamed.json"
    renamed.write_text(json.dumps(config))
    with pytest.raises(InvalidInput, match="no weights for layer 'output'"):
        load_legacy(renamed, h5_path)

    not_hdf5 = tmp_path / "model.h5"
    not_hdf5.write_bytes(b"not hdf5")
    with pytest.raises(InvalidInput, match="not a readable HDF5"):
        load_legacy(json_path, not_hdf5)
