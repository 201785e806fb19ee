from types import SimpleNamespace

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
    cache = ModelCache(demo_store, loader, recheck=0)
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


def test_the_pointer_is_checked_at_most_once_per_interval(demo_store, monkeypatch):
    import modelserve.runtime.cache as cache_module

    cache = ModelCache(demo_store, recheck=0.005)
    first = cache.get("diabetes")
    stats = []
    real_stamp = cache._stamp
    monkeypatch.setattr(cache, "_stamp", lambda name: stats.append(name) or real_stamp(name))
    clock = [cache_module.time.monotonic() + 1]  # past the check the first get made
    monkeypatch.setattr(cache_module, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    cache.get("diabetes")  # the first look at this clock: checks
    demo_store.add(demo_bundle_path())
    demo_store.promote("diabetes", 2, "newer")
    for _ in range(100):
        assert cache.get("diabetes") is first  # within the interval: no stat at all
    assert len(stats) == 1
    clock[0] += 0.006  # past the interval (0.005 exactly may round below it)
    assert cache.get("diabetes").version == 2
    assert len(stats) == 2


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(demo_store, caplog):
    cache = ModelCache(demo_store, recheck=0)
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
