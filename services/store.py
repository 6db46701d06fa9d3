"""The database: engine set-up for SQLite and PostgreSQL, and one session per service call.

SQLite is opened in WAL mode with foreign keys on. Read transactions use a plain deferred
``BEGIN`` so readers never wait for writers. Write transactions start with ``BEGIN
IMMEDIATE`` so a writer holds the lock from its first statement to its commit and never
fails half-way; the store waits for that lock in short jittered steps (never the user).

Writers wait milliseconds, not seconds: a service marked ``@writes(phased=True)`` runs in two
phases in one session. The *plan* phase (permissions, validation, duplicate search, every
read) runs in a read transaction and takes no lock; ``begin_write(session)`` ends it and the
rest runs in a short write transaction that re-checks what it relies on (conditional
UPDATEs on versions; ``Replan`` when the plan went stale, and the store runs the call again).
So a refusal (a request that does not exist, bad input) never waits for the write lock.
On PostgreSQL, where reads neither take nor wait for locks, both phases share one READ
COMMITTED transaction (``begin_write`` is a no-op); what must not be held long there is a
row lock, which is why numbers are taken last (services/sequences.py).
Plain ``@writes`` services run wholly in the write transaction, as before.

A write that still meets a busy database (SQLite: locked; PostgreSQL: serialization failure
or deadlock) is rolled back and the whole call retried with jitter for up to
``WRITE_RETRY_BUDGET_S``; only then the user hears "the database is busy" (exit 8).
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar, overload

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.engine.base import OptionEngine
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry, Pool, PoolProxiedConnection
from sqlmodel import Session, create_engine

from services.clock import Clock, system_now
from services.errors import Conflict, DatabaseUnavailable, RegdeskError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

# SQLite's own busy handler waits this long per attempt (fine-grained sleeps of 1..25 ms);
# between attempts the store sleeps a few jittered milliseconds, within WRITE_RETRY_BUDGET_S.
SQLITE_LOCK_WAIT_S = 0.1
SQLITE_BUSY_TIMEOUT_MS = int(SQLITE_LOCK_WAIT_S * 1000)
WRITE_RETRY_BUDGET_S = 20.0
REPLAN_LIMIT = 8


class Replan(Exception):
    """Raised in a phased service's write phase when what the plan read has changed meanwhile:
    the store rolls back and runs the whole call again (a fresh plan)."""


def _sleep_jitter(attempt: int) -> None:
    time.sleep(random.uniform(0.0005, min(0.002 * (1.5**attempt), 0.02)))


def _is_busy(exc: BaseException) -> bool:
    """A lock or serialization refusal that a rerun of the transaction can get past."""
    orig = getattr(exc, "orig", exc)
    if isinstance(orig, sqlite3.OperationalError):
        msg = str(orig).lower()
        return "locked" in msg or "busy" in msg
    sqlstate = getattr(orig, "sqlstate", None) or getattr(getattr(orig, "diag", None), "sqlstate", None)
    return sqlstate in ("40001", "40P01", "55P03")


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
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            options = conn.get_execution_options()
            # a read call's connection refuses every write (``query_only``), any other's takes
            # them; the pragma is sent only when a pooled connection changes side (microseconds)
            read_only = bool(options.get("regdesk_read", False))
            info = conn.connection.info
            if info.get("regdesk_query_only", False) != read_only:
                cursor.execute(f"PRAGMA query_only = {int(read_only)}")
                info["regdesk_query_only"] = read_only
            if not options.get("regdesk_write", False):
                cursor.execute("BEGIN")
                return
            # the write lock, waited for in short jittered steps up to the budget
            deadline = time.monotonic() + WRITE_RETRY_BUDGET_S
            attempt = 0
            while True:
                try:
                    cursor.execute("BEGIN IMMEDIATE")
                    return
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc) or time.monotonic() >= deadline:
                        raise DatabaseUnavailable(
                            f"the database is busy: another program has held its write lock for over "
                            f"{WRITE_RETRY_BUDGET_S:.0f} s; try again"
                        ) from None
                    attempt += 1
                    _sleep_jitter(attempt)
        finally:
            cursor.close()


# SQLite keeps no statistics unless asked (PostgreSQL's autovacuum analyzes tables as they grow):
# without ``sqlite_stat1`` its planner guesses every index narrows to a few rows, and may walk an
# order's index testing a search's matches row by row instead of looking the few matches up
# (My work's search at 10k open items). A store opened on a file ANALYZEs, sampled
# (``analysis_limit``: milliseconds at 1M rows), each indexed table of at least
# ``SQLITE_STATS_MIN_ROWS`` rows whose statistics are missing or off by 2x (rows estimated by
# ``max(rowid)``, a b-tree descent): what the tests' plans assume ("the planner told the truth").
SQLITE_STATS_MIN_ROWS = 1000
SQLITE_ANALYSIS_LIMIT = 400


def refresh_sqlite_statistics(path: Path) -> list[str]:
    """ANALYZE the tables of the SQLite file ``path`` whose statistics are missing or stale (see
    ``SQLITE_STATS_MIN_ROWS``); the tables analyzed. Never waits: a file another program is
    writing, or one that cannot be written, keeps its statistics until the next open."""
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=0)
    except sqlite3.Error:
        return []
    try:
        conn.execute("PRAGMA busy_timeout = 0")
        indexed = [
            r[0]
            for r in conn.execute(
                "SELECT DISTINCT tbl_name FROM sqlite_master WHERE type = 'index' AND tbl_name NOT LIKE 'sqlite_%'"
            )
        ]
        known: dict[str, int] = {}
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
            for table, stat in conn.execute("SELECT tbl, stat FROM sqlite_stat1"):
                rows = int(str(stat).split()[0]) if stat else 0
                known[table] = max(known.get(table, 0), rows)
        stale = []
        for table in indexed:
            try:
                (rows,) = conn.execute(f'SELECT coalesce(max(rowid), 0) FROM "{table}"').fetchone()
            except sqlite3.Error:  # a WITHOUT ROWID table
                continue
            seen = known.get(table)
            if rows >= SQLITE_STATS_MIN_ROWS and (seen is None or not seen / 2 <= rows <= seen * 2):
                stale.append(table)
        if stale:
            conn.execute(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}")
            conn.execute("BEGIN IMMEDIATE")
            for table in stale:
                conn.execute(f'ANALYZE "{table}"')
            conn.execute("COMMIT")
        return stale
    except sqlite3.Error:  # busy, read-only, or not a database: the next open tries again
        return []
    finally:
        conn.close()


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite URL (None for PostgreSQL or an in-memory database)."""
    parsed = make_url(normalize_url(url))
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


