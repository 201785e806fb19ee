"""Celery's task consumer, reconnecting to the broker at a steady pace.

Celery retries a lost broker connection after 2, 4, 6, ... up to 30 seconds, so a worker
could come back half a minute after the broker did. Here it tries every
``RECONNECT_INTERVAL`` seconds for as long as it takes.
"""

from __future__ import annotations

import functools

from celery.worker.consumer import Consumer as CeleryConsumer

RECONNECT_INTERVAL = 1.0  # seconds


class Consumer(CeleryConsumer):
    def ensure_connected(self, conn):
        # Celery passes its own error handler, retry limit and shutdown check; only the
        # intervals between attempts change.
        conn.ensure_connection = functools.partial(
            conn.ensure_connection,
            interval_start=0,
            interval_step=RECONNECT_INTERVAL,
            interval_max=RECONNECT_INTERVAL,
        )
        return super().ensure_connected(conn)
