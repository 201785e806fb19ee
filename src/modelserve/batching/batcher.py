"""Adaptive batching: concurrent calls that arrive close together run as one model call.

Callers on many threads call :meth:`AdaptiveBatcher.submit` and block for their own answer.
One dispatcher thread gathers what arrives within ``max_wait`` of the first call (up to
``max_rows``), waits for a free slot if ``max_inflight`` calls are already running (what
arrives meanwhile joins the batch), concatenates each group of calls for the same model and
version, runs it once, and hands every caller its own rows of the answer.

The window only opens while calls come in company: after a batch of one, the next call
leaves at once, so a lone client never pays for the wait. It closes as soon as every caller
the server can have at once (``callers``, its request threads) is waiting in the batcher,
since nobody is left to join.

If a combined call fails on its rows (``InvalidInput``), its calls run one by one, so a bad
request never fails its neighbours. Any other failure (broker down, no worker answering, no
such model) is not about one request and goes to every caller at once. A caller that gave
up (its future cancelled) is skipped, and nothing that goes wrong stops the dispatcher.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace

import numpy as np

from modelserve.errors import BackendFailed, InvalidInput
from modelserve.runtime import Prediction

log = logging.getLogger(__name__)

Run = Callable[[Hashable, np.ndarray], Prediction]


@dataclass
class _Call:
    key: Hashable
    rows: np.ndarray
    future: Future = field(default_factory=Future)


class AdaptiveBatcher:
    def __init__(
        self,
        run: Run,
        *,
        max_rows: int,
        max_wait: float,
        max_inflight: int = 2,
        callers: int | None = None,
        name: str = "batcher",
    ):
        self._run = run
        self._callers = callers
        self._waiting = 0  # calls queued or running, not yet answered
        self._waiting_lock = threading.Lock()
        self._max_rows = max_rows
        self._max_wait = max_wait
        self._slots = threading.BoundedSemaphore(max_inflight)
        self._calls: queue.SimpleQueue[_Call] = queue.SimpleQueue()
        # One call at a time runs on the dispatcher itself: a thread handoff fewer per batch.
        self._pool = (
            ThreadPoolExecutor(max_inflight, thread_name_prefix=name) if max_inflight > 1 else None
        )
        self._dispatcher = threading.Thread(target=self._dispatch, name=name, daemon=True)
        self._dispatcher.start()

    def submit(self, key: Hashable, rows: np.ndarray, timeout: float | None = None) -> Prediction:
        """Run ``rows`` with whatever arrives close to them; block for their own answer.

        After ``timeout`` seconds, raises ``concurrent.futures.TimeoutError``; the rows are
        then dropped unless their batch has already left.
        """
        future = self.enqueue(key, rows)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise

    def enqueue(self, key: Hashable, rows: np.ndarray) -> Future:
        """Queue ``rows`` for the next batch; the future holds their own answer."""
        call = _Call(key, rows)
        with self._waiting_lock:
            self._waiting += 1
        self._calls.put(call)
        return call.future

    def _dispatch(self) -> None:
        carried: _Call | None = None  # would have overfilled the last batch: opens the next
        in_company = False  # the last batch held several calls: others are likely to come
        while True:
            gathered = [carried or self._calls.get()]
            deadline = time.monotonic() + self._max_wait if in_company else None
            carried = self._gather(gathered, deadline)
            self._slots.acquire()
            if carried is None:  # calls that came while every slot was busy join this batch
                carried = self._gather(gathered, deadline=None)
            in_company = len(gathered) > 1
            if self._pool is None:
                self._run_gathered(gathered)
            else:
                self._pool.submit(self._run_gathered, gathered)

    def _gather(self, gathered: list[_Call], deadline: float | None) -> _Call | None:
        """Add queued calls to ``gathered`` until the deadline (None: only those queued now).
        A call that would take the batch past ``max_rows`` is returned instead of added."""
        rows = sum(len(call.rows) for call in gathered)
        while rows < self._max_rows:
            if self._callers is not None and self._waiting >= self._callers:
                deadline = None  # every caller is waiting here already: take what is queued
            remaining = 0.0 if deadline is None else deadline - time.monotonic()
            try:
                call = (
                    self._calls.get(timeout=remaining)
                    if remaining > 0
                    else self._calls.get_nowait()
                )
            except queue.Empty:
                return None
            if rows + len(call.rows) > self._max_rows:
                return call
            gathered.append(call)
            rows += len(call.rows)
        return None

    def _run_gathered(self, gathered: list[_Call]) -> None:
        try:
            groups: dict[Hashable, list[_Call]] = {}
            for call in gathered:
                if call.future.set_running_or_notify_cancel():
                    groups.setdefault(call.key, []).append(call)
                else:  # its caller gave up waiting
                    self._answered()
            for key, calls in groups.items():
                try:
                    self._run_group(key, calls)
                except BaseException as exc:  # noqa: BLE001 - every caller gets an answer
                    log.exception("a batch for %s failed", key)
                    for call in calls:
                        if not call.future.done():
                            self._answer(call, error=exc)
        finally:
            self._slots.release()

    def _run_group(self, key: Hashable, calls: list[_Call]) -> None:
        if len(calls) == 1:
            self._settle(calls[0], key, calls[0].rows)
            return
        total = sum(len(call.rows) for call in calls)
        try:
            prediction = self._run(key, np.concatenate([c.rows for c in calls]))
        except InvalidInput:  # about one request's rows: each call gets its own answer
            for call in calls:
                self._settle(call, key, call.rows)
            return
        except Exception as exc:  # noqa: BLE001 - not about any one request: all get it
            for call in calls:
                self._answer(call, error=exc)
            return
        if len(prediction.probabilities) != total:
            answered = len(prediction.probabilities)
            error = BackendFailed(f"the model answered {answered} rows for {total}")
            for call in calls:
                self._answer(call, error=error)
            return
        start = 0
        for call in calls:
            end = start + len(call.rows)
            rows = prediction.probabilities[start:end]
            self._answer(call, replace(prediction, probabilities=rows, shared_by=len(calls)))
            start = end

    def _settle(self, call: _Call, key: Hashable, rows: np.ndarray) -> None:
        try:
            prediction = replace(self._run(key, rows), shared_by=1)
        except Exception as exc:  # noqa: BLE001 - delivered to the caller, raised there
            self._answer(call, error=exc)
        else:
            self._answer(call, prediction)

    def _answer(
        self, call: _Call, prediction: Prediction | None = None, error: BaseException | None = None
    ) -> None:
        self._answered()
        if error is not None:
            call.future.set_exception(error)
        else:
            call.future.set_result(prediction)

    def _answered(self) -> None:
        with self._waiting_lock:
            self._waiting -= 1
