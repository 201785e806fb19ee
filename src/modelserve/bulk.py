"""Work that request threads hand over, done in bulk by one thread per process.

A metric update and a log line per request each cost more than a one-row prediction; done a
few hundred at a time they cost a fraction of that (counters add up, lines go out in one
write), and the request's thread only appends to a queue.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")
log = logging.getLogger(__name__)

_PID = [os.getpid()]  # this process's id, kept current across forks without a system call
os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))


def current_pid() -> int:
    return _PID[0]


def at_fork_in_child(method) -> None:
    """``method`` runs in each forked child while its object lives (no hook keeps it alive)."""
    ref = weakref.WeakMethod(method)
    os.register_at_fork(after_in_child=lambda: (bound := ref()) is not None and bound())


class Bulk(Generic[Item]):
    """Items handled by ``handle`` in bulk, within ``interval`` seconds of being added.

    ``flush()`` handles what is pending at once (before an exposition, at exit). A request
    that finds ``limit`` items pending flushes them itself, so a stalled flusher cannot let
    the queue grow without bound. A forked child starts empty and starts its own flusher.
    """

    def __init__(
        self,
        handle: Callable[[list[Item]], None],
        interval: float,
        limit: int,
        idle: bool = False,
    ):
        """With ``idle``, the flusher calls ``handle`` every interval even with nothing
        pending (for work that is due by time, not only by items)."""
        self._handle = handle
        self.interval = interval
        self.limit = limit
        self.idle = idle
        # deque: append and popleft are atomic, so adding takes no lock.
        self._pending: deque[Item] = deque()
        self._flushing = threading.Lock()  # one flush at a time keeps items in order
        self._flusher_pid: int | None = None
        os.register_at_fork(after_in_child=self._forked)

    def _forked(self) -> None:
        # The parent's items are the parent's; its flusher may have held the lock at the fork.
        self._pending.clear()
        self._flushing = threading.Lock()

    def add(self, item: Item) -> None:
        self._pending.append(item)
        if self._flusher_pid != _PID[0]:
            self._start_flusher()
        elif len(self._pending) >= self.limit:
            self.flush()

    def flush(self, idle: bool = False) -> None:
        with self._flushing:
            pending = self._pending
            items = [pending.popleft() for _ in range(len(pending))]
            if items or idle:
                self._handle(items)

    def _start_flusher(self) -> None:
        with self._flushing:
            if self._flusher_pid == _PID[0]:
                return
            self._flusher_pid = _PID[0]
        threading.Thread(target=self._flush_often, name="bulk-flush", daemon=True).start()

    def _flush_often(self) -> None:
        while True:
            time.sleep(self.interval)  # a deadline for pending items, not a wait on work
            try:
                self.flush(idle=self.idle)
            except Exception:  # noqa: BLE001 - a full disk must not end the thread: keep serving
                log.exception("could not handle %s", self._handle)
