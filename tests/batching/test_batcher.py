"""Adaptive batching: one model call for many concurrent callers, each with its own answer.

The model is held while the first call runs, so every later call is queued before any batch
after it forms: which calls share a batch is decided, not left to thread timing.
"""

import threading
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np
import pytest

from modelserve.batching import AdaptiveBatcher
from modelserve.errors import BackendFailed, BackendUnavailable, InvalidInput, ModelNotFound
from modelserve.runtime import Prediction


class Model:
    """Answers each row's first value; records the size of every call it gets."""

    def __init__(self):
        self.calls: list[int] = []
        self.running = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def __call__(self, key, rows: np.ndarray) -> Prediction:
        self.running.set()
        self.release.wait(10)
        if key[0] == "missing":
            raise ModelNotFound("no model 'missing'")
        if np.any(rows[:, 0] < 0):
            raise InvalidInput("negative", field="inputs")
        self.calls.append(len(rows))
        return Prediction(rows[:, :1].copy(), key[0], 3)


def rows(*values):
    return np.array([[v, 0.0] for v in values], dtype=np.float32)


def while_busy(model, batcher, requests):
    """Queue ``requests`` while a first call holds the model; each outcome, in order."""
    model.release.clear()
    first = batcher.enqueue(("m", None), rows(100))
    assert model.running.wait(10)
    futures = [batcher.enqueue(key, batch) for key, batch in requests]
    model.release.set()
    first.result(10)
    outcomes = []
    for future in futures:
        try:
            outcomes.append(future.result(10))
        except Exception as exc:  # noqa: BLE001 - recorded for the assertions
            outcomes.append(exc)
    return outcomes


def test_waiting_calls_become_one_call_and_each_gets_its_own_rows():
    model = Model()
    batcher = AdaptiveBatcher(model, max_rows=1000, max_wait=0.0, max_inflight=1)
    requests = [(("m", None), rows(i, i + 0.5)) for i in range(20)]
    outcomes = while_busy(model, batcher, requests)
    for (_key, sent), answer in zip(requests, outcomes, strict=True):
        np.testing.assert_array_equal(answer.probabilities, sent[:, :1])
        assert (answer.model, answer.version, answer.shared_by) == ("m", 3, 20)
    assert model.calls == [1, 40]


def test_batches_respect_the_row_limit():
    model = Model()
    batcher = AdaptiveBatcher(model, max_rows=8, max_wait=0.0, max_inflight=1)
    outcomes = while_busy(model, batcher, [(("m", None), rows(1, 2, 3)) for _ in range(12)])
    assert all(o.probabilities.tolist() == [[1.0], [2.0], [3.0]] for o in outcomes)
    assert max(model.calls) <= 8 and sum(model.calls) == 1 + 36


def test_a_call_larger_than_the_limit_runs_alone():
    model = Model()
    batcher = AdaptiveBatcher(model, max_rows=2, max_wait=0.0, max_inflight=1)
    answer = batcher.submit(("m", None), rows(1, 2, 3, 4))
    assert answer.probabilities.tolist() == [[1.0], [2.0], [3.0], [4.0]]
    assert model.calls == [4]


def test_a_bad_request_does_not_fail_its_neighbours():
    model = Model()
    batcher = AdaptiveBatcher(model, max_rows=1000, max_wait=0.0, max_inflight=1)
    requests = [(("m", None), rows(i)) for i in range(6)] + [(("m", None), rows(-1))]
    outcomes = while_busy(model, batcher, requests)
    assert isinstance(outcomes[-1], InvalidInput)
    for i, answer in enumerate(outcomes[:-1]):
        assert answer.probabilities.tolist() == [[float(i)]]


def test_models_and_versions_are_never_mixed():
    model = Model()
    batcher = AdaptiveBatcher(model, max_rows=1000, max_wait=0.0, max_inflight=1)
    requests = [
        (("a", None), rows(1)),
        (("b", None), rows(2)),
        (("a", 2), rows(3)),
        (("missing", None), rows(4)),
        (("a", None), rows(5)),
    ]
    outcomes = while_busy(model, batcher, requests)
    assert [o.model for o in outcomes[:3]] == ["a", "b", "a"]
    assert isinstance(outcomes[3], ModelNotFound)
    assert outcomes[4].probabilities.tolist() == [[5.0]]
    # The blocker, then ("a", None) twice as one call, ("b", None) and ("a", 2) alone.
    assert sorted(model.calls) == [1, 1, 1, 2]


