"""The ``rpc://`` result backend, as workers use it and senders do not.

Workers publish each answer to the reply queue the task names (``reply_to``), with the task's
id as correlation id: Celery's ``rpc://`` backend does exactly that. On the sending side,
Celery's backend would declare a reply queue of its own before every task and retry that
forever while the broker is down; the web process declares and consumes its reply queue
itself (``execution.replies``), so that hook does nothing here.
"""

from __future__ import annotations

from celery.backends.rpc import RPCBackend


class WorkerResultBackend(RPCBackend):
    """Celery's ``rpc://``; web processes receive with ``execution.replies.ReplyListener``."""

    def on_task_call(self, producer, task_id):
        """The sender declared its reply queue already (``ReplyListener.declare``)."""
