"""The audit trail: who did what to which record, when, the values before and after, and why."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlalchemy import bindparam, insert
from sqlmodel import Session, col, select

from models.core import AuditEvent
from services.identity import login_default
from services.permissions import Actor, require
from services.store import in_plan_phase, now


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _dump(values: dict[str, Any] | None) -> str | None:
    if values is None:
        return None
    return json.dumps({k: _jsonable(v) for k, v in values.items()}, sort_keys=True, ensure_ascii=False)


DEFERRED_NUMBERS = "regdesk_deferred_numbers"
_INSERT = insert(AuditEvent.__table__)  # type: ignore[attr-defined]  # sqlmodel's table models have one  # session.info key of services.sequences.defer_numbers


def record(
    session: Session,
    actor: Actor,
    entity_type: str,
    entity_key: str,
    action: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    comment: str | None = None,
) -> None:
    """Add one event to the caller's transaction (it commits or rolls back with the change).

    While gap-free numbers are deferred (``sequences.defer_numbers``) the event is held and
    inserted by ``sequences.settle`` with the real numbers in it: the audit trail is insert-only
    (operator logins may not UPDATE it on PostgreSQL), so it is never rewritten afterwards."""
    values: dict[str, Any] = {
        "at": now(session),
        "operator": actor.user_name,
        "entity_type": entity_type,
        "entity_key": entity_key,
        "action": action,
        "before": _dump(before),
        "after": _dump(after),
        "comment": comment,
        # PostgreSQL's trigger replaces db_login with session_user; on SQLite it is the OS login
        "db_login": actor.login or login_default(session.get_bind()),
        "acting_reason": actor.reason,
    }
    deferred = session.info.get(DEFERRED_NUMBERS)
    if deferred is not None:
        deferred.setdefault("audit", []).append(AuditEvent(**values))
    elif in_plan_phase(session):  # not written yet: flushed with the write phase's first statement, as before
        session.add(AuditEvent(**values))
    else:
        # one INSERT now, not an ORM object for the flush (its construction and unit of work cost
        # more CPU than the statement); a value left None gets the column's default, as the
        # flush of an AuditEvent gives it (acting_reason from the session's default)
        session.execute(_INSERT, {k: v for k, v in values.items() if v is not None})
    from services import changefeed

    changefeed.notify(session)  # PostgreSQL: wake open consoles at commit (services/changefeed.py)


def changed(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Only the keys whose values differ, for a compact before/after pair."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


class AuditView(BaseModel):
    id: int
    at: datetime
    operator: str
    entity_type: str
    entity_key: str
    action: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    comment: str | None
    db_login: str | None = None  # who was connected: database login (PostgreSQL) or OS login (SQLite)
    acting_reason: str | None = None


# The reads of the trail, built once (the audit list and every detail view run them): the
# columns of an AuditView, values as parameters; rows are read without the ORM's identity map.
_COLUMNS: tuple[Any, ...] = (
    col(AuditEvent.id),
    col(AuditEvent.at),
    col(AuditEvent.operator),
    col(AuditEvent.entity_type),
    col(AuditEvent.entity_key),
    col(AuditEvent.action),
    col(AuditEvent.before),
    col(AuditEvent.after),
    col(AuditEvent.comment),
    col(AuditEvent.db_login),
    col(AuditEvent.acting_reason),
)
_HISTORY = (
    select(*_COLUMNS)
    .where(col(AuditEvent.entity_type) == bindparam("entity_type"), col(AuditEvent.entity_key) == bindparam("key"))
    .order_by(col(AuditEvent.id))
)
_NEWEST = select(*_COLUMNS).order_by(col(AuditEvent.id).desc()).limit(bindparam("limit"))
_NEWEST_OF = (
    select(*_COLUMNS)
    .where(col(AuditEvent.entity_key) == bindparam("key"))
    .order_by(col(AuditEvent.id).desc())
    .limit(bindparam("limit"))
)


def _views(rows: Any) -> list[AuditView]:
    return [
        AuditView(
            id=r[0] or 0,
            at=r[1],
            operator=r[2],
            entity_type=r[3],
            entity_key=r[4],
            action=r[5],
            before=json.loads(r[6]) if r[6] else None,
            after=json.loads(r[7]) if r[7] else None,
            comment=r[8],
            db_login=r[9],
            acting_reason=r[10],
        )
        for r in rows
    ]


def history(session: Session, entity_type: str, entity_key: str) -> list[AuditView]:
    """Events of one record, oldest first (no permission check: callers already did theirs)."""
    return _views(session.connection().execute(_HISTORY, {"entity_type": entity_type, "key": entity_key}))


def list_events(session: Session, actor: Actor, *, entity: str | None = None, limit: int = 200) -> list[AuditView]:
    """Newest first; ``entity`` is a record key (e.g. a registration number or account)."""
    require(actor, "audit.view")
    params: dict[str, Any] = {"limit": max(1, min(limit, 10_000))}
    if entity:
        params["key"] = entity
    return _views(session.connection().execute(_NEWEST_OF if entity else _NEWEST, params))