def test_a_backend_failure_reaches_every_caller_without_a_retry_each():
    attempts = []
    model = Model()

    def broker_down(key, rows):
        model.running.set()
        model.release.wait(10)
        attempts.append(len(rows))
        raise BackendUnavailable("the broker cannot be reached")

    batcher = AdaptiveBatcher(broker_down, max_rows=1000, max_wait=0.0, max_inflight=1)
    model.release.clear()
    first = batcher.enqueue(("m", None), rows(0))
    assert model.running.wait(10)
    waiting = [batcher.enqueue(("m", None), rows(i)) for i in range(8)]
    model.release.set()
    for future in [first, *waiting]:
        with pytest.raises(BackendUnavailable):
            future.result(10)
    assert attempts == [1, 8]  # each row was sent once: no one-by-one rerun


def test_a_lone_caller_does_not_wait_for_the_window():
    # A window of a minute: an answer within seconds means the lone call left at once.
    batcher = AdaptiveBatcher(Model(), max_rows=10, max_wait=60, max_inflight=1)
    for value in (7, 8):
        answer = batcher.enqueue(("m", None), rows(value)).result(timeout=5)
        assert answer.probabilities.tolist() == [[float(value)]] and answer.shared_by == 1


def test_after_a_crowded_batch_the_window_gathers_late_arrivals():
    model = Model()
    batcher = AdaptiveBatcher(model, max_rows=3, max_wait=60, max_inflight=1)
    while_busy(model, batcher, [(("m", None), rows(1)), (("m", None), rows(2))])
    # That batch held two calls, so the window is open: the next calls wait for company
    # until the batch is full (3 rows) rather than leaving one by one.
    later = [batcher.enqueue(("m", None), rows(v)) for v in (3, 4, 5)]
    assert [f.result(10).shared_by for f in later] == [3, 3, 3]


def test_the_window_closes_once_every_caller_is_waiting():
    model = Model()
    batcher = AdaptiveBatcher(model, max_rows=1000, max_wait=60, max_inflight=1, callers=3)
    while_busy(model, batcher, [(("m", None), rows(1)), (("m", None), rows(2))])
    # The window is open (the last batch held two calls), but with all three of the server's
    # callers waiting nobody is left to join: the batch leaves without waiting a minute.
    waiting = [batcher.enqueue(("m", None), rows(v)) for v in (3, 4, 5)]
    assert [f.result(timeout=5).shared_by for f in waiting] == [3, 3, 3]


def test_a_model_answering_the_wrong_number_of_rows_fails_every_caller():
    def short(key, rows):
        return Prediction(rows[:-1, :1].copy(), "m", 3)

    model = Model()

    def held(key, rows):
        model(key, rows)
        return short(key, rows)

    batcher = AdaptiveBatcher(held, max_rows=1000, max_wait=0.0, max_inflight=1)
    outcomes = while_busy(model, batcher, [(("m", None), rows(i)) for i in range(3)])
    assert all(isinstance(o, BackendFailed) for o in outcomes)
    assert "answered 2 rows for 3" in str(outcomes[0])


def test_a_caller_that_gave_up_is_skipped_and_the_rest_answered():
    model = Model()
    batcher = AdaptiveBatcher(model, max_rows=1000, max_wait=0.0, max_inflight=1)
    model.release.clear()
    first = batcher.enqueue(("m", None), rows(0))
    assert model.running.wait(10)
    with pytest.raises(FutureTimeout):
        batcher.submit(("m", None), rows(1), timeout=0)  # gives up before its batch leaves
    kept = batcher.enqueue(("m", None), rows(2))
    model.release.set()
    assert first.result(10).probabilities.tolist() == [[0.0]]
    assert kept.result(10).probabilities.tolist() == [[2.0]]
    assert model.calls == [1, 1]  # the abandoned row never ran
