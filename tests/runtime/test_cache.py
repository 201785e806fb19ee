import numpy as np
import pytest

from modelserve.errors import ModelNotFound
from modelserve.runtime import ModelCache
from modelserve.runtime.cache import load_numpy
from modelserve.settings import demo_bundle_path


class CountingLoader:
    def __init__(self):
        self.loaded = []

    def __call__(self, bundle):
        self.loaded.append(bundle.version)
        return load_numpy(bundle)


def test_loads_once_and_follows_the_current_pointer(demo_store):
    loader = CountingLoader()
    cache = ModelCache(demo_store, loader)
    first = cache.get("diabetes")
    assert cache.get("diabetes") is first
    assert loader.loaded == [1]

    demo_store.add(demo_bundle_path())
    demo_store.promote("diabetes", 2, "newer")
    second = cache.get("diabetes")
    assert second.version == 2 and loader.loaded == [1, 2]
    assert cache.get("diabetes") is second
    # Asking for the current version by number reuses the loaded model.
    assert cache.get("diabetes", 2) is second
    assert cache.get("diabetes", 1).version == 1 and loader.loaded == [1, 2, 1]


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(demo_store, caplog):
    cache = ModelCache(demo_store)
    old = cache.get("diabetes")
    broken = demo_store.add(demo_bundle_path())
    demo_store.promote("diabetes", broken.version, "will break")
    (broken.path / "weights.npz").write_bytes(b"garbage")
    assert cache.get("diabetes") is old
    assert "failed to load; version 1 keeps serving" in caplog.text
    np.testing.assert_array_equal(
        cache.get("diabetes").predict(np.ones((1, 8))), old.predict(np.ones((1, 8)))
    )


def test_unknown_models_and_versions(demo_store, store):
    with pytest.raises(ModelNotFound, match="no model 'nope'"):
        ModelCache(demo_store).get("nope")
    with pytest.raises(ModelNotFound, match="no version 5"):
        ModelCache(demo_store).get("diabetes", 5)
