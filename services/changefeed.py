"""A cheap "something changed" signal for open consoles, on both stores.

Every change a service makes writes an audit row in the same transaction, so the newest
audit id is a monotonic change counter: ``latest_change`` reads it through the primary key
(``SELECT max(id)``: one index probe, O(1) whatever the size of the trail). A console polls
it about once a second in a thread worker and rereads only its visible list when it moved.

On PostgreSQL ``services.audit.record`` also calls ``notify``: a ``NOTIFY regdesk_changes``
once per transaction, sent right after that transaction commits (never for a rollback), so a
``Listener`` (LISTEN on its own connection) wakes the console at once instead of at its next
poll. Sent after the commit, in a tiny transaction of its own on the same connection, not
inside the write transaction: the server serializes the commits of notifying transactions on
one database-wide lock held through the commit's WAL flush, so with a NOTIFY inside, every
command's commit (and, behind it, every row lock it holds, such as a create's gap-free
sequence row) queued behind every other command's disk flush, long ones while an import wrote.
A NOTIFY-only transaction writes no WAL before its commit, so its commit does not wait for a
flush and the lock is held for microseconds. SQLite has no such thing: a ``FileWatch`` stats the database file and its write-ahead log
(a few microseconds, no query) every tenth of a second and the counter is read only when one of
them changed; the poll stays as the fallback.

``changes_since`` returns the events after a counter value (bounded), so the console can say
what happened (a request that became Verified) without rereading anything else.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from sqlalchemy import event, func, select
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
    """PostgreSQL: wake listening consoles once this transaction has committed (once per
    transaction; nothing for a rollback). No statement now: ``_send_after_commit`` sends it."""
    if session.get_bind().dialect.name != "postgresql":
        return
    tx = id(session.get_transaction())
    if session.info.get(_NOTIFIED, (None,))[0] == tx:
        return
    # the DBAPI connection this transaction runs on: after its COMMIT it is idle, still the session's
    session.info[_NOTIFIED] = (tx, session.connection().connection.dbapi_connection)


_NOTIFY_SQL = f"SELECT pg_notify('{CHANNEL}', '')"


def _ended(session: Session) -> Any:
    """The DBAPI connection to notify on, when the transaction that called ``notify`` has ended
    (a savepoint's release or rollback fires the same session events: the flag stays)."""
    entry = session.info.get(_NOTIFIED)
    if entry is None:
        return None
    if entry[0] != id(session.get_transaction()):  # left by a transaction closed without commit or rollback
        session.info.pop(_NOTIFIED)
        return None
    try:
        if entry[1].info.transaction_status != 0:  # psycopg's pq.TransactionStatus.IDLE: no transaction open
            return None
    except Exception:  # closed or broken: nothing to send on
        pass
    return session.info.pop(_NOTIFIED)[1]


@event.listens_for(Session, "after_commit")
def _send_after_commit(session: Session) -> None:
    dbapi = _ended(session)
    if dbapi is None:
        return
    try:
        # its own transaction (autocommit for one statement; psycopg switches client-side, no round trip)
        dbapi.autocommit = True
        try:
            dbapi.execute(_NOTIFY_SQL)
        finally:
            dbapi.autocommit = False
    except Exception:  # a wake-up only: the consoles' poll still sees the change
        pass


@event.listens_for(Session, "after_rollback")
def _forget_after_rollback(session: Session) -> None:
    _ended(session)


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
