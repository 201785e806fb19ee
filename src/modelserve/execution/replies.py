"""Workers' answers, back to the web process that asked: one reply queue per process, drained
by one listener thread that heals by itself (``broker.HealingConsumer``).

Workers send each answer to the reply queue the task names, with the task's id as its
correlation id (Celery's ``rpc://`` backend on their side). Here the listener hands each
answer to the request waiting for it. Celery's own result consumer is not used: it drains on
the thread that waits, and once its connection failed while the broker was down it never
consumed again, so every later request timed out until a restart.

When the listener's connection fails, the answers to tasks sent over its lifetime are taken
as lost (they may have gone to the dead consumer, or the broker may have lost the queue): the
requests waiting for them are answered 504 at once instead of when their timeout runs out.
Senders declare the queue before every task (``declare``), so the answer to a task sent after
the failure, while the listener reconnects, waits in the queue until the listener is back:
such a request keeps waiting. The queue is not deleted with its consumer (no
``auto_delete``; it expires once unused): the broker may notice the old connection's end only
after such an answer arrived, and would then delete the queue with the answer in it. Answers
are acknowledged one by one, so one delivered to a consumer the broker has not yet noticed is
dead goes back to the queue, not to waste.
"""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import kombu
from celery import states

from modelserve.broker import HealingConsumer, drop_malformed
from modelserve.errors import BackendTimeout

# An unused reply queue (its web process gone) is removed after this long.
REPLY_QUEUE_EXPIRES = 300  # seconds


@dataclass
class _Waiter:
    future: Future = field(default_factory=Future)
    sent_in: int | None = None  # the listener's connection (epoch) when the task left


class ReplyListener(HealingConsumer):
    name = "replies"

    def __init__(self, app):
        super().__init__(app)
        name = f"modelserve.replies.{uuid.uuid4().hex}"
        self.queue = kombu.Queue(
            name,
            exchange=kombu.Exchange(""),
            routing_key=name,
            durable=False,
            auto_delete=False,
            expires=REPLY_QUEUE_EXPIRES,
        )
        self._waiting: dict[str, _Waiter] = {}
        self._lock = threading.Lock()
        self._epoch = 0  # counts the listener's lost connections
        self._last_answer: float | None = None  # time.monotonic() of the latest answer

    def expect(self, task_id: str) -> Future:
        """A future for the answer to ``task_id``; call before sending the task."""
        waiter = _Waiter()
        with self._lock:
            self._waiting[task_id] = waiter
        return waiter.future

    def sent(self, task_id: str) -> None:
        """``task_id`` has left: if the listener's connection fails from now on, the answer
        is lost with it."""
        with self._lock:
            waiter = self._waiting.get(task_id)
            if waiter is not None:
                waiter.sent_in = self._epoch

    def discard(self, task_id: str) -> None:
        """Forget ``task_id``: its answer, if it still comes, is dropped."""
        with self._lock:
            self._waiting.pop(task_id, None)

    def declare(self, producer: kombu.Producer, retry_policy: dict[str, Any]) -> None:
        """Make sure the reply queue exists before a task that answers to it is sent.

        Sent without waiting for RabbitMQ's confirmation: a channel's frames are handled in
        order, so the queue exists before the task is routed, minus a round trip per task.
        """
        queue = self.queue(producer.channel)
        producer.connection.ensure(queue, _declare_without_waiting, **retry_policy)(queue)

    def answered_within(self, seconds: float) -> bool:
        """Whether some answer (to any task) made the whole trip in the last ``seconds``."""
        last = self._last_answer
        return last is not None and time.monotonic() - last <= seconds

    # -- the listener thread -------------------------------------------------------------

    def consumers(self, channel) -> list[kombu.Consumer]:
        return [
            kombu.Consumer(
                channel,
                [self.queue],
                callbacks=[self._on_answer],
                accept=["json"],
                on_decode_error=drop_malformed,
            )
        ]

    def _on_answer(self, body: Any, message: kombu.Message) -> None:
        message.ack()
        if not isinstance(body, dict) or body.get("status") not in states.READY_STATES:
            return  # a progress state (the final one follows), or not an answer at all
        task_id = message.properties.get("correlation_id") or body.get("task_id")
        self._last_answer = time.monotonic()
        with self._lock:
            waiter = self._waiting.pop(task_id, None)
        if waiter is not None and not waiter.future.done():
            waiter.future.set_result(body)

    def on_lost(self, error: BaseException) -> None:
        with self._lock:
            lost_epoch, self._epoch = self._epoch, self._epoch + 1
            lost = {
                task_id: waiter
                for task_id, waiter in self._waiting.items()
                if waiter.sent_in == lost_epoch
            }
            for task_id in lost:
                del self._waiting[task_id]
        failure = BackendTimeout(
            f"the connection to the message broker failed before the answer came ({error})"
        )
        for waiter in lost.values():
            if not waiter.future.done():
                waiter.future.set_exception(failure)


def _declare_without_waiting(queue: kombu.Queue) -> None:
    queue.declare(nowait=True)
