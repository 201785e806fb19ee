"""The web node's side: every web process in Celery mode answers worker nodes' requests for
the versions in its store, on a consumer thread that heals by itself."""

from __future__ import annotations

import logging

import kombu
from celery import Celery
from pydantic import BaseModel, ValidationError

from modelserve.broker import HealingConsumer
from modelserve.bundles import ModelStore
from modelserve.bundles.archive import pack
from modelserve.distribution.wire import ARCHIVE_TYPE, PART_BYTES, request_queue
from modelserve.errors import ModelserveError

log = logging.getLogger(__name__)


class BundleRequest(BaseModel):
    model: str
    version: int


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
        reply_to = message.properties.get("reply_to")
        correlation_id = message.properties.get("correlation_id")
        try:
            if not reply_to:
                return  # nobody to answer
            try:
                request = BundleRequest.model_validate_json(message.body)
                # Verified here too: a copy damaged on this disk is refused at its source.
                archive = pack(self.store.bundle(request.model, request.version))
            except ValidationError as exc:
                self._reply_error(reply_to, correlation_id, "InvalidInput", f"bad request: {exc}")
                return
            except ModelserveError as exc:
                log.warning("bundle request refused: %s", exc)
                # Paths relative to the store: other nodes need not learn this one's layout.
                error = str(exc).replace(f"{self.store.root}/", "")
                self._reply_error(reply_to, correlation_id, type(exc).__name__, error)
                return
            parts = [archive[i : i + PART_BYTES] for i in range(0, len(archive), PART_BYTES)]
            for number, part in enumerate(parts):
                self._producer.publish(
                    part,
                    routing_key=reply_to,
                    correlation_id=correlation_id,
                    content_type=ARCHIVE_TYPE,
                    content_encoding="binary",
                    headers={"part": number, "parts": len(parts)},
                )
            log.info(
                "sent %s version %s (%d bytes) to a worker node",
                request.model,
                request.version,
                len(archive),
            )
        finally:
            message.ack()

    def _reply_error(self, reply_to: str, correlation_id: str, kind: str, error: str) -> None:
        self._producer.publish(
            b"",
            routing_key=reply_to,
            correlation_id=correlation_id,
            content_type=ARCHIVE_TYPE,
            content_encoding="binary",
            headers={"error": error, "kind": kind},
        )
