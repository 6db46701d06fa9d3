"""The outbox rows' life: lease the next due row (rendering it and minting its link in the same
transaction), and settle it after the send (sent, back off, dead) only while the lease is ours."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Callable, Sequence

from sqlalchemy import ColumnElement, and_, or_, update
from sqlmodel import Session, col, select

from models.core import OutboxEmail, OutboxStatus
from services import audit, mail, params, tokens
from services.delivery.smtp import SmtpSettings, build_message
from services.errors import RegdeskError
from services.permissions import SYSTEM
from services.store import now

O = OutboxStatus  # noqa: E741  (the status enum, short in the many conditional UPDATEs)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)
ENTITY = "outbox"
SENT_MASK = "[link removed after delivery]"


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after ``attempts`` failed tries: 1, 2, 4 ... minutes, at most an hour."""
    return min(BACKOFF_BASE * (1 << min(max(0, attempts - 1), 16)), BACKOFF_CAP)  # 2**16 minutes: past the cap


# ------------------------------------------------------------------ lease / render / settle


@dataclass
class Claim:
    id: int
    lease_id: str
    attempts: int
    recovered: bool = False  # its previous lease ran out: a sender stopped while it held it
    message: EmailMessage | None = None
    sent_body: str | None = None  # what the row keeps once sent (no secret)
    until: float | None = None  # monotonic deadline of the send (lease minus a margin)


def lease_length(settings: SmtpSettings) -> timedelta:
    """One message's lease: room for the longest send the timeout allows, plus a margin.

    Short (timeout 30 s -> 70 s) because it covers one message only and is taken afresh
    for each: a killed sender holds one row back for at most this long.
    """
    return timedelta(seconds=2 * settings.timeout + 10)


def margin(lease: timedelta) -> float:
    """Seconds a send stops before its lease ends (commit latency and clock skew between senders)."""
    return min(10.0, lease.total_seconds() / 4)


def due(current: datetime) -> ColumnElement[bool]:
    """Pending, its next try reached, and no live lease on it."""
    return and_(
        col(OutboxEmail.status) == O.PENDING.value,
        or_(col(OutboxEmail.next_attempt_at).is_(None), col(OutboxEmail.next_attempt_at) <= current),
        or_(col(OutboxEmail.lease_until).is_(None), col(OutboxEmail.lease_until) <= current),
    )


def minters() -> dict[str, Callable[[Session, str], dict[str, str]]]:
    from services import portal, signup

    return {"signup_verify": signup.mint_verification_link, "portal_logon": portal.mint_activation_link}


class NotSendable(Exception):
    """The row must not go out (its link would not work, or a newer mail replaced it)."""


def render(session: Session, row: OutboxEmail, sender: str, current: datetime) -> tuple[EmailMessage, str]:
    """The message to send now and the body the row keeps once sent. Mints the row's link
    (replacing the record's earlier token) in the caller's transaction."""
    nonce = mail.nonce_of(row.message_id)
    body = sent_body = row.body
    if mail.has_slots(row.body, nonce):
        newer = session.exec(
            select(OutboxEmail.id)
            .where(
                col(OutboxEmail.template) == row.template,
                col(OutboxEmail.entity_type) == row.entity_type,
                col(OutboxEmail.entity_key) == row.entity_key,
                col(OutboxEmail.id) > row.id,
                col(OutboxEmail.status) != O.DEAD.value,
            )
            .limit(1)
        ).first()
        if newer is not None:
            raise NotSendable(f"not sent: replaced by the newer e-mail #{newer} with its own link")
        minter = minters().get(row.template)
        if minter is None:
            raise NotSendable(f"not sent: template {row.template!r} has no link to make")
        try:
            values = minter(session, row.entity_key)
        except RegdeskError as exc:
            raise NotSendable(f"not sent: {exc.message}") from None
        body = mail.fill_slots(row.body, nonce, values)
        sent_body = mail.fill_slots(
            row.body, nonce, {"link": SENT_MASK, "token": SENT_MASK, "expires": values.get("expires", "")}
        )
    elif tokens.TOKEN_PATTERN.search(row.body):  # a row queued before tokens were minted at send time
        sent_body = tokens.scrub(row.body)
    return build_message(row, sender, date=current, body=body), sent_body


