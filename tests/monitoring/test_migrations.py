"""The migrations build exactly the tables the code describes, once, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from modelserve.monitoring.database import migrate
from modelserve.monitoring.schema import metadata


def test_migrations_create_the_described_schema_and_rerun_as_no_ops(database):
    engine = database.engine()  # migrates
    migrate(engine)  # again: nothing to do
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() == "0001"
        assert compare_metadata(context, metadata) == []
