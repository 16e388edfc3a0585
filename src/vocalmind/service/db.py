"""Engine, sessions and schema migrations (SQLite by default, PostgreSQL by URL).

SQLite gets the settings that make it safe under a threaded server: WAL journal (readers
never block the writer and are never blocked by it), foreign keys ON (the cascades that
delete a participant's data are declared in the schema), and a busy timeout so that
concurrent writers wait rather than fail.

Two kinds of transaction
------------------------
- *Read* transactions (``make_sessionmaker(engine)``) start with a plain ``BEGIN``: in WAL
  mode they take no lock at all, so a page or ``GET /api/auth/me`` never waits for an
  upload of another study.
- *Write* transactions (``make_sessionmaker(engine, write=True)`` or
  :func:`writer`) start with ``BEGIN IMMEDIATE``: the single write lock is taken at the
  start, so a transaction that reads and then writes can never fail with "database is
  locked" because another writer committed in between (a deferred transaction cannot
  upgrade its snapshot; ``busy_timeout`` does not help there). Callers keep them short:
  decoding, feature extraction and password hashing happen outside any transaction.

PostgreSQL ignores the distinction (it has row locks; ``add_session`` locks the
participant's row ``FOR UPDATE``). Migrations are Alembic's, kept inside the package
(``migrations/``), and run at start.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["MIGRATIONS", "as_utc", "is_postgres", "make_engine", "make_sessionmaker",
           "run_migrations", "session_scope", "writer"]

#: execution option read by the SQLite ``begin`` hook: ``"IMMEDIATE"`` for write transactions
BEGIN_OPTION = "vocalmind_sqlite_begin"

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
            # a write transaction's BEGIN IMMEDIATE really takes the lock at its start.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn) -> None:  # type: ignore[no-untyped-def]
            # reads: deferred (no lock in WAL); writes: IMMEDIATE, so two writers never
            # fail on a read-then-write upgrade (the busy timeout simply queues them)
            mode = conn.get_execution_options().get(BEGIN_OPTION, "DEFERRED")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if mode == "IMMEDIATE" else "BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=20, max_overflow=20)


def writer(engine: Engine) -> Engine:
    """``engine`` whose transactions take SQLite's write lock at ``BEGIN`` (same pool)."""
    return engine.execution_options(**{BEGIN_OPTION: "IMMEDIATE"})


def make_sessionmaker(engine: Engine, *, write: bool = False) -> sessionmaker[Session]:
    """A session factory bound to ``engine`` (objects stay readable after commit).

    ``write=True``: every transaction of its sessions starts with ``BEGIN IMMEDIATE`` on
    SQLite (see the module docstring); keep them short.
    """
    return sessionmaker(writer(engine) if write else engine, expire_on_commit=False)


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
