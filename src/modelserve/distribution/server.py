"""The web node's side: every web process in Celery mode answers worker nodes' requests for
the versions in its store, on a consumer thread that heals by itself."""

from __future__ import annotations

import logging

import kombu
from celery import Celery
from pydantic import ValidationError

from modelserve.broker import HealingConsumer
from modelserve.bundles import ModelStore
from modelserve.bundles.archive import pack
from modelserve.distribution.wire import (
    ARCHIVE_TYPE,
    DIRECT_REPLY_TO,
    PART_BYTES,
    BundleRequest,
    request_queue,
)
from modelserve.errors import InvalidInput, ModelserveError, error_document

log = logging.getLogger(__name__)


class BundleServer(HealingConsumer):
    name = "bundle-server"

    def __init__(self, app: Celery, store: ModelStore, task_queue: str):
        super().__init__(app)
        self.store = store
        self.queue = request_queue(task_queue)
        self._producer: kombu.Producer | None = None

    def consumers(self, channel) -> list[kombu.Consumer]:
        self._producer = kombu.Producer(channel)
        return [
            kombu.Consumer(channel, [self.queue], on_message=self._on_request, prefetch_count=1)
        ]

    def _on_request(self, message: kombu.Message) -> None:
        reply_to = message.properties.get("reply_to") or ""
        correlation_id = message.properties.get("correlation_id")
        message.ack()
        # Answers go to the asker's direct reply-to only: a request cannot make this node
        # publish bundles into another queue of the deployment (a web process's replies).
        if not reply_to.startswith(DIRECT_REPLY_TO):
            log.warning("bundle request without a direct reply-to address: dropped")
            return
        try:
            parts, what = self._answer(message.body)
        except _Refusal as refusal:
            log.warning("bundle request refused: %s", refusal)
            parts = [b""]
            headers = [{"error": refusal.document}]
        except Exception:  # a bug or a disk error: the asker must hear, this thread go on
            log.exception("bundle request failed")
            parts = [b""]
            failure = ModelserveError("the web node failed to read the bundle")
            headers = [{"error": error_document(failure)}]
        else:
            headers = [{"part": n, "parts": len(parts)} for n in range(len(parts))]
            log.info("sent %s (%d bytes in %d parts)", what, sum(map(len, parts)), len(parts))
        for part, header in zip(parts, headers, strict=True):
            self._producer.publish(
                part,
                routing_key=reply_to,
                correlation_id=correlation_id,
                content_type=ARCHIVE_TYPE,
                content_encoding="binary",
                headers=header,
            )

    def _answer(self, body: bytes) -> tuple[list[bytes], str]:
        """The archive of the requested version in parts, and what it is."""
        try:
            request = BundleRequest.model_validate_json(body)
            # Verified here too: a copy damaged on this disk is refused at its source.
            archive = pack(self.store.bundle(request.model, request.version))
        except ValidationError as exc:
            bad = InvalidInput(f"bad request: {exc.errors()[0]['msg']}")
            raise _Refusal(error_document(bad)) from exc
        except ModelserveError as exc:
            # Paths relative to the store: other nodes need not learn this one's layout.
            message = str(exc).replace(f"{self.store.root}/", "")
            raise _Refusal(error_document(exc, message)) from None
        parts = [archive[i : i + PART_BYTES] for i in range(0, len(archive), PART_BYTES)]
        return parts, f"{request.model} version {request.version}"


class _Refusal(Exception):
    def __init__(self, document: dict):
        super().__init__(document["message"])
        self.document = document
