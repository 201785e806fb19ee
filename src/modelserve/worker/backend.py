"""The ``rpc://`` result backend, declaring the reply queue once per connection, without a
round trip.

Celery's RPC backend declares the caller's reply queue before every send, because the queue
is auto-deleted once nobody consumes it and the worker's reply must find it. It waits for
RabbitMQ to confirm each declaration, a synchronous round trip per task, and retries forever
while the broker is down, so a web request would hang instead of answering 503.

This subclass declares it when a connection first sends a task: from then on the caller's
result consumer keeps the queue alive, and kombu forgets what a connection declared when it
reconnects, so a new connection declares it again. The declaration does not wait for its
confirmation: RabbitMQ handles a channel's frames in order, so the queue exists before the
task is even routed. It retries as the publish does (``task_publish_retry_policy``) and
then fails.
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
        queue = self.binding(producer.channel)
        # The set kombu keeps of what this connection declared, cleared when it reconnects.
        declared = producer.connection.declared_entities
        if hash(queue) in declared:
            return
        policy = self.app.conf.task_publish_retry_policy or {}
        producer.connection.ensure(queue, _declare_without_waiting, **policy)(queue)
        declared.add(hash(queue))
