"""The prediction log's tests run twice: on SQLite, and on a PostgreSQL database the test
creates on the machine's server and drops afterwards."""

from __future__ import annotations

import pytest

from modelserve.monitoring.database import Database
from tests.support import postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'predictions.db'}"
        return
    with postgres.scratch_database() as url:
        yield url


@pytest.fixture
def database(database_url):
    database = Database(database_url)
    yield database
    database.engine().dispose()
