"""The worker node's side: ask the web node for a version's archive over RabbitMQ."""

from __future__ import annotations

import time
import uuid

import kombu
from celery import Celery
from kombu.exceptions import OperationalError

from modelserve.distribution.wire import DIRECT_REPLY_TO, MAX_PARTS, BundleRequest, request_queue
from modelserve.errors import (
    BundleFetchFailed,
    InvalidBundle,
    ModelNotFound,
    error_from_document,
)


class _Answer:
    """The parts of one answer as they arrive, checked against each other."""

    def __init__(self, correlation_id: str, what: str):
        self.correlation_id, self.what = correlation_id, what
        self.parts: dict[int, bytes] = {}
        self.expected: int | None = None
        self.refusal: dict | None = None

    def add(self, message: kombu.Message) -> None:
        if message.properties.get("correlation_id") != self.correlation_id:
            return  # an answer to an earlier request that gave up
        headers = message.headers or {}
        if "error" in headers:
            refusal = headers["error"]
            self.refusal = refusal if isinstance(refusal, dict) else {"message": str(refusal)}
            return
        part, parts = headers.get("part"), headers.get("parts")
        if (
            not isinstance(part, int)
            or not isinstance(parts, int)
            or not 0 <= part < parts <= MAX_PARTS
            or self.expected not in (None, parts)
        ):
            raise BundleFetchFailed(f"{self.what}: the web node's answer is malformed")
        self.expected = parts
        self.parts[part] = message.body

    @property
    def complete(self) -> bool:
        return self.refusal is not None or len(self.parts) == self.expected

    def archive(self) -> bytes:
        if self.refusal is not None:
            context = f"{self.what}: the web node refused: "
            # Only what is wrong with the version itself keeps its kind; any other refusal
            # means this node could not get it.
            keep = (InvalidBundle, ModelNotFound)
            raise error_from_document(self.refusal, BundleFetchFailed, context, keep)
        return b"".join(self.parts[number] for number in range(len(self.parts)))


def fetch_bundle(app: Celery, task_queue: str, model: str, version: int, timeout: float) -> bytes:
    """The archive of ``version`` of ``model`` from whichever web process answers first.

    Raises ``BundleFetchFailed`` if no answer comes within ``timeout`` seconds or the broker
    cannot be reached, and the web node's own error if it refuses.
    """
    what = f"version {version} of {model!r}"
    answer = _Answer(uuid.uuid4().hex, what)
    deadline = time.monotonic() + timeout
    connection = app.connection_for_write()
    broker_errors = (OperationalError, *connection.connection_errors, *connection.channel_errors)
    try:
        connection.ensure_connection(max_retries=1)
        channel = connection.channel()
        replies = kombu.Queue(DIRECT_REPLY_TO, no_declare=True)
        with kombu.Consumer(channel, [replies], no_ack=True, on_message=answer.add):
            queue = request_queue(task_queue)
            kombu.Producer(channel).publish(
                BundleRequest(model=model, version=version).model_dump(),
                routing_key=queue.name,
                declare=[queue],
                reply_to=DIRECT_REPLY_TO,
                correlation_id=answer.correlation_id,
                expiration=timeout,  # a request nobody took in time is dropped
                serializer="json",
            )
            while not answer.complete:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                connection.drain_events(timeout=remaining)
    except TimeoutError:
        raise BundleFetchFailed(
            f"{what}: no web node answered within {timeout:g} s (is `modelserve serve` "
            "running in Celery mode on the same broker and queue?)"
        ) from None
    except broker_errors as exc:
        raise BundleFetchFailed(f"{what}: cannot reach the message broker: {exc}") from exc
    finally:
        # Dropped, not closed: a graceful close could wait forever on a stalled connection.
        connection.collect()
    return answer.archive()
