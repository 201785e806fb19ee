"""A model's own rows for the pages: its bundle's copy, else the configured file only where it
is that same data, read once per version."""

import shutil

import numpy as np
import pytest

from modelserve.bundles import Bundle, ModelStore, seal
from modelserve.errors import InvalidBundle
from modelserve.runtime import load_runtime
from modelserve.settings import demo_bundle_path, demo_dataset_path
from modelserve.web.model_data import ModelDataCache


def store_with(tmp_path, bundle_folder) -> tuple[ModelStore, object]:
    store = ModelStore(tmp_path / "store")
    added = store.add(bundle_folder, "m")
    return store, load_runtime(added)


def demo_without_copy(tmp_path, record: bool):
    """The demo bundle without its copy of its data, recording the data or not."""
    folder = tmp_path / f"demo-{record}"
    shutil.copytree(demo_bundle_path(), folder)
    (folder / "data.csv").unlink()
    metadata = Bundle.open(demo_bundle_path()).metadata
    kept = metadata.dataset.model_copy(update={"file": None}) if record else None
    seal(folder, metadata.model_copy(update={"dataset": kept}))
    return folder


def test_the_bundles_copy_with_its_holdout_read_once(tmp_path):
    store, runtime = store_with(tmp_path, demo_bundle_path())
    cache = ModelDataCache(store, tmp_path / "no-such.csv")
    data = cache.data(runtime)
    record = runtime.metadata.dataset
    assert (data.name, len(data.dataset)) == (record.name, record.rows)
    assert data.holdout.tolist() == record.holdout
    assert cache.data(runtime) is data
    runs = []
    first = cache.probabilities(runtime, lambda rows: runs.append(1) or runtime.predict(rows))
    again = cache.probabilities(runtime, lambda rows: runs.append(1) or runtime.predict(rows))
    assert again is first and runs == [1] and first.shape == (len(data.dataset), 1)


def test_the_configured_file_stands_in_only_for_the_same_data(tmp_path):
    store, runtime = store_with(tmp_path, demo_without_copy(tmp_path, record=True))
    same = ModelDataCache(store, demo_dataset_path()).data(runtime)
    assert same is not None and same.holdout.tolist() == runtime.metadata.dataset.holdout
    other = tmp_path / "other.csv"
    other.write_text("1,2,3,4,5,6,7,8,1\n")
    assert ModelDataCache(store, other).data(runtime) is None


def test_a_bundle_recording_nothing_gets_a_fitting_file_with_no_holdout_claimed(tmp_path):
    store, runtime = store_with(tmp_path, demo_without_copy(tmp_path, record=False))
    data = ModelDataCache(store, demo_dataset_path()).data(runtime)
    assert data.holdout is None and data.trained_rows is None and len(data.dataset) == 765
    narrow = tmp_path / "narrow.csv"
    narrow.write_text("1,2,1\n")
    assert ModelDataCache(store, narrow).data(runtime) is None


def test_a_changed_copy_is_refused_without_naming_server_paths(tmp_path):
    store, runtime = store_with(tmp_path, demo_bundle_path())
    copy = store.bundle("m", 1, verify=False).dataset_path()
    copy.write_text(copy.read_text().replace("148", "149", 1))
    with pytest.raises(InvalidBundle, match="changed after it was sealed") as error:
        ModelDataCache(store, demo_dataset_path()).data(runtime)
    assert str(tmp_path) not in str(error.value)
    assert np.isfinite(runtime.predict(np.zeros((1, 8), np.float32))).all()
