"""The ``rpc://`` result backend, declaring the reply queue without a round trip per task.

Celery's RPC backend declares the caller's reply queue before every send: the queue is
auto-deleted once nobody consumes it (the caller's result consumer runs on a connection of
its own, which may drop and come back), and the worker's reply must find it. It waits for
RabbitMQ to confirm each declaration, a synchronous round trip per task, and retries forever
while the broker is down, so a web request would hang instead of answering 503. This
subclass sends the declaration without waiting: RabbitMQ handles a channel's frames in
order, so the queue exists before the task is even routed. It retries as the publish does
(``task_publish_retry_policy``) and then fails.
"""

from __future__ import annotations

from celery.backends.rpc import RPCBackend
from celery.result import task_join_will_block


def _declare_without_waiting(queue) -> None:
    queue.declare(nowait=True)


class BoundedRPCBackend(RPCBackend):
    def on_task_call(self, producer, task_id):
        if task_join_will_block():
            return
        policy = self.app.conf.task_publish_retry_policy or {}
        queue = self.binding(producer.channel)
        producer.connection.ensure(queue, _declare_without_waiting, **policy)(queue)
