"""The ``rpc://`` result backend: a bounded retry and one reply-queue declaration, not one
per task.

Celery's RPC backend declares the caller's reply queue before every send, a synchronous
round trip to RabbitMQ for each task, and retries it forever while the broker is down, so a
web request would hang instead of answering 503. This subclass retries as the publish does
(``task_publish_retry_policy``) and then fails, and declares each reply queue once per
channel, again after ``REDECLARE_AFTER`` seconds. A new channel (after a reconnect) declares
again at once; the result consumer keeps the queue in use meanwhile, so it does not expire.
"""

from __future__ import annotations

import threading
import time
import weakref

from celery.backends.rpc import RPCBackend
from celery.result import task_join_will_block
from kombu.common import maybe_declare

REDECLARE_AFTER = 30.0  # seconds


class BoundedRPCBackend(RPCBackend):
    _declared: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # channel -> {queue: t}
    _declared_lock = threading.Lock()

    def on_task_call(self, producer, task_id):
        if task_join_will_block():
            return
        channel, queue, now = producer.channel, self.oid, time.monotonic()
        with self._declared_lock:
            declared = self._declared.setdefault(channel, {})
            if now - declared.get(queue, -REDECLARE_AFTER) < REDECLARE_AFTER:
                return
        policy = self.app.conf.task_publish_retry_policy or {}
        maybe_declare(self.binding(channel), retry=True, **policy)
        with self._declared_lock:
            declared[queue] = now