# PostgreSQL: a pooled connection is pinged before use only when it has sat idle this long
# (SQLAlchemy's pool_pre_ping pinged on every checkout: a round trip per service call). A
# connection used moments ago is alive; one that failed in use is invalidated by SQLAlchemy's
# disconnect handling and replaced on the next checkout.
PG_PING_AFTER_IDLE_S = 30.0


# psycopg prepares a statement on the server once it has run it 5 times, and after 5 more
# PostgreSQL may keep one generic plan for every value; the lists' statements are the same text
# whatever the search term or status, and a plan made for a common word (scan the id index) is a
# disaster for a rare one (read the trigram index). Every connection plans each execution for its
# own values, as an unprepared statement is: a startup option (no round trip, not even per connection).
# And no JIT: it compiles a statement whose estimated cost passes ``jit_above_cost``, and a word
# search's fallback arm (a common word's every match sorted, never run when the walk answers) is
# estimated that dear: 64 functions compiled, 34-90 ms, for a page the walk found in 1.6 ms at 1M.
# The store's statements are short index walks; JIT pays only for long scans.
PG_STARTUP_OPTIONS = "-c plan_cache_mode=force_custom_plan -c jit=off"


def _pg_connect_args(url: str) -> dict[str, Any]:
    options = make_url(url).query.get("options")  # the URL's own options, if any, come first
    given = " ".join(options) if isinstance(options, tuple) else (options or "")
    return {"connect_timeout": 5, "options": f"{given} {PG_STARTUP_OPTIONS}".strip()}


# Execution option: send this statement and the COMMIT together (a psycopg pipeline: one send,
# one wait), for the last statement of a transaction that holds a lock every other writer needs
# (services.sequences.settle): the lock is then held for the server's time only, not also for
# the client's wake-up between the statement's answer and its COMMIT. The session's own commit
# afterwards finds no transaction open and sends nothing.
COMMIT_WITH = "regdesk_commit_with"


