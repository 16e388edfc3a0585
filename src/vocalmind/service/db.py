"""Engine, sessions and schema migrations (SQLite by default, PostgreSQL by URL).

SQLite gets the settings that make it safe under a threaded server: WAL journal (readers
never block the writer), foreign keys ON (the cascades that delete a participant's data are
declared in the schema), and a busy timeout so that concurrent writers wait rather than
fail. Migrations are Alembic's, kept inside the package (``migrations/``), and run at start.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["MIGRATIONS", "as_utc", "is_postgres", "make_engine", "make_sessionmaker",
           "run_migrations", "session_scope"]

MIGRATIONS = Path(__file__).parent / "migrations"


def is_postgres(engine: Engine) -> bool:
    """True for a PostgreSQL engine."""
    return engine.dialect.name == "postgresql"


def make_engine(url: str) -> Engine:
    """An engine for ``url`` (``sqlite:///FILE`` or ``postgresql+psycopg://...``).

    Raises
    ------
    vocalmind.errors.ConfigError
        For an in-memory SQLite URL (each connection would see its own empty database).
    """
    from vocalmind.errors import ConfigError

    if url.startswith("sqlite"):
        if url in ("sqlite://", "sqlite:///:memory:"):
            raise ConfigError("an in-memory SQLite database cannot be shared by the server and "
                              "its worker; give a file: sqlite:///PATH/vocalmind.db")
        db_file = url.split(":///", 1)[-1]
        Path(db_file).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                               pool_size=20, max_overflow=20)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            # pysqlite's own transaction handling would delay BEGIN; take control so that
            # the queue's claim (BEGIN IMMEDIATE) really locks.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn) -> None:  # type: ignore[no-untyped-def]
            # IMMEDIATE: take the write lock at BEGIN, so two writers never deadlock on a
            # read-then-write upgrade (the busy timeout then simply queues them).
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=20)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine`` (objects stay readable after commit)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with factory() as s:
        try:
            yield s
            s.commit()
        except BaseException:
            s.rollback()
            raise


def run_migrations(engine: Engine) -> None:
    """Bring the database to the newest schema (Alembic ``upgrade head``)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        if is_postgres(engine):
            # Two servers starting at once must not both create the tables.
            conn.exec_driver_sql("SELECT pg_advisory_xact_lock(4242001)")
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


def as_utc(dt: datetime | None) -> datetime | None:
    """``dt`` as an aware UTC datetime (SQLite returns naive values that are UTC)."""
    if dt is None:
        return None
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)
