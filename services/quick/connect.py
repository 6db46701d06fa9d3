"""One read-only snapshot of a current store (SQLite file or PostgreSQL), with the acting operator."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from services.permissions import Actor
from services.schema_heads import SCHEMA_HEADS

if TYPE_CHECKING:
    pass

from services.quick.identity import identified
from services.quick.pg import PgConnection, postgres_conninfo

BUSY_TIMEOUT_MS = 2_000
T = TypeVar("T")


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL or plain path (as ``services.store.normalize_url`` reads it), else None."""
    target = (url or "").strip()
    if not target:
        return None
    if "://" not in target:
        if target == ":memory:":
            return None
        return Path(target).expanduser().resolve()
    scheme, _, rest = target.partition("://")
    if scheme.lower() not in ("sqlite", "sqlite+pysqlite") or not rest.startswith("/"):
        return None  # PostgreSQL, in-memory ("sqlite://") or anything unusual: the normal path
    database = rest[1:]
    if not database or "?" in database or database == ":memory:":
        return None
    return Path(database)


def light_read(url: str, operator: str | None, read: Callable[[Any, Actor], T | None]) -> T | None:
    """``read(connection, actor)`` in one read-only snapshot of a current store, as the operator
    ``services.identity`` would establish; None wherever the normal path must answer instead
    (PostgreSQL URL with options, a missing file, a schema that needs an upgrade, an unknown,
    refused or unusual operator, any database error, or ``read`` itself returning None)."""
    conninfo = postgres_conninfo(url)
    if conninfo is not None:
        return _pg_light_read(conninfo, operator, read)
    path = sqlite_path(url)
    if path is None or not path.is_file():
        return None
    try:
        conn = sqlite3.connect(
            f"{path.absolute().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
        )
    except (sqlite3.Error, ValueError):
        return None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("BEGIN")  # one snapshot for the operator and what is read
        try:
            return _read(conn, operator, read)
        finally:
            conn.execute("COMMIT")
    except (sqlite3.Error, ValueError, TypeError):
        return None
    finally:
        conn.close()


def _read(conn: Any, operator: str | None, read: Callable[[Any, Actor], T | None]) -> T | None:
    if not schema_current(conn):
        return None
    actor = identified(conn, operator)
    if actor is None:
        return None
    return read(conn, actor)


def schema_current(conn: Any) -> bool:
    if isinstance(conn, PgConnection):
        if conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL", ()).fetchone() != (True,):
            return False
    elif (
        conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'").fetchone() is None
    ):
        return False
    revisions = frozenset(r[0] for r in conn.execute("SELECT version_num FROM alembic_version", ()).fetchall())
    return revisions == SCHEMA_HEADS


def _pg_light_read(conninfo: str, operator: str | None, read: Callable[[Any, Actor], T | None]) -> T | None:
    try:
        conn = PgConnection(conninfo)
    except (OSError, ValueError, AttributeError):
        return None
    try:
        # one snapshot for the operator and what is read
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            return _read(conn, operator, read)
        finally:
            conn.execute("COMMIT")
    except (OSError, ValueError, TypeError, UnicodeDecodeError):
        return None
    finally:
        conn.close()