def sender_address(session: Session, settings: SmtpSettings) -> str:
    return settings.sender or params.get(session, "mail.from")


def due_ids(
    session: Session, current: datetime, *, limit: int, skip: set[int] | None = None, ids: Sequence[int] | None = None
) -> list[int]:
    """The ids of the due rows, oldest first (``skip``: not these; ``ids``: only these)."""
    query = select(col(OutboxEmail.id)).where(due(current))
    if skip:
        query = query.where(col(OutboxEmail.id).not_in(skip))
    if ids is not None:
        query = query.where(col(OutboxEmail.id).in_(list(ids)))
    return [i for i in session.exec(query.order_by(col(OutboxEmail.id)).limit(limit)).all() if i is not None]


def _take_lease(session: Session, row_id: int, current: datetime, lease: timedelta) -> str | None:
    """A fresh lease on the row if it is still due (a conditional UPDATE): its id, or None when
    another sender got there first."""
    lease_id = uuid.uuid4().hex
    result = session.execute(
        update(OutboxEmail)
        .where(col(OutboxEmail.id) == row_id, due(current))
        .values(lease_id=lease_id, lease_until=current + lease)
        .execution_options(synchronize_session=False)
    )
    return lease_id if result.rowcount == 1 else None  # type: ignore[attr-defined]  # sqlmodel types execute() as Result; an UPDATE's is a CursorResult


def lease_next(
    session: Session, settings: SmtpSettings, lease: timedelta, *, skip: set[int], ids: Sequence[int] | None = None
) -> tuple[Claim | None, str | None]:
    """Lease, render and mint the next due row (one transaction). Returns (claim, None), or
    (None, reason) for a row that went dead without a send, or (None, None) when nothing is due."""
    current = now(session)
    for row_id in due_ids(session, current, limit=20, skip=skip, ids=ids):
        before = session.exec(
            select(OutboxEmail.lease_until, OutboxEmail.attempts).where(col(OutboxEmail.id) == row_id)
        ).first()
        lease_id = _take_lease(session, row_id, current, lease)
        if lease_id is None:
            continue  # another sender leased it first
        row = session.exec(select(OutboxEmail).where(col(OutboxEmail.id) == row_id)).one()
        claim = Claim(row_id, lease_id, row.attempts, recovered=before is not None and before[0] is not None)
        sender = sender_address(session, settings)
        if before is not None and before[0] is None and row.attempts == 0:  # first lease: the sender's domain
            nonce = mail.nonce_of(row.message_id)
            wanted = mail.new_message_id(nonce, sender) if nonce else row.message_id
            if wanted != row.message_id:
                session.execute(
                    update(OutboxEmail)
                    .where(col(OutboxEmail.id) == row_id)
                    .values(message_id=wanted)
                    .execution_options(synchronize_session=False)
                )
                row.message_id = wanted
        if claim.recovered:
            audit.record(
                session,
                SYSTEM,
                ENTITY,
                str(row_id),
                "lease expired",
                comment="a sender stopped while it held this message; sending it again "
                "(same Message-ID: if the stopped sender had delivered it, this is a repeat)",
            )
        try:
            claim.message, claim.sent_body = render(session, row, sender, current)
        except NotSendable as exc:
            settle_dead(session, claim, str(exc), attempts=row.attempts)
            return None, f"#{row_id}: {exc}"
        return claim, None
    return None, None


