"""The one definition of how bundles travel between nodes over RabbitMQ.

A worker sends a ``BundleRequest`` as JSON to the request queue, asking for the answer on
RabbitMQ's direct reply-to pseudo-queue. The web node answers with the bundle's archive
(``bundles.archive``) in ``parts`` messages of at most ``PART_BYTES`` (RabbitMQ 4 refuses
messages above 16 MiB by default), each with headers ``part`` and ``parts``; or with one
message whose ``error`` header carries the error (``errors.error_document``).
"""

from __future__ import annotations

import kombu
from pydantic import BaseModel

DIRECT_REPLY_TO = "amq.rabbitmq.reply-to"
PART_BYTES = 4 * 1024 * 1024
MAX_PARTS = 256  # 1 GiB: more is no bundle of this runtime
ARCHIVE_TYPE = "application/x-tar"


def request_queue(task_queue: str) -> kombu.Queue:
    """Where bundle requests go: beside the deployment's task queue, named after it."""
    name = f"{task_queue}.bundles"
    return kombu.Queue(name, exchange=kombu.Exchange(""), routing_key=name, durable=False)


class BundleRequest(BaseModel):
    model: str
    version: int
