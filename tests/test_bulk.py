"""Work handed over by request threads and done in bulk: nothing lost, nothing twice."""

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from modelserve.bulk import Bulk
from modelserve.runtime import Prediction
from modelserve.web.metrics import LATENCY_BUCKETS, Metrics


def test_every_item_is_handled_once_and_in_order_from_many_threads():
    handled: list[tuple[int, int]] = []
    bulk = Bulk(handled.extend, interval=0.01, limit=50)

    def add(thread: int) -> None:
        for n in range(2000):
            bulk.add((thread, n))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(add, range(8)))
    bulk.flush()
    assert len(handled) == 16_000 and set(handled) == {
        (t, n) for t in range(8) for n in range(2000)
    }
    for thread in range(8):
        assert [n for t, n in handled if t == thread] == list(range(2000))


def test_the_flusher_handles_items_within_its_interval_without_a_flush():
    done = threading.Event()
    bulk = Bulk(lambda items: done.set(), interval=0.02, limit=1000)
    started = time.monotonic()
    bulk.add("one")
    assert done.wait(timeout=5)
    assert time.monotonic() - started < 1


def test_a_full_queue_is_flushed_by_the_request_that_fills_it():
    batches: list[list[int]] = []
    bulk = Bulk(batches.append, interval=3600, limit=10)
    for n in range(25):
        bulk.add(n)
    assert [len(b) for b in batches] == [10, 10]  # by the adding thread: the flusher sleeps
    bulk.flush()
    assert sum(batches, []) == list(range(25))


def test_a_forked_child_starts_empty_and_flushes_on_its_own():
    handled: list[str] = []
    bulk = Bulk(handled.extend, interval=3600, limit=1000)
    bulk.add("parent's")
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: what it handles, then out without pytest's teardown
        bulk.add("child's")
        bulk.flush()
        os.write(write, ",".join(handled).encode())
        os._exit(0)
    os.waitpid(child, 0)
    os.close(write)
    theirs = os.read(read, 1024).decode()
    os.close(read)
    bulk.flush()
    assert theirs == "child's" and handled == ["parent's"]


def test_bulk_metrics_equal_the_same_observations_made_one_by_one():
    metrics = Metrics()
    reference = Histogram(
        "modelserve_request_duration_seconds",
        "Time to answer an HTTP request",
        ["route"],
        buckets=LATENCY_BUCKETS,
        registry=(registry := CollectorRegistry()),
    )
    prediction = Prediction(np.zeros((1, 1), np.float32), "m", 3)
    seconds = [0.0001 * n for n in range(1, 4000, 7)] + [0.001, 0.0025, 42.0]
    for n, value in enumerate(seconds):
        metrics.observe("/r", "POST", 200 if n % 3 else 400, value, prediction, 1 + n % 5)
        reference.labels("/r").observe(value)
    lines = metrics.exposition()[0].decode().splitlines()  # flushes what is pending first

    def durations(lines: list[str]) -> list[str]:  # buckets, count and sum; not the clock
        return [x for x in lines if x.startswith("modelserve_request_dur") and "_created" not in x]

    assert durations(lines) == durations(generate_latest(registry).decode().splitlines())
    assert len(durations(lines)) == len(LATENCY_BUCKETS) + 3  # and +Inf, the count, the sum
    refused = 'modelserve_requests_total{method="POST",route="/r",status="400"}'
    assert f"{refused} {len(seconds[::3])}.0" in lines
    assert f"modelserve_batch_rows_count {len(seconds)}.0" in lines
    assert f"modelserve_batch_rows_sum {sum(1 + n % 5 for n in range(len(seconds)))}.0" in lines
    assert 'modelserve_model_version{model="m"} 3.0' in lines
