"""The audit trail: who did what to which record, when, the values before and after, and why."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col, select

from models.core import AuditEvent
from services.identity import login_default
from services.permissions import Actor, require
from services.store import now


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


DEFERRED_NUMBERS = "regdesk_deferred_numbers"  # session.info key of services.sequences.defer_numbers


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
    event = AuditEvent(
        at=now(session),
        operator=actor.user_name,
        entity_type=entity_type,
        entity_key=entity_key,
        action=action,
        before=_dump(before),
        after=_dump(after),
        comment=comment,
        # PostgreSQL's trigger replaces db_login with session_user; on SQLite it is the OS login
        db_login=actor.login or login_default(session.get_bind()),
        acting_reason=actor.reason,
    )
    deferred = session.info.get(DEFERRED_NUMBERS)
    if deferred is not None:
        deferred.setdefault("audit", []).append(event)
    else:
        session.add(event)
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


def _view(event: AuditEvent) -> AuditView:
    return AuditView(
        id=event.id or 0,
        at=event.at,
        operator=event.operator,
        entity_type=event.entity_type,
        entity_key=event.entity_key,
        action=event.action,
        before=json.loads(event.before) if event.before else None,
        after=json.loads(event.after) if event.after else None,
        comment=event.comment,
        db_login=event.db_login,
        acting_reason=event.acting_reason,
    )


def history(session: Session, entity_type: str, entity_key: str) -> list[AuditView]:
    """Events of one record, oldest first (no permission check: callers already did theirs)."""
    rows = session.exec(
        select(AuditEvent)
        .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_key == entity_key)
        .order_by(col(AuditEvent.id))
    ).all()
    return [_view(e) for e in rows]


def list_events(session: Session, actor: Actor, *, entity: str | None = None, limit: int = 200) -> list[AuditView]:
    """Newest first; ``entity`` is a record key (e.g. a registration number or account)."""
    require(actor, "audit.view")
    query = select(AuditEvent)
    if entity:
        query = query.where(AuditEvent.entity_key == entity)
    rows = session.exec(query.order_by(col(AuditEvent.id).desc()).limit(max(1, min(limit, 10_000)))).all()
    return [_view(e) for e in rows]
