"""The worker node's side: ask the web node for a version's archive over RabbitMQ."""

from __future__ import annotations

import time
import uuid

import kombu
from celery import Celery
from kombu.exceptions import OperationalError

from modelserve.distribution.wire import DIRECT_REPLY_TO, request_queue
from modelserve.errors import BundleUnavailable, InvalidBundle, ModelNotFound

# Errors the web node reports by name; others arrive as BundleUnavailable.
_SOURCE_ERRORS = {cls.__name__: cls for cls in (InvalidBundle, ModelNotFound)}


def fetch_bundle(app: Celery, task_queue: str, model: str, version: int, timeout: float) -> bytes:
    """The archive of ``version`` of ``model`` from whichever web process answers first.

    Raises ``BundleUnavailable`` if no answer comes within ``timeout`` seconds or the broker
    cannot be reached, and the web node's own error if it refuses.
    """
    correlation_id = uuid.uuid4().hex
    parts: dict[int, bytes] = {}
    refusal: dict[str, str] = {}

    def on_message(message: kombu.Message) -> None:
        if message.properties.get("correlation_id") != correlation_id:
            return  # an answer to an earlier request that gave up
        headers = message.headers or {}
        if "error" in headers:
            refusal.update(headers)
        else:
            parts[int(headers["part"])] = message.body
            refusal["parts"] = headers["parts"]

    def complete() -> bool:
        return "error" in refusal or ("parts" in refusal and len(parts) == refusal["parts"])

    what = f"version {version} of {model!r}"
    deadline = time.monotonic() + timeout
    connection = app.connection_for_write()
    try:
        with connection:
            connection.ensure_connection(max_retries=1)
            channel = connection.channel()
            replies = kombu.Queue(DIRECT_REPLY_TO, no_declare=True)
            with kombu.Consumer(channel, [replies], no_ack=True, on_message=on_message):
                queue = request_queue(task_queue)
                kombu.Producer(channel).publish(
                    {"model": model, "version": version},
                    routing_key=queue.name,
                    declare=[queue],
                    reply_to=DIRECT_REPLY_TO,
                    correlation_id=correlation_id,
                    expiration=timeout,  # a request nobody took in time is dropped
                    serializer="json",
                )
                while not complete():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError
                    connection.drain_events(timeout=remaining)
    except TimeoutError:
        raise BundleUnavailable(
            f"{what}: no web node answered within {timeout:g} s (is `modelserve serve` "
            "running in Celery mode on the same broker and queue?)"
        ) from None
    except (OperationalError, *connection.connection_errors, *connection.channel_errors) as exc:
        raise BundleUnavailable(f"{what}: cannot reach the message broker: {exc}") from exc
    if "error" in refusal:
        cls = _SOURCE_ERRORS.get(refusal.get("kind", ""), BundleUnavailable)
        raise cls(f"{what}: the web node refused: {refusal['error']}")
    return b"".join(parts[number] for number in range(len(parts)))
