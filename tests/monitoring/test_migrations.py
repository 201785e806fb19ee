"""The migrations build exactly the tables the code describes, once, on both databases, and
carry the rows already logged from one revision to the next and back."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from modelserve.monitoring.database import alembic_config, connect, migrate
from modelserve.monitoring.schema import metadata


def test_migrations_create_the_described_schema_and_rerun_as_no_ops(database):
    engine = database.engine()  # migrates
    migrate(engine)  # again: nothing to do
    with engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert context.get_current_revision() == "0002"
        assert compare_metadata(context, metadata) == []


def test_the_key_becomes_the_primary_key_with_the_rows_kept_and_back(database_url):
    engine = connect(database_url)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0001")
            # Times as SQLAlchemy stores them on each database, not as the driver would.
            when = sa.bindparam("created_at", type_=sa.DateTime(timezone=True))
            connection.execute(sa.text(_INSERT).bindparams(when), _ROWS)

        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0002")
        predictions = sa.Table("predictions", sa.MetaData(), autoload_with=engine)
        assert [column.name for column in predictions.primary_key] == ["request_id", "row"]
        assert "id" not in predictions.c
        assert _kept(engine) == _EXPECTED
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), metadata) == []

        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0001")
        predictions = sa.Table("predictions", sa.MetaData(), autoload_with=engine)
        assert [column.name for column in predictions.primary_key] == ["id"]
        assert _kept(engine) == _EXPECTED
        with engine.connect() as connection:
            ids = connection.execute(sa.select(predictions.c.id)).scalars().all()
        assert len(set(ids)) == len(_ROWS) and None not in ids
        unique = sa.inspect(engine).get_unique_constraints("predictions")
        assert [(u["name"], u["column_names"]) for u in unique] == [
            ("uq_predictions_request_row", ["request_id", "row"])
        ]
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0002")
        assert _kept(engine) == _EXPECTED
    finally:
        engine.dispose()


_INSERT = (
    "INSERT INTO predictions (request_id, row, created_at, model, version, route, features, "
    "probability, predicted, label) VALUES (:request_id, :row, :created_at, 'diabetes', 1, "
    "'v2', '[1.0, 2.0]', :probability, :predicted, :label)"
)
_ROWS = [
    {
        "request_id": f"req-{n // 2}",
        "row": n % 2,
        "created_at": datetime(2026, 12, 4, 0, 0, n, tzinfo=timezone.utc),
        "probability": n / 10,
        "predicted": int(n >= 5),
        "label": None if n % 3 else n % 2,
    }
    for n in range(6)
]
_EXPECTED = [
    (row["request_id"], row["row"], row["probability"], row["predicted"], row["label"])
    for row in _ROWS
]


def _kept(engine) -> list[tuple]:
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.execute(
                sa.text(
                    "SELECT request_id, row, probability, predicted, label FROM predictions "
                    "ORDER BY request_id, row"
                )
            )
        ]