def claim(session: Session, *, limit: int, lease: timedelta) -> list[Claim]:
    """Lease up to ``limit`` due rows without rendering them (tests of the lease alone)."""
    current = now(session)
    claims = []
    for row_id in due_ids(session, current, limit=limit):
        lease_id = _take_lease(session, row_id, current, lease)
        if lease_id is not None:
            attempts = session.exec(select(OutboxEmail.attempts).where(col(OutboxEmail.id) == row_id)).one()
            claims.append(Claim(row_id, lease_id, attempts))
    return claims


def mine(c: Claim) -> ColumnElement[bool]:
    """The claimed row, only while its lease is still ours."""
    return and_(
        col(OutboxEmail.id) == c.id, col(OutboxEmail.lease_id) == c.lease_id, col(OutboxEmail.status) == O.PENDING.value
    )


def settle_sent(session: Session, c: Claim) -> bool:
    row = session.exec(select(OutboxEmail).where(mine(c))).first()
    if row is None:  # our lease was taken over (cannot happen within the deadline): the other sender settles
        return False
    current = now(session)
    body = c.sent_body if c.sent_body is not None else tokens.scrub(row.body)
    session.execute(
        update(OutboxEmail)
        .where(mine(c))
        .values(
            status=O.SENT.value,
            sent_at=current,
            attempts=row.attempts + 1,
            body=body,
            secrets_scrubbed=True,
            lease_id=None,
            lease_until=None,
            next_attempt_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        SYSTEM,
        ENTITY,
        str(c.id),
        "sent",
        before={"status": O.PENDING.value},
        after={"status": O.SENT.value, "message_id": row.message_id, "attempts": row.attempts + 1},
    )
    return True


def settle_dead(session: Session, c: Claim, error: str, *, attempts: int) -> None:
    session.execute(
        update(OutboxEmail)
        .where(mine(c))
        .values(
            status=O.DEAD.value,
            attempts=attempts,
            last_error=error[:2000],
            lease_id=None,
            lease_until=None,
            next_attempt_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session,
        SYSTEM,
        ENTITY,
        str(c.id),
        "dead",
        before={"status": O.PENDING.value},
        after={"status": O.DEAD.value, "attempts": attempts},
        comment=error[:2000],
    )


def settle_failed(session: Session, c: Claim, error: str, *, counts: bool, permanent: bool = False) -> str | None:
    """Back to pending with backoff, or dead (a permanent refusal, or N temporary ones)."""
    row = session.exec(select(OutboxEmail).where(mine(c))).first()
    if row is None:
        return None
    current = now(session)
    attempts = row.attempts + 1
    dead = permanent or (counts and attempts >= params.get(session, "mail.max_attempts"))
    if dead:
        settle_dead(session, c, error, attempts=attempts)
        return O.DEAD.value
    session.execute(
        update(OutboxEmail)
        .where(mine(c))
        .values(
            attempts=attempts,
            last_error=error[:2000],
            lease_id=None,
            lease_until=None,
            next_attempt_at=current + backoff(attempts),
        )
        .execution_options(synchronize_session=False)
    )
    return O.PENDING.value


def back_off_due(session: Session, error: str, *, limit: int, ids: Sequence[int] | None = None) -> int:
    """The server cannot be reached: every due row (not leased) waits its backoff, error kept."""
    current = now(session)
    query = select(OutboxEmail.id, OutboxEmail.attempts).where(due(current))
    if ids is not None:
        query = query.where(col(OutboxEmail.id).in_(list(ids)))
    n = 0
    for row_id, attempts in session.exec(query.order_by(col(OutboxEmail.id)).limit(limit)).all():
        result = session.execute(
            update(OutboxEmail)
            .where(col(OutboxEmail.id) == row_id, col(OutboxEmail.attempts) == attempts, due(current))
            .values(attempts=attempts + 1, last_error=error[:2000], next_attempt_at=current + backoff(attempts + 1))
            .execution_options(synchronize_session=False)
        )
        n += result.rowcount  # type: ignore[attr-defined]  # sqlmodel types execute() as Result; an UPDATE's is a CursorResult
    return n
