"""Consumers of RabbitMQ that heal by themselves, each on a thread of its own.

A web process keeps two: the listener for its workers' answers (``execution.replies``) and
the server of its store's bundles to worker nodes (``distribution.server``). Each owns one
connection, which only its thread touches. When the connection fails (the broker refuses,
restarts, or stalls), the consumer says so (``on_lost``), then tries again every
``RETRY_INTERVAL`` seconds for as long as it takes, declaring its queues anew each time, since
a restarted broker has forgotten them.

A stalled connection sends no error: AMQP heartbeats find it. Both sides send one every
``HEARTBEAT / 2`` seconds; a side that hears nothing for ``2 * HEARTBEAT`` seconds drops the
connection, and a heartbeat sent on a connection the broker already dropped fails at once.
"""

from __future__ import annotations

import contextlib
import logging
import threading

import kombu
from celery import Celery

HEARTBEAT = 4.0  # seconds
RETRY_INTERVAL = 0.5  # seconds between attempts to reconnect

log = logging.getLogger(__name__)


class HealingConsumer:
    """Subclasses say what to consume (``consumers``) and hear of connects and losses."""

    name = "consumer"

    def __init__(self, app: Celery):
        self.app = app
        self.connected = threading.Event()
        self._stopped = threading.Event()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def consumers(self, channel) -> list[kombu.Consumer]:
        """The consumers to start on a fresh channel; they declare their queues. Their
        callbacks must not raise: an exception there counts as a lost connection."""
        raise NotImplementedError

    def on_connected(self, connection: kombu.Connection, channel) -> None:
        """Called on every (re)connection, once the consumers consume."""

    def on_lost(self, error: BaseException) -> None:
        """Called when an established connection fails, before reconnecting."""

    @property
    def started(self) -> bool:
        return self._thread is not None

    def start(self) -> HealingConsumer:
        """Start the thread, once; later calls do nothing."""
        with self._start_lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
        return self

    def stop(self, timeout: float = 5) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        failures = 0
        while not self._stopped.is_set():
            connection = self.app.connection_for_read(heartbeat=HEARTBEAT)
            try:
                self._consume(connection)
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect, never give up
                was_connected = self.connected.is_set()
                self.connected.clear()
                if was_connected:
                    log.warning("%s: lost the broker (%s); reconnecting", self.name, exc)
                    self._lost(exc)
                    failures = 0
                elif failures == 0:
                    log.warning("%s: cannot reach the broker (%s); retrying", self.name, exc)
                failures += 1
            finally:
                # Dropped, not closed: a graceful close waits for the broker's reply, which
                # never comes over a stalled connection.
                connection.collect()
            self._stopped.wait(RETRY_INTERVAL)

    def _lost(self, error: BaseException) -> None:
        try:
            self.on_lost(error)
        except Exception:  # a bug there must not end the thread, or nothing reconnects
            log.exception("%s: on_lost failed", self.name)

    def _consume(self, connection: kombu.Connection) -> None:
        connection.connect()
        channel = connection.channel()
        for consumer in self.consumers(channel):
            consumer.consume()
        self.on_connected(connection, channel)
        self.connected.set()
        log.info("%s: consuming from the broker", self.name)
        while not self._stopped.is_set():
            # Nothing arriving within the timeout is no error: time for a heartbeat check.
            with contextlib.suppress(TimeoutError):
                connection.drain_events(timeout=HEARTBEAT / 4)
            connection.heartbeat_check()


def drop_malformed(message: kombu.Message, error: Exception) -> None:
    """A consumer's ``on_decode_error``: a message that is not what the queue carries is
    logged and dropped, never taken for a broken connection."""
    log.warning("dropped a malformed message (%s): %s", message.content_type, error)
    if not message.acknowledged:
        message.ack()
