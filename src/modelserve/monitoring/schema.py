"""The prediction log's tables, as SQLAlchemy Core describes them (the migrations create them).

One row per input row a model answered: a multi-row request is several rows sharing a
``request_id``, told apart by ``row``. ``label`` stays NULL until feedback names the truth.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

REQUEST_ID_LENGTH = 128  # as X-Request-ID accepts it

predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("request_id", sa.String(REQUEST_ID_LENGTH), nullable=False),
    sa.Column("row", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("route", sa.String(100), nullable=False),
    sa.Column("features", sa.JSON(), nullable=False),
    sa.Column("probability", sa.Float(), nullable=False),
    sa.Column("predicted", sa.SmallInteger(), nullable=False),
    sa.Column("label", sa.SmallInteger(), nullable=True),
    sa.Column("labelled_at", sa.DateTime(timezone=True), nullable=True),
    # Feedback finds a prediction by its key; a client reusing an X-Request-ID keeps the first.
    # The key is the primary key: a surrogate id would cost every insert a second index.
    sa.PrimaryKeyConstraint("request_id", "row", name="pk_predictions"),
    # The monitor reads the recent rows, retention deletes the oldest. One index serves both:
    # each costs every insert its share (most deployments serve one model anyway).
    sa.Index("ix_predictions_created", "created_at"),
)