def _configure_postgres(engine: Engine) -> None:
    from sqlalchemy.exc import DisconnectionError

    @event.listens_for(engine, "do_execute")
    def _commit_with(cursor: Any, statement: str, parameters: Any, context: Any) -> bool | None:
        if not context.execution_options.get(COMMIT_WITH):
            return None  # SQLAlchemy executes it as usual
        dbapi = cursor.connection
        with dbapi.pipeline():
            cursor.execute(statement, parameters)
            dbapi.commit()
        return True

    @event.listens_for(engine, "checkin")
    def _idle_from(dbapi_connection: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
        record.info["regdesk_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(
        dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        since = record.info.get("regdesk_idle_since")
        if since is None or time.monotonic() - since < PG_PING_AFTER_IDLE_S:
            return  # new, or used a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
            dbapi_connection.rollback()  # the ping opened a transaction: none is left behind
        except Exception as exc:
            # the pool discards this connection and checks out (or opens) another one
            raise DisconnectionError(f"stale connection: {exc}") from exc


class _EngineWithOwnPool(OptionEngine):
    """An option engine (the proxied engine's dialect, compiled cache, options, and its events:
    ``before_cursor_execute`` / ``begin`` / ... listeners on the proxied engine fire here too)
    that checks its connections out of a pool of its own instead of the proxied engine's."""

    def __init__(self, proxied: Engine, pool: Pool, options: dict[str, Any]) -> None:
        self._own_pool = pool
        super().__init__(proxied, options)

    @property
    def pool(self) -> Pool:
        return self._own_pool

    @pool.setter
    def pool(self, pool: Pool) -> None:  # Engine.dispose() sets a recreated pool
        self._own_pool = pool


def read_only_engine(engine: Engine) -> Engine:
    """PostgreSQL: an engine for read calls. Its connections (a pool of their own, made like the
    engine's and with its pool listeners) run every statement in autocommit, and their session
    makes every transaction read-only: a read call that wrote would fail, not keep its write
    (``cannot execute UPDATE in a read-only transaction``). One SET when a connection is made,
    nothing per call; writes keep the engine's own read-write connections."""
    pool = engine.pool.recreate()

    @event.listens_for(pool, "connect")
    def _read_only_session(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        autocommit = dbapi_connection.autocommit
        dbapi_connection.autocommit = True
        try:
            dbapi_connection.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        finally:
            dbapi_connection.autocommit = autocommit

    return _EngineWithOwnPool(engine, pool, {"isolation_level": "AUTOCOMMIT", "regdesk_read": True})


def make_engine(url: str, *, create: bool = False) -> Engine:
    """An engine for ``url``. ``create=False``: an SQLite file that does not exist is refused
    (nothing is created: no directory, no empty database for a mistyped path)."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_file(url)
        if path is not None:
            if not path.is_file():
                if not create:
                    raise DatabaseUnavailable(
                        f"no database at {path}: check --db / REGDESK_DATABASE_URL, or create one with "
                        f"'regdesk --db {path} db init' (or 'regdesk --db {path} demo' for the demo set)"
                    )
                path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": SQLITE_LOCK_WAIT_S})
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        engine = create_engine(url, connect_args=_pg_connect_args(url))
        _configure_postgres(engine)
        return engine
    raise RegdeskError(f"unsupported database {parsed.get_backend_name()!r}: use SQLite or PostgreSQL")


class Store:
    """An engine, a clock, and the two kinds of session (read / write) services run in."""

    def __init__(self, url: str, *, clock: Clock | None = None, upgrade: bool = True, create: bool = False) -> None:
        """``create``: whether a missing SQLite file may be made (with its directory). Off by
        default, so a library caller with a mistyped path gets ``DatabaseUnavailable`` instead
        of a new empty database; the CLI passes True only for ``db init``, ``demo`` and the
        default path (``app.settings.may_create``), tests and benchmarks when they make one."""
        self.url = normalize_url(url)
        self.engine = make_engine(self.url, create=create)
        self._write_engine = self.engine.execution_options(regdesk_write=True)
        # reads on PostgreSQL run in autocommit: psycopg sends no BEGIN before the first
        # statement and the pool's reset sends no ROLLBACK (there is no transaction), so a
        # one-statement read is one round trip instead of three. Under READ COMMITTED every
        # statement took its own snapshot already: what a read sees does not change. SQLite
        # keeps its deferred BEGIN (in-process, microseconds): one snapshot per read call.
        # Either way a read cannot write: PostgreSQL reads use connections of their own whose
        # transactions are read-only (``read_only_engine``), SQLite's read transactions run
        # under ``PRAGMA query_only`` (``_configure_sqlite``).
        self._read_engine = (
            self.engine.execution_options(regdesk_read=True)
            if self.engine.dialect.name == "sqlite"
            else read_only_engine(self.engine)
        )
        self.clock: Clock = clock or system_now
        if upgrade:
            from services.schema import ensure_schema

            ensure_schema(self.engine)
            path = sqlite_file(self.url)
            if path is not None:
                refresh_sqlite_statistics(path)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def now(self) -> datetime:
        return self.clock()

    def _session(self, bind: Engine) -> Session:
        session = Session(bind, expire_on_commit=False)
        session.info["clock"] = self.clock
        return session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading. SQLite: one deferred read transaction (one snapshot) for the
        whole block; PostgreSQL: autocommit, each statement its own snapshot as under READ
        COMMITTED, without the BEGIN and ROLLBACK round trips. Nothing written here is kept
        on SQLite and nothing may be written on PostgreSQL: writes go through ``write``."""
        # closing (not rolling back) ends the read transaction and leaves loaded objects usable
        with self._session(self._read_engine) as session:
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

    @contextmanager
    def phased(self) -> Iterator[Session]:
        """A read transaction first; ``begin_write(session)`` switches to a write transaction."""
        with self._session(self.engine) as session:
            session.info["regdesk_write_engine"] = self._write_engine
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one service function in its own session: a write transaction if it writes.

        Writes are retried (whole call, jittered) when the database was busy or the plan of a
        phased service went stale, for up to ``WRITE_RETRY_BUDGET_S``."""
        writes_ = getattr(fn, "regdesk_writes", False)
        if not writes_:
            with self.read() as session:
                return fn(session, *args, **kwargs)
        # PostgreSQL: reads take no lock and wait for none, so the plan and the write share one
        # READ COMMITTED transaction (no second checkout and round trips); the write phase's
        # conditional updates / row locks re-check the plan all the same
        opener = self.phased if getattr(fn, "regdesk_phased", False) and self.is_sqlite else self.write
        deadline = time.monotonic() + WRITE_RETRY_BUDGET_S
        attempt = replans = 0
        while True:
            try:
                with opener() as session:
                    return fn(session, *args, **kwargs)
            except Replan:
                replans += 1
                if replans >= REPLAN_LIMIT:
                    raise Conflict("the records changed too often while this was being saved: try again") from None
            except Exception as exc:
                from sqlalchemy.exc import DBAPIError

                if not (isinstance(exc, DBAPIError) and _is_busy(exc)):
                    raise
                if time.monotonic() >= deadline:
                    raise DatabaseUnavailable(
                        f"the database stayed busy for over {WRITE_RETRY_BUDGET_S:.0f} s; try again"
                    ) from None
            attempt += 1
            _sleep_jitter(attempt)

    @property
    def read_engine(self) -> Engine:
        """What read calls run on: PostgreSQL, the engine's dialect, options and engine events
        (a listener on ``engine`` sees reads too) with a pool of read-only connections; SQLite,
        the engine with the ``regdesk_read`` option (same pool)."""
        return self._read_engine

    def dispose(self) -> None:
        if self._read_engine.pool is not self.engine.pool:
            self._read_engine.dispose()
        self.engine.dispose()


@overload
def writes(fn: F, *, phased: bool = False) -> F: ...
@overload
def writes(fn: None = None, *, phased: bool = False) -> Callable[[F], F]: ...
def writes(fn: F | None = None, *, phased: bool = False) -> F | Callable[[F], F]:
    """Mark a service function as one that changes data (it gets a write transaction).

    ``@writes(phased=True)``: it plans in a read transaction and calls ``begin_write(session)``
    before its first write; the write phase re-checks what it relies on (see the module doc).
    Typed so that a decorated service keeps its own signature for its callers."""

    def mark(f: F) -> F:
        setattr(f, "regdesk_writes", True)
        setattr(f, "regdesk_phased", phased)
        return f

    return mark(fn) if fn is not None else mark


def begin_write(session: Session) -> None:
    """End the plan (read) phase of a phased service: from here on, one short write transaction.

    A no-op in a session that is already writing (a plain ``@writes`` call, ``Store.write``,
    or a phased service called from another service), so helpers may call it freely."""
    engine = session.info.pop("regdesk_write_engine", None)
    if engine is None:
        return
    session.commit()  # ends the read transaction: no snapshot, no lock is carried over
    session.bind = engine


def in_plan_phase(session: Session) -> bool:
    return "regdesk_write_engine" in session.info


def begin_write_rechecked(session: Session, *rows: Any, fields: tuple[str, ...] = ("version",)) -> None:
    """``begin_write``, then read ``rows`` again in the write transaction: when one of them moved
    since the plan read it (its ``fields`` differ), raise ``Replan`` (the store plans afresh, so
    the refusal or the result is the one a fresh read gives). Outside a plan: nothing to re-check."""
    if not in_plan_phase(session):
        return
    planned = [tuple(getattr(row, f) for f in fields) for row in rows]
    begin_write(session)
    for row, seen in zip(rows, planned):
        session.refresh(row)
        if tuple(getattr(row, f) for f in fields) != seen:
            raise Replan()


def now(session: Session) -> datetime:
    """The current time of the store the session belongs to."""
    clock: Clock = session.info.get("clock", system_now)
    return clock()


def database_url_from_env(default: str | None = None) -> str | None:
    return os.environ.get("REGDESK_DATABASE_URL") or default
