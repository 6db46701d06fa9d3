"""The console's first view without the heavy stack: plain sqlite3, standard library only.

Importing SQLModel, SQLAlchemy, pydantic and every table costs more than the rest of the
console's start. On a current SQLite file the Registration list's first page, its counts
and the acting operator are read here with three small queries, so the console can paint
at once while the real ``Store`` is built in the background.

``light_start`` answers only when it is sure to give what the services would give; in
every other case (PostgreSQL, a missing file, a schema that needs an upgrade, an unknown,
disabled or unauthorised operator, any database error) it returns ``None`` and the caller
takes the normal path, which upgrades the file or raises the proper refusal.

Keep it in step with ``services.signup.list_requests`` / ``count_by_status`` (default view:
status All, no search, sort by number ascending) and ``services.operators.resolve_actor``;
tests/test_quick_start.py compares them field by field.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from services.permissions import Actor
from services.schema_heads import SCHEMA_HEADS

# models.signup.SignupStatus values, in its order (a test checks they agree)
SIGNUP_STATUSES = ("Requested", "Verified by user", "Approved", "Created", "Rejected")
BUSY_TIMEOUT_MS = 2_000
MAX_LIMIT = 5000  # as list_requests


@dataclass(frozen=True)
class LightRow:
    """The attributes of ``services.signup.RequestRow``."""

    id: int
    number: str
    created_at: datetime
    status: str
    company: str
    contact: str
    email: str
    user_name: str
    country: str


@dataclass(frozen=True)
class LightPage:
    """Like ``services.signup.RequestPage``: the rows and the keyset cursor of the next page."""

    rows: tuple[LightRow, ...]
    after: tuple[Any, int] | None


@dataclass(frozen=True)
class LightView:
    """What the Registration screen shows first: the default page and the counts."""

    page: LightPage
    counts: dict[str, int]


@dataclass(frozen=True)
class LightStart:
    actor: Actor
    view: LightView


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


def light_start(url: str, operator: str | None, *, limit: int) -> LightStart | None:
    """The acting operator and the Registration list's first view, or None (take the normal path)."""
    path = sqlite_path(url)
    if path is None or not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, isolation_level=None,
                               timeout=BUSY_TIMEOUT_MS / 1000)
    except (sqlite3.Error, ValueError):
        return None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("BEGIN")  # one snapshot for the operator, the page and the counts
        try:
            return _read(conn, operator, limit)
        finally:
            conn.execute("COMMIT")
    except (sqlite3.Error, ValueError, TypeError):
        return None
    finally:
        conn.close()


def _read(conn: sqlite3.Connection, operator: str | None, limit: int) -> LightStart | None:
    if not _schema_current(conn):
        return None
    actor = _identified(conn, operator)
    if actor is None or not actor.can("signup.view"):
        return None
    return LightStart(actor=actor, view=LightView(page=_first_page(conn, limit), counts=_counts(conn)))


def _schema_current(conn: sqlite3.Connection) -> bool:
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'").fetchone() is None:
        return False
    revisions = frozenset(r[0] for r in conn.execute("SELECT version_num FROM alembic_version"))
    return revisions == SCHEMA_HEADS


def _identified(conn: sqlite3.Connection, operator: str | None) -> Actor | None:
    """``services.identity``'s SQLite rule: the OS login, or the named operator where allowed
    (a demo database); None where it would refuse or needs a reason (the normal path says why)."""
    from dataclasses import replace

    from services.errors import UnknownOperator
    from services.identity import DEMO_FLAG, os_login, sqlite_choice

    login = os_login()
    flag = conn.execute("SELECT value FROM storeflag WHERE name = ?", (DEMO_FLAG,)).fetchone()
    demo = flag is not None and flag[0] == "yes"
    try:
        name, why = sqlite_choice(operator, login, demo=demo, login_is_admin=False, reason=None)
    except UnknownOperator:
        return None
    actor = _actor(conn, name)
    return replace(actor, login=login, demo=demo) if actor is not None else None


def _actor(conn: sqlite3.Connection, operator: str | None) -> Actor | None:
    """As ``services.operators.resolve_actor`` / ``to_actor``; None where it would refuse."""
    name = (operator or "").strip()
    if not name:
        return None
    row = conn.execute("SELECT user_name, display_name, roles, profile, sales_rep, email, active "
                       "FROM operator WHERE user_name = ?", (name,)).fetchone()
    if row is None or not row[6]:
        return None
    user_name, display_name, roles, profile, sales_rep, email, _ = row
    return Actor(user_name=user_name, display_name=display_name, roles=frozenset((roles or "").split()),
                 profile=profile, sales_rep=bool(sales_rep), email=email)


def _utc(value: Any) -> datetime:
    """A stored timestamp as SQLModel's UTCDateTime returns it (aware, UTC)."""
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value))
    if moment.utcoffset() is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _first_page(conn: sqlite3.Connection, limit: int) -> LightPage:
    """``list_requests`` with its defaults: every status, no search, by number (= id) ascending."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    raw = conn.execute(
        "SELECT id, number, created_at, status, company, first_name, last_name, email, user_name, country "
        "FROM signuprequest ORDER BY id ASC LIMIT ?", (limit + 1,)).fetchall()
    rows = tuple(
        LightRow(id=r[0], number=r[1], created_at=_utc(r[2]), status=r[3], company=r[4], contact=f"{r[5]} {r[6]}",
                 email=r[7], user_name=r[8], country=r[9])
        for r in raw[:limit]
    )
    after = None
    if len(raw) > limit:
        last_id = raw[limit - 1][0]
        after = (last_id, last_id)
    return LightPage(rows=rows, after=after)


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    """``count_by_status`` without a search: All, then each status."""
    counts = {status: 0 for status in SIGNUP_STATUSES}
    for status, n in conn.execute("SELECT status, count(*) FROM signuprequest GROUP BY status"):
        counts[status] = n
    return {"All": sum(counts.values()), **counts}
