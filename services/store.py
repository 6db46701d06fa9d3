"""The database: engine set-up for SQLite and PostgreSQL, and one session per service call.

SQLite is opened in WAL mode with a busy timeout and foreign keys on. Write transactions
start with ``BEGIN IMMEDIATE`` so two writers queue on the lock instead of failing with
"database is locked" half-way; read transactions use a plain deferred ``BEGIN`` so readers
never wait for writers.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine

from services.clock import Clock, system_now
from services.errors import RegdeskError

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 15_000


def normalize_url(target: str) -> str:
    """A path or URL from ``--db`` / REGDESK_DATABASE_URL to an SQLAlchemy URL."""
    target = target.strip()
    if "://" not in target:
        path = Path(target).expanduser()
        return f"sqlite:///{path.resolve()}" if str(path) != ":memory:" else "sqlite://"
    if target.startswith(("postgres://", "postgresql://")):
        return "postgresql+psycopg://" + target.split("://", 1)[1]
    return target


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # let SQLAlchemy's "begin" event decide how each transaction starts
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("regdesk_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str) -> Engine:
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    raise RegdeskError(f"unsupported database {parsed.get_backend_name()!r}: use SQLite or PostgreSQL")


class Store:
    """An engine, a clock, and the two kinds of session (read / write) services run in."""

    def __init__(self, url: str, *, clock: Clock | None = None, upgrade: bool = True) -> None:
        self.url = normalize_url(url)
        self.engine = make_engine(self.url)
        self._write_engine = self.engine.execution_options(regdesk_write=True)
        self.clock: Clock = clock or system_now
        if upgrade:
            from services.schema import ensure_schema

            ensure_schema(self.engine)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def now(self):
        return self.clock()

    def _session(self, bind: Engine) -> Session:
        session = Session(bind, expire_on_commit=False)
        session.info["clock"] = self.clock
        return session

    @contextmanager
    def read(self) -> Iterator[Session]:
        # closing (not rolling back) ends the read transaction and leaves loaded objects usable
        with self._session(self.engine) as session:
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One transaction: committed when the block ends, rolled back on any exception."""
        with self._session(self._write_engine) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one service function in its own session: a write transaction if it writes."""
        opener = self.write if getattr(fn, "regdesk_writes", False) else self.read
        with opener() as session:
            return fn(session, *args, **kwargs)

    def dispose(self) -> None:
        self.engine.dispose()


def writes(fn: Callable[..., T]) -> Callable[..., T]:
    """Mark a service function as one that changes data (it gets a write transaction)."""
    fn.regdesk_writes = True  # type: ignore[attr-defined]
    return fn


def now(session: Session):
    """The current time of the store the session belongs to."""
    clock = session.info.get("clock", system_now)
    return clock()


def database_url_from_env(default: str | None = None) -> str | None:
    return os.environ.get("REGDESK_DATABASE_URL") or default
