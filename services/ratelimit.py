"""Attempt limits for the public pages, kept in the database so they hold across processes.

Each limit is a fixed window counter in ``webratelimit``: one atomic
``INSERT ... ON CONFLICT (key) DO UPDATE ... RETURNING hits`` per attempt (SQLite 3.35+ and
PostgreSQL both run it as a single statement), so two ``serve`` processes counting the same
client at once never lose a hit. Keys hold a SHA-256 of the value (client address, e-mail,
link), never the value.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Table, case, delete
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.dialects import sqlite
from sqlmodel import Session, col

from models.base import table_of
from models.web import WebRateLimit
from services.store import now, writes


@dataclass(frozen=True)
class Limit:
    action: str  # signup, resend, apply, verify, activate
    kind: str  # ip, email, link
    limit: int
    window_seconds: int


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    hits: int
    retry_after: int  # seconds until the window ends (0 when allowed)


def key_of(action: str, kind: str, value: str) -> str:
    digest = hashlib.sha256(value.strip().casefold().encode("utf-8", "replace")).hexdigest()[:40]
    return f"{action}:{kind}:{digest}"[:80]


def _insert(session: Session, table: Table) -> pg.Insert | sqlite.Insert:
    if session.get_bind().dialect.name == "postgresql":
        return pg.insert(table)
    return sqlite.insert(table)


def _hit(session: Session, limit: Limit, value: str) -> Verdict:
    table = table_of(WebRateLimit)
    current = now(session)
    cutoff = current - timedelta(seconds=limit.window_seconds)
    stale = table.c.window_start <= cutoff
    first = _insert(session, table).values(key=key_of(limit.action, limit.kind, value), window_start=current, hits=1)
    stmt = first.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={
            "hits": case((stale, 1), else_=table.c.hits + 1),
            "window_start": case((stale, current), else_=table.c.window_start),
        },
    ).returning(table.c.hits, table.c.window_start)
    hits, started = session.execute(stmt).one()
    if started.tzinfo is None and current.tzinfo is not None:
        started = started.replace(tzinfo=current.tzinfo)
    if hits <= limit.limit:
        return Verdict(True, hits, 0)
    left = started + timedelta(seconds=limit.window_seconds) - current
    return Verdict(False, hits, max(1, int(left.total_seconds()) + 1))


@writes
def hit(session: Session, checks: list[tuple[Limit, str]]) -> Verdict:
    """Count one attempt against every (limit, value) pair; refused when any is over.

    Every counter is bumped even when an earlier one is over, so a client cannot dodge the
    per-e-mail count by being refused on its address first. Old rows are swept now and then.
    """
    worst = Verdict(True, 0, 0)
    for limit, value in checks:
        if not value:
            continue
        verdict = _hit(session, limit, value)
        if not verdict.allowed and (worst.allowed or verdict.retry_after > worst.retry_after):
            worst = verdict
        elif worst.allowed and verdict.hits > worst.hits:
            worst = verdict
    if random.random() < 0.01:
        session.execute(delete(WebRateLimit).where(col(WebRateLimit.window_start) < now(session) - timedelta(days=2)))
    return worst
