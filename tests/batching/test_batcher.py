"""Adaptive batching: one model call for many concurrent callers, each with its own answer."""

import threading

import numpy as np
import pytest

from modelserve.batching import AdaptiveBatcher
from modelserve.errors import BackendUnavailable, InvalidInput, ModelNotFound
from modelserve.execution import Prediction


class Model:
    """Answers each row's first value; records the size of every call it gets."""

    def __init__(self):
        self.calls: list[int] = []
        self.release = threading.Event()
        self.release.set()

    def __call__(self, key, rows: np.ndarray) -> Prediction:
        self.release.wait(10)
        if key[0] == "missing":
            raise ModelNotFound("no model 'missing'")
        if np.any(rows[:, 0] < 0):
            raise InvalidInput("negative", field="inputs")
        self.calls.append(len(rows))
        return Prediction(rows[:, :1].copy(), key[0], 3)


def concurrently(batcher, requests):
    """Submit every (key, rows) at once; each thread's outcome, in request order."""
    outcomes = [None] * len(requests)
    start = threading.Barrier(len(requests))

    def call(i, key, rows):
        start.wait()
        try:
            outcomes[i] = batcher.submit(key, rows)
        except Exception as exc:  # noqa: BLE001 - recorded for the assertions
            outcomes[i] = exc

    threads = [threading.Thread(target=call, args=(i, *r)) for i, r in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return outcomes


def rows(*values):
    return np.array([[v, 0.0] for v in values], dtype=np.float32)


def test_concurrent_calls_become_one_call_and_each_gets_its_own_rows():
    model = Model()
    batcher = AdaptiveBatcher(model, max_rows=1000, max_wait=0.2, max_inflight=1)
    requests = [(("m", None), rows(i, i + 0.5)) for i in range(20)]
    outcomes = concurrently(batcher, requests)
    for (_key, sent), answer in zip(requests, outcomes, strict=True):
        np.testing.assert_array_equal(answer.probabilities, sent[:, :1])
        assert (answer.model, answer.version) == ("m", 3)
    assert sum(model.calls) == 40 and len(model.calls) < 20


def test_batches_respect_the_row_limit():
    model = Model()
    batcher = AdaptiveBatcher(model, max_rows=8, max_wait=0.2, max_inflight=1)
    concurrently(batcher, [(("m", None), rows(1, 2, 3)) for _ in range(12)])
    assert max(model.calls) <= 8
    assert sum(model.calls) == 36


def test_a_call_larger_than_the_limit_runs_alone():
    model = Model()
    batcher = AdaptiveBatcher(model, max_rows=2, max_wait=0.2, max_inflight=1)
    answer = batcher.submit(("m", None), rows(1, 2, 3, 4))
    assert answer.probabilities.tolist() == [[1.0], [2.0], [3.0], [4.0]]
    assert model.calls == [4]


def test_a_bad_request_does_not_fail_its_neighbours():
    model = Model()
    batcher = AdaptiveBatcher(model, max_rows=1000, max_wait=0.2, max_inflight=1)
    requests = [(("m", None), rows(i)) for i in range(6)] + [(("m", None), rows(-1))]
    outcomes = concurrently(batcher, requests)
    assert isinstance(outcomes[-1], InvalidInput)
    for i, answer in enumerate(outcomes[:-1]):
        assert answer.probabilities.tolist() == [[float(i)]]


def test_models_and_versions_are_never_mixed():
    model = Model()
    batcher = AdaptiveBatcher(model, max_rows=1000, max_wait=0.2, max_inflight=1)
    requests = [
        (("a", None), rows(1)),
        (("b", None), rows(2)),
        (("a", 2), rows(3)),
        (("missing", None), rows(4)),
    ]
    outcomes = concurrently(batcher, requests)
    assert [o.model for o in outcomes[:3]] == ["a", "b", "a"]
    assert isinstance(outcomes[3], ModelNotFound)
    assert sorted(model.calls) == [1, 1, 1]


def test_calls_arriving_while_the_model_is_busy_form_the_next_batch():
    model = Model()
    batcher = AdaptiveBatcher(model, max_rows=1000, max_wait=0.0, max_inflight=1)
    model.release.clear()  # the first call holds the only slot until released
    first = batcher.enqueue(("m", None), rows(0))
    waiting = [batcher.enqueue(("m", None), rows(i)) for i in range(1, 6)]
    model.release.set()
    assert first.result(10).probabilities.tolist() == [[0.0]]
    assert [f.result(10).probabilities.tolist() for f in waiting] == [[[i]] for i in range(1, 6)]
    assert len(model.calls) <= 2 and sum(model.calls) == 6  # all that waited ran as one


def test_a_backend_failure_reaches_every_caller_without_a_retry_each():
    attempts = []

    def broker_down(key, rows):
        attempts.append(len(rows))
        raise BackendUnavailable("the broker cannot be reached")

    batcher = AdaptiveBatcher(broker_down, max_rows=1000, max_wait=0.2, max_inflight=1)
    outcomes = concurrently(batcher, [(("m", None), rows(i)) for i in range(8)])
    assert all(isinstance(o, BackendUnavailable) for o in outcomes)
    assert sum(attempts) == 8  # each row was sent once: no one-by-one rerun


@pytest.mark.parametrize("max_wait", [0.0, 0.002])
def test_a_lone_call_is_answered(max_wait):
    batcher = AdaptiveBatcher(Model(), max_rows=10, max_wait=max_wait)
    assert batcher.submit(("m", None), rows(7)).probabilities.tolist() == [[7.0]]
