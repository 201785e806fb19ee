"""The prediction's key, (request_id, row), becomes the primary key; the surrogate id goes.

Every insert paid for two indexes on the key side (the id's and the unique key's); now one.
On SQLite, Alembic's batch mode copies the table, rows and labels included.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("predictions") as batch:
        batch.drop_constraint("uq_predictions_request_row", type_="unique")
        batch.drop_column("id")
        batch.create_primary_key("pk_predictions", ["request_id", "row"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("pk_predictions", "predictions", type_="primary")
        # An identity column fills itself in for the rows already there.
        op.add_column(
            "predictions", sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False)
        )
        op.create_primary_key("predictions_pkey", "predictions", ["id"])
        op.create_unique_constraint(
            "uq_predictions_request_row", "predictions", ["request_id", "row"]
        )
        return
    # SQLite numbers the rows of an INTEGER PRIMARY KEY itself as the table is copied.
    with op.batch_alter_table("predictions", recreate="always") as batch:
        batch.drop_constraint("pk_predictions", type_="primary")
        batch.add_column(sa.Column("id", sa.Integer(), primary_key=True))
        batch.create_unique_constraint("uq_predictions_request_row", ["request_id", "row"])
