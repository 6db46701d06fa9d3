"""A cheap "something changed" signal for open consoles, on both stores.

Every change a service makes writes an audit row in the same transaction, so the newest
audit id is a monotonic change counter: ``latest_change`` reads it through the primary key
(``SELECT max(id)``: one index probe, O(1) whatever the size of the trail). A console polls
it about once a second in a thread worker and rereads only its visible list when it moved.

On PostgreSQL ``services.audit.record`` also calls ``notify``: a ``NOTIFY regdesk_changes``
issued once per transaction, delivered by the server at commit (never for a rollback), so a
``Listener`` (LISTEN on its own connection) wakes the console at once instead of at its next
poll. SQLite has no such thing: a ``FileWatch`` stats the database file and its write-ahead log
(a few microseconds, no query) every tenth of a second and the counter is read only when one of
them changed; the poll stays as the fallback.

``changes_since`` returns the events after a counter value (bounded), so the console can say
what happened (a request that became Verified) without rereading anything else.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select, text
from sqlmodel import Session, col

from models.core import AuditEvent

CHANNEL = "regdesk_changes"
_NOTIFIED = "regdesk_change_notified"


def latest_change(session: Session, actor: Any = None) -> int:
    """The newest change's counter (the newest audit id; 0 for an empty trail)."""
    return int(session.execute(select(func.max(AuditEvent.id))).scalar() or 0)


class ChangeEvent(BaseModel):
    id: int
    entity_type: str
    entity_key: str
    action: str
    operator: str
    status: str | None  # the record's status after the change, when the change moved it


def changes_since(session: Session, actor: Any, after_id: int, *, limit: int = 200) -> list[ChangeEvent]:
    """Events with an id above ``after_id`` (oldest first, at most ``limit``), read by the primary key."""
    rows = session.execute(
        select(
            col(AuditEvent.id),
            col(AuditEvent.entity_type),
            col(AuditEvent.entity_key),
            col(AuditEvent.action),
            col(AuditEvent.operator),
            col(AuditEvent.after),
        )
        .where(col(AuditEvent.id) > after_id)
        .order_by(col(AuditEvent.id))
        .limit(max(1, min(limit, 1000)))
    ).all()
    out = []
    for id_, entity_type, key, action, operator, after in rows:
        status = None
        if after:
            try:
                status = (json.loads(after) or {}).get("status")
            except (ValueError, AttributeError):
                status = None
        out.append(
            ChangeEvent(
                id=id_,
                entity_type=entity_type,
                entity_key=key,
                action=action,
                operator=operator,
                status=status if isinstance(status, str) else None,
            )
        )
    return out


def notify(session: Session) -> None:
    """PostgreSQL: wake listening consoles when this transaction commits (once per transaction)."""
    bind = session.get_bind()
    if bind.dialect.name != "postgresql":
        return
    tx = session.get_transaction()
    marker = id(tx) if tx is not None else None
    if session.info.get(_NOTIFIED) == marker:
        return
    session.info[_NOTIFIED] = marker
    session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


class Listener:
    """PostgreSQL LISTEN on a connection of its own; ``wait(timeout)`` is True when a change was notified.

    For any other store ``wait`` just sleeps (the poll is the signal). Call from one thread."""

    def __init__(self, url: str) -> None:
        self._conn: Any = None
        if url.startswith("postgresql"):
            try:
                import psycopg
                from sqlalchemy.engine import make_url

                u = make_url(url)
                self._conn = psycopg.connect(
                    host=u.host or None,
                    port=u.port or None,
                    user=u.username or None,
                    password=u.password or None,
                    dbname=u.database or None,
                    autocommit=True,
                    connect_timeout=5,
                )
                self._conn.execute(f"LISTEN {CHANNEL}")
            except Exception:  # no LISTEN: the poll still works
                self._conn = None

    @property
    def listening(self) -> bool:
        return self._conn is not None

    def wait(self, timeout: float) -> bool:
        import time

        if self._conn is None:
            time.sleep(timeout)
            return False
        try:
            got = False
            for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                got = True
            return got
        except Exception:
            self.close()
            time.sleep(timeout)
            return False

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass


class FileWatch:
    """SQLite: has the database (or its write-ahead log) changed since the last look? ``os.stat``
    only (cheap enough for the UI thread); a commit by any process appends to the WAL file."""

    def __init__(self, path: str | None) -> None:
        self._paths = [path, path + "-wal"] if path else []
        self._last = self._look()

    def _look(self) -> tuple[tuple[int, int] | None, ...]:
        import os

        out: list[tuple[int, int] | None] = []
        for p in self._paths:
            try:
                st = os.stat(p)
                out.append((st.st_mtime_ns, st.st_size))
            except OSError:
                out.append(None)
        return tuple(out)

    @property
    def watching(self) -> bool:
        return bool(self._paths)

    def changed(self) -> bool:
        now = self._look()
        if now == self._last:
            return False
        self._last = now
        return True
