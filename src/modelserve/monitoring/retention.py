"""Deleting logged predictions older than the retention age, a batch per transaction, so that
neither writers nor readers wait long behind one huge delete."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from modelserve.monitoring.database import Database
from modelserve.monitoring.schema import predictions

BATCH_ROWS = 5000


def prune(database: Database, older_than: datetime, batch_rows: int = BATCH_ROWS) -> int:
    """Delete rows logged before ``older_than``; returns how many."""
    deleted = 0
    key = sa.tuple_(*predictions.primary_key)
    oldest = (
        sa.select(*predictions.primary_key)
        .where(predictions.c.created_at < older_than)
        .order_by(predictions.c.created_at)
        .limit(batch_rows)
    )
    while True:
        with database.transaction() as connection:
            count = connection.execute(sa.delete(predictions).where(key.in_(oldest))).rowcount
        deleted += count
        if count < batch_rows:
            return deleted
