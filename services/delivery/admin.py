"""What staff see and do with the outbox: the messages (links masked), counts, and retry."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from models.core import OutboxEmail
from services import audit, mail, tokens
from services.delivery.lease import ENTITY, O
from services.errors import InvalidTransition, NotFound, ValidationFailed
from services.permissions import Actor, require
from services.store import Replan, begin_write, in_plan_phase, now, writes

# ------------------------------------------------------------------ admin actions and views


class OutboxView(BaseModel):
    id: int
    created_at: datetime
    recipient: str
    subject: str
    body: str
    template: str
    entity_type: str
    entity_key: str
    status: str
    message_id: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    sent_at: datetime | None
    secrets_scrubbed: bool
    leased: bool


def _outbox_view(m: OutboxEmail, current: datetime) -> OutboxView:
    body = mail.mask_slots(tokens.scrub(m.body))  # links are for the recipient only (and made when sent)
    return OutboxView(
        id=m.id or 0,
        created_at=m.created_at,
        recipient=m.recipient,
        subject=m.subject,
        body=body,
        template=m.template,
        entity_type=m.entity_type,
        entity_key=m.entity_key,
        status=m.status,
        message_id=m.message_id,
        attempts=m.attempts,
        next_attempt_at=m.next_attempt_at,
        last_error=m.last_error,
        sent_at=m.sent_at,
        secrets_scrubbed=m.secrets_scrubbed,
        leased=m.lease_until is not None and m.lease_until > current,
    )


def list_messages(
    session: Session,
    actor: Actor,
    *,
    status: str | None = None,
    limit: int = 200,
    before_id: int | None = None,
    entity: str | None = None,
) -> list[OutboxView]:
    """Newest first, links masked (the console and CLI show bodies to staff, never working tokens)."""
    require(actor, "outbox.view")
    query = select(OutboxEmail)
    if status and status.strip().lower() != "all":
        try:
            query = query.where(col(OutboxEmail.status) == O.parse(status).value)
        except ValueError as exc:
            raise ValidationFailed({"status": str(exc)}) from None
    if before_id is not None:
        query = query.where(col(OutboxEmail.id) < before_id)
    if entity:
        query = query.where(col(OutboxEmail.entity_key) == entity.strip())
    rows = session.exec(query.order_by(col(OutboxEmail.id).desc()).limit(max(1, min(limit, 10_000)))).all()
    current = now(session)
    return [_outbox_view(m, current) for m in rows]


def counts(session: Session, actor: Actor) -> dict[str, int]:
    require(actor, "outbox.view")
    result = {s.value: 0 for s in O}
    for status, n in session.execute(select(OutboxEmail.status, func.count()).group_by(OutboxEmail.status)).all():
        result[status] = n
    return result


@writes(phased=True)
def retry(session: Session, actor: Actor, message_id: int) -> OutboxView:
    """A dead message back to pending (attempts start again); a pending one is made due now."""
    require(actor, "outbox.send")
    from services.validation import record_id

    ident = record_id(message_id)
    row = session.get(OutboxEmail, ident) if ident is not None else None
    if row is None:
        raise NotFound(f"no outbox message {message_id}")
    if row.status == O.SENT.value:
        raise InvalidTransition(
            f"message {row.id} was sent on {row.sent_at:%Y-%m-%d %H:%M} UTC "
            f"(Message-ID {row.message_id}): it is not sent again"
        )
    planned = in_plan_phase(session)
    begin_write(session)  # the refusals above read only; the update below re-checks the status
    current = now(session)
    before = row.status
    result = session.execute(
        update(OutboxEmail)
        .where(col(OutboxEmail.id) == row.id, col(OutboxEmail.status) == before)
        .values(status=O.PENDING.value, attempts=0 if before == O.DEAD.value else row.attempts, next_attempt_at=current)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]  # sqlmodel types execute() as Result; an UPDATE's is a CursorResult
        if planned:  # moved since the plan read it (sent, leased): plan afresh for the right answer
            raise Replan()
        raise InvalidTransition(f"message {row.id} changed meanwhile: reread and try again")
    audit.record(
        session,
        actor,
        ENTITY,
        str(row.id),
        "retry",
        before={"status": before, "attempts": row.attempts},
        after={"status": O.PENDING.value},
        comment=row.last_error,
    )
    session.expire(row)
    return _outbox_view(session.get(OutboxEmail, row.id), current)  # type: ignore[arg-type]


def require_send(session: Session, actor: Actor) -> None:
    """Refuse an operator who may not send before anything is claimed."""
    require(actor, "outbox.send")
