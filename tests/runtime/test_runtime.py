import subprocess
import sys
import textwrap

import numpy as np
import pytest

from modelserve.datasets import read_csv
from modelserve.errors import InvalidInput
from modelserve.runtime import KerasRuntime, NumpyRuntime, load_runtime


@pytest.mark.train
def test_fast_runtime_equals_keras_on_every_row(demo_store, pima_csv):
    features = read_csv(pima_csv).features
    bundle = demo_store.bundle("diabetes")
    fast = load_runtime(bundle).predict(features)
    reference = load_runtime(bundle, "keras").predict(features)
    assert fast.shape == reference.shape == (765, 1)
    assert fast.dtype == np.float32
    np.testing.assert_allclose(fast, reference, rtol=0, atol=1e-5)


@pytest.mark.train
def test_fast_runtime_equals_keras_on_extreme_inputs(demo_store):
    # Large values drive the sigmoid to its limits, where a naive exp() overflows.
    rng = np.random.default_rng(0)
    batch = (rng.standard_normal((256, 8)) * 1e4).astype(np.float32)
    bundle = demo_store.bundle("diabetes")
    with np.errstate(all="raise"):
        fast = NumpyRuntime(bundle).load().predict(batch)
    np.testing.assert_allclose(fast, KerasRuntime(bundle).load().predict(batch), atol=1e-5)


def test_batches_of_the_wrong_shape_are_refused(demo_store):
    runtime = load_runtime(demo_store.bundle("diabetes"))
    for bad in (np.zeros((2, 7)), np.zeros(8), np.zeros((0, 8))):
        with pytest.raises(InvalidInput) as error:
            runtime.predict(bad)
        assert error.value.field == "inputs"


NO_TENSORFLOW = textwrap.dedent("""
    import sys
    from modelserve.bundles import ModelStore
    from modelserve.runtime import load_runtime
    import numpy as np
    runtime = load_runtime(ModelStore(sys.argv[1]).bundle("diabetes"))
    print(runtime.predict(np.ones((3, 8), dtype=np.float32)).shape)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "h5py"))
    print(loaded)
""")


def test_loading_and_predicting_never_imports_tensorflow(demo_store):
    result = subprocess.run(
        [sys.executable, "-c", NO_TENSORFLOW, str(demo_store.root)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.splitlines() == ["(3, 1)", "[]"]
