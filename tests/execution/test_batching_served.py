"""Adaptive batching behind the real server: concurrent requests share model calls, and
each still gets its own answer. Celery mode batches by default; embedded mode when asked."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import requests

from modelserve.datasets import read_csv
from tests.support.answers import SAME_PROBABILITY
from tests.support.metrics import samples, samples_once
from tests.support.processes import Server


@pytest.fixture(scope="module")
def batching_server(base_env):
    process = Server({**base_env, "MODELSERVE_BATCHING": "on"})
    yield process
    process.stop()


def predict(url: str, rows) -> requests.Response:
    return requests.post(f"{url}/v1/models/diabetes:predict", json={"instances": rows})


@pytest.mark.parametrize("batched", ["celery_server", "batching_server"])
def test_concurrent_requests_share_calls_and_each_gets_its_own_answer(
    request,
    batched,
    server,
    pima_csv,
):
    url = request.getfixturevalue(batched).url
    rows = read_csv(pima_csv).features[:64].tolist()
    expected = predict(server.url, rows).json()["predictions"]
    shared = ("modelserve_model_call_requests_bucket", (("le", "1.0"),))
    answered = ("modelserve_model_call_requests_count", ())
    before = samples(url)
    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(lambda row: predict(url, [row]), rows))
    after = samples_once(url, lambda now: now.get(answered, 0) - before.get(answered, 0) >= 64)
    assert {a.status_code for a in answers} == {200}
    # Row i's answer is row i's probability, though rows were run together in other orders
    # (batches of other sizes take other BLAS paths, which round otherwise).
    got = [a.json()["predictions"][0] for a in answers]
    np.testing.assert_allclose(got, expected, rtol=0, atol=SAME_PROBABILITY)
    assert after[answered] - before.get(answered, 0) == 64
    assert after[shared] - before.get(shared, 0) < 64  # some requests shared a call
