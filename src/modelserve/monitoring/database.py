"""The prediction log's database: SQLite in the data folder unless ``MODELSERVE_DATABASE_URL``
names another (PostgreSQL in production), brought to the current schema by Alembic."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from modelserve.bulk import at_fork_in_child
from modelserve.errors import DatabaseUnavailable, InvalidInput
from modelserve.settings import Settings

DATABASE_FILE = "predictions.db"
_IMMEDIATE = "modelserve_immediate"  # execution option: a transaction that will write
CONNECT_TIMEOUT_SECONDS = 3  # a database that is down costs the writer this, not a request
SQLITE_BUSY_MS = 10_000
# Every process of a deployment migrates on start; the first takes this lock, the others wait
# and then find nothing to do.
_MIGRATION_LOCK = int.from_bytes(hashlib.sha256(b"modelserve-migrations").digest()[:8], "big") >> 1
# Alembic keeps the running migration's context in a module-level proxy: two threads of one
# process upgrading at once would swap each other's.
_MIGRATING_IN_THIS_PROCESS = threading.Lock()


def database_url(settings: Settings) -> str:
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return f"sqlite:///{settings.store.parent / DATABASE_FILE}"


class Database:
    """One process's handle on the prediction log's database.

    It connects and migrates on first use, not when built: a database that is down when the
    server starts delays logging and monitoring, not serving, and is used once it is back.
    A forked child makes its own connections.
    """

    def __init__(self, url: str):
        self.url = url
        self.backend = make_url(url).get_backend_name()  # "sqlite" or "postgresql"
        self._engine: Engine | None = None
        self._migrated = False
        self._lock = threading.Lock()
        at_fork_in_child(self._forked)

    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = connect(self.url)
            if not self._migrated:
                with unavailable_as_error(self.url):
                    migrate(self._engine)
                self._migrated = True
            return self._engine

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A transaction that writes: on SQLite it takes the write lock at once."""
        engine = self.engine()
        with unavailable_as_error(self.url), _writing(engine) as connection:
            yield connection

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        engine = self.engine()
        with unavailable_as_error(self.url), engine.connect() as connection:
            yield connection

    def _forked(self) -> None:
        global _MIGRATING_IN_THIS_PROCESS
        # A fork copies locks as they were: one held by another thread would never be freed.
        _MIGRATING_IN_THIS_PROCESS = threading.Lock()
        self._lock = threading.Lock()
        if self._engine is not None:
            self._engine.dispose(close=False)  # the parent's connections stay the parent's


@contextmanager
def unavailable_as_error(url: str) -> Iterator[None]:
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError) as exc:
        raise DatabaseUnavailable(
            f"the prediction log's database cannot be reached; retry later "
            f"({type(_cause(exc)).__name__})",
            local=f"{describe(url)}: {_cause(exc)}",
        ) from exc


def _cause(error: sa.exc.SQLAlchemyError) -> BaseException:
    return getattr(error, "orig", None) or error


@contextmanager
def _writing(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        connection = connection.execution_options(**{_IMMEDIATE: True})
        with connection.begin():
            yield connection


def describe(url: str) -> str:
    """The URL as it may be shown: without its password."""
    return make_url(url).render_as_string(hide_password=True)


def connect(url: str) -> Engine:
    """An engine for ``url``; create it in the process that uses it (not before a fork)."""
    parsed = make_url(url)
    options: dict = {
        "json_serializer": json_text,
        "json_deserializer": orjson.loads,
        "pool_pre_ping": True,
    }
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(parsed, **options)
        sa.event.listen(engine, "connect", _sqlite_connected)
        sa.event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":  # no driver named: psycopg 3, not psycopg2
            parsed = parsed.set(drivername="postgresql+psycopg")
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
        return sa.create_engine(parsed, pool_size=2, max_overflow=2, **options)
    raise InvalidInput(
        f"MODELSERVE_DATABASE_URL: {parsed.get_backend_name()!r} is not supported; "
        "use postgresql://… or sqlite:///…",
        field="MODELSERVE_DATABASE_URL",
    )


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration, once, whichever process gets there first."""
    from alembic import command

    with _MIGRATING_IN_THIS_PROCESS, _writing(engine) as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK)))
        command.upgrade(alembic_config(connection), "head")


def alembic_config(connection: Connection):
    """Alembic's configuration for the log's migrations, run on ``connection``."""
    from alembic.config import Config

    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("modelserve.monitoring") / "migrations")
    )
    config.attributes["connection"] = connection
    return config


def json_text(value) -> str:
    # Features arrive as float32 rows: written as their shortest decimal form (0.627, not
    # 0.6269999742507935).
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _sqlite_connected(dbapi_connection, _record) -> None:
    # The driver's own transaction handling is off: SQLAlchemy's "begin" event starts each one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never wait for the log's writer
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_MS}")
    cursor.close()


def _sqlite_begin(connection) -> None:
    # A writing transaction takes the write lock at once: a check-then-update (feedback,
    # migrations) cannot interleave with another process's. Readers take none (WAL).
    immediate = connection.get_execution_options().get(_IMMEDIATE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
