"""The ``rpc://`` result backend, with a bounded retry when it declares its reply queue.

Celery's RPC backend declares the caller's reply queue before every send and retries that
forever while the broker is down, so a web request would hang instead of answering 503.
This subclass retries as the publish does (``task_publish_retry_policy``) and then fails.
"""

from __future__ import annotations

from celery.backends.rpc import RPCBackend
from celery.result import task_join_will_block
from kombu.common import maybe_declare


class BoundedRPCBackend(RPCBackend):
    def on_task_call(self, producer, task_id):
        if not task_join_will_block():
            policy = self.app.conf.task_publish_retry_policy or {}
            maybe_declare(self.binding(producer.channel), retry=True, **policy)
