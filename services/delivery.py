"""E-mail delivery: the outbox to an SMTP server, at least once per row, never lost.

``send_pending`` works in short transactions so a crash at any point loses nothing:

1. **claim** (one write transaction): due rows (pending, ``next_attempt_at`` reached, no
   live lease) get a lease (``lease_id``, ``lease_until``) by a conditional UPDATE, so two
   senders never send one row at once; the claim is committed before anything is sent.
2. **send** each claimed row over one SMTP connection, with the row's stable Message-ID.
3. **settle** each row in its own transaction right after its send, only if the lease is
   still ours: *sent* (the body scrubbed of its tokens), or back to *pending* with
   exponential backoff and the error kept, or *dead* after ``mail.max_attempts`` refusals.

A crash between 1 and 3 leaves the row leased; when the lease runs out it is due again and
goes out then (once: the lease is released only by the settle step). A server that is down,
times out or drops the connection is not the message's fault: the row stays pending (with
backoff and the error shown) however long that lasts, and never goes dead for it. A server
that answers and refuses the message (4xx/5xx to MAIL, RCPT or DATA) counts an attempt;
after ``mail.max_attempts`` of them the row is dead, with the last error kept, until an
admin retries it.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Callable, Mapping

from pydantic import BaseModel
from sqlalchemy import and_, or_, update
from sqlmodel import Session, col, select

from models.core import OutboxEmail, OutboxStatus
from services import audit, params, tokens
from services.errors import InvalidTransition, NotFound, RegdeskError, ValidationFailed
from services.permissions import SYSTEM, Actor, require
from services.store import Store, now, writes

O = OutboxStatus
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)
ENTITY = "outbox"


class NotConfigured(RegdeskError):
    """No SMTP server is set up: nothing can be sent (and nothing was changed)."""

    exit_code = 9


NOT_CONFIGURED = ("no SMTP server is configured: e-mail waits in the outbox. Set [smtp] host (and port, "
                  "security, user, password_env) in the config file, or REGDESK_SMTP_HOST and friends")


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    security: str = "starttls"  # starttls | tls | none
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    sender: str | None = None  # overrides the mail.from parameter

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> "SmtpSettings | None":
        """Settings from the config/env mapping (``app.settings.resolve().smtp``); None when no host."""
        data = dict(data or {})
        host = str(data.get("host") or "").strip()
        if not host:
            return None
        errors = {}
        security = str(data.get("security") or "starttls").strip().lower()
        if security not in ("starttls", "tls", "none"):
            errors["smtp.security"] = "one of: starttls, tls, none"
        default_port = {"tls": 465, "none": 25}.get(security, 587)
        try:
            port = int(data.get("port") or default_port)
            if not 0 < port < 65536:
                raise ValueError
        except (TypeError, ValueError):
            errors["smtp.port"] = "a port number (1-65535)"
            port = default_port
        try:
            timeout = float(data.get("timeout") or 30)
            if not 0 < timeout <= 600:
                raise ValueError
        except (TypeError, ValueError):
            errors["smtp.timeout"] = "seconds, more than 0 and at most 600"
            timeout = 30.0
        if errors:
            raise ValidationFailed(errors, "the SMTP settings are not valid:\n  "
                                   + "\n  ".join(f"{k}: {v}" for k, v in errors.items()))
        return cls(host=host, port=port, security=security, user=str(data["user"]) if data.get("user") else None,
                   password=str(data["password"]) if data.get("password") else None, timeout=timeout,
                   sender=str(data["sender"]) if data.get("sender") else None)

    def describe(self) -> str:
        who = f"{self.user}@" if self.user else ""
        return f"smtp://{who}{self.host}:{self.port} ({self.security})"


def smtp_status(data: Mapping[str, Any] | None) -> str | None:
    """None when SMTP is usable, else what is wrong, in words for a banner."""
    try:
        return None if SmtpSettings.from_mapping(data) else NOT_CONFIGURED
    except ValidationFailed as exc:
        return exc.message


# ------------------------------------------------------------------ message


def build_message(row: OutboxEmail, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = row.recipient
    msg["Subject"] = row.subject
    msg["Message-ID"] = row.message_id
    msg["Date"] = format_datetime(row.created_at)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(row.body)
    return msg


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after ``attempts`` failed tries: 1, 2, 4 ... minutes, at most an hour."""
    return min(BACKOFF_BASE * (2 ** max(0, attempts - 1)), BACKOFF_CAP)


class _ServerUnavailable(Exception):
    """The server could not be reached or dropped us: not the message's fault."""


def _open(settings: SmtpSettings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    try:
        if settings.security == "tls":
            conn: smtplib.SMTP = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
        else:
            conn = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
        try:
            conn.ehlo()
            if settings.security == "starttls":
                conn.starttls(context=context)
                conn.ehlo()
            if settings.user:
                conn.login(settings.user, settings.password or "")
        except BaseException:
            _close(conn)
            raise
        return conn
    except smtplib.SMTPAuthenticationError as exc:
        raise _ServerUnavailable(f"the SMTP server refused the login of {settings.user!r}: "
                                 f"{exc.smtp_code} {_decode(exc.smtp_error)}") from None
    except smtplib.SMTPNotSupportedError as exc:
        raise _ServerUnavailable(f"the SMTP server does not support {settings.security.upper()}: {exc}") from None
    except smtplib.SMTPResponseException as exc:
        raise _ServerUnavailable(f"the SMTP server answered {exc.smtp_code} {_decode(exc.smtp_error)}") from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise _ServerUnavailable(f"cannot reach the SMTP server {settings.host}:{settings.port}: {_describe(exc)}") from None


def _close(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except Exception:
        try:
            conn.close()
        except Exception:
            pass


def _decode(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__


# ------------------------------------------------------------------ claim / settle


@dataclass
class _Claim:
    id: int
    lease_id: str
    attempts: int


def lease_length(settings: SmtpSettings) -> timedelta:
    """Long enough that a live sender always finishes first: a crashed one's rows come back after it."""
    return max(timedelta(minutes=5), timedelta(seconds=settings.timeout * 4))


def _due(current: datetime):
    return and_(OutboxEmail.status == O.PENDING.value,
                or_(col(OutboxEmail.next_attempt_at).is_(None), col(OutboxEmail.next_attempt_at) <= current),
                or_(col(OutboxEmail.lease_until).is_(None), col(OutboxEmail.lease_until) <= current))


def claim(session: Session, *, limit: int, lease: timedelta) -> list[_Claim]:
    """Lease up to ``limit`` due rows to this sender (conditional updates; commit before sending)."""
    current = now(session)
    ids = session.exec(select(OutboxEmail.id).where(_due(current)).order_by(col(OutboxEmail.id)).limit(limit)).all()
    claims = []
    for row_id in ids:
        lease_id = uuid.uuid4().hex
        result = session.execute(
            update(OutboxEmail).where(OutboxEmail.id == row_id, _due(current))
            .values(lease_id=lease_id, lease_until=current + lease)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            attempts = session.exec(select(OutboxEmail.attempts).where(OutboxEmail.id == row_id)).one()
            claims.append(_Claim(row_id, lease_id, attempts))
    return claims


def _mine(c: _Claim):
    return and_(OutboxEmail.id == c.id, OutboxEmail.lease_id == c.lease_id, OutboxEmail.status == O.PENDING.value)


def _settle_sent(session: Session, c: _Claim) -> bool:
    row = session.exec(select(OutboxEmail).where(_mine(c))).first()
    if row is None:  # our lease ran out and someone else took over: they settle it
        return False
    current = now(session)
    body = tokens.scrub(row.body)
    session.execute(
        update(OutboxEmail).where(_mine(c))
        .values(status=O.SENT.value, sent_at=current, attempts=row.attempts + 1, body=body, secrets_scrubbed=True,
                lease_id=None, lease_until=None, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    audit.record(session, SYSTEM, ENTITY, str(c.id), "sent", before={"status": O.PENDING.value},
                 after={"status": O.SENT.value, "message_id": row.message_id, "attempts": row.attempts + 1})
    return True


def _settle_failed(session: Session, c: _Claim, error: str, *, counts: bool) -> str | None:
    """Back to pending with backoff (or dead after N refusals). Returns the new status."""
    row = session.exec(select(OutboxEmail).where(_mine(c))).first()
    if row is None:
        return None
    current = now(session)
    attempts = row.attempts + 1
    dead = counts and attempts >= params.get(session, "mail.max_attempts")
    values: dict[str, Any] = {"attempts": attempts, "last_error": error[:2000], "lease_id": None, "lease_until": None,
                              "next_attempt_at": None if dead else current + backoff(attempts)}
    if dead:
        values["status"] = O.DEAD.value
    session.execute(update(OutboxEmail).where(_mine(c)).values(**values).execution_options(synchronize_session=False))
    if dead:
        audit.record(session, SYSTEM, ENTITY, str(c.id), "dead", before={"status": O.PENDING.value},
                     after={"status": O.DEAD.value, "attempts": attempts}, comment=error[:2000])
    return O.DEAD.value if dead else O.PENDING.value


# ------------------------------------------------------------------ the sender


class SendReport(BaseModel):
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    server_error: str | None = None
    still_pending: int = 0
    next_attempt_at: datetime | None = None
    errors: list[str] = []


def _read_row(store: Store, c: _Claim) -> tuple[OutboxEmail | None, str]:
    with store.read() as s:
        return s.get(OutboxEmail, c.id), params.get(s, "mail.from")


def send_pending(
    store: Store,
    settings: SmtpSettings | None,
    *,
    limit: int = 100,
    connect: Callable[[SmtpSettings], smtplib.SMTP] | None = None,
    before_send: Callable[[int], None] | None = None,
) -> SendReport:
    """Deliver due outbox rows (see the module doc). ``before_send`` is a test hook."""
    if settings is None:
        raise NotConfigured(NOT_CONFIGURED)
    report = SendReport()
    with store.write() as s:
        claims = claim(s, limit=max(1, limit), lease=lease_length(settings))
    report.claimed = len(claims)
    if claims:
        conn = None
        try:
            try:
                conn = (connect or _open)(settings)
            except _ServerUnavailable as exc:
                report.server_error = str(exc)
            for index, c in enumerate(claims):
                if report.server_error is not None:
                    with store.write() as s:
                        if _settle_failed(s, c, report.server_error, counts=False):
                            report.retrying += 1
                    continue
                row, default_sender = _read_row(store, c)
                if row is None:
                    continue
                if before_send is not None:
                    before_send(c.id)
                outcome: tuple[str, str | None]
                try:
                    refused = conn.send_message(build_message(row, settings.sender or default_sender))  # type: ignore[union-attr]
                    if refused:
                        outcome = ("refused", "; ".join(f"{r}: {code} {_decode(msg)}" for r, (code, msg) in refused.items()))
                    else:
                        outcome = ("sent", None)
                except smtplib.SMTPRecipientsRefused as exc:
                    outcome = ("refused", "; ".join(f"{r}: {code} {_decode(msg)}" for r, (code, msg) in exc.recipients.items()))
                except smtplib.SMTPServerDisconnected as exc:
                    outcome = ("server", f"the SMTP server closed the connection: {exc}")
                except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
                    if exc.smtp_code == 421:  # service not available: the server, not the message
                        outcome = ("server", f"{exc.smtp_code} {_decode(exc.smtp_error)}")
                    else:
                        outcome = ("refused", f"{exc.smtp_code} {_decode(exc.smtp_error)}")
                except smtplib.SMTPResponseException as exc:
                    outcome = ("refused", f"{exc.smtp_code} {_decode(exc.smtp_error)}")
                except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
                    outcome = ("server", f"sending to {settings.host}:{settings.port} failed: {_describe(exc)}")
                except (ValueError, TypeError, UnicodeError) as exc:  # a message that cannot be encoded
                    outcome = ("refused", f"the message cannot be sent: {exc}")
                with store.write() as s:
                    if outcome[0] == "sent":
                        if _settle_sent(s, c):
                            report.sent += 1
                        continue
                    status = _settle_failed(s, c, outcome[1] or "", counts=outcome[0] == "refused")
                report.errors.append(f"#{c.id}: {outcome[1]}")
                if status == O.DEAD.value:
                    report.dead += 1
                elif status == O.PENDING.value:
                    report.retrying += 1
                if outcome[0] == "server":
                    report.server_error = outcome[1]
                    _close(conn)  # type: ignore[arg-type]
                    conn = None
        finally:
            if conn is not None:
                _close(conn)
    with store.read() as s:
        waiting = s.exec(select(OutboxEmail.next_attempt_at).where(OutboxEmail.status == O.PENDING.value)).all()
    report.still_pending = len(waiting)
    upcoming = [t for t in waiting if t is not None]
    report.next_attempt_at = min(upcoming) if upcoming else None
    return report


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
    body = m.body if m.status == O.SENT.value else tokens.scrub(m.body)  # links are for the recipient only
    return OutboxView(id=m.id or 0, created_at=m.created_at, recipient=m.recipient, subject=m.subject, body=body,
                      template=m.template, entity_type=m.entity_type, entity_key=m.entity_key, status=m.status,
                      message_id=m.message_id, attempts=m.attempts, next_attempt_at=m.next_attempt_at,
                      last_error=m.last_error, sent_at=m.sent_at, secrets_scrubbed=m.secrets_scrubbed,
                      leased=m.lease_until is not None and m.lease_until > current)


def list_messages(session: Session, actor: Actor, *, status: str | None = None, limit: int = 200,
                  before_id: int | None = None, entity: str | None = None) -> list[OutboxView]:
    """Newest first, links masked (the console and CLI show bodies to staff, never working tokens)."""
    require(actor, "outbox.view")
    query = select(OutboxEmail)
    if status and status.strip().lower() != "all":
        try:
            query = query.where(OutboxEmail.status == O.parse(status).value)
        except ValueError as exc:
            raise ValidationFailed({"status": str(exc)}) from None
    if before_id is not None:
        query = query.where(OutboxEmail.id < before_id)
    if entity:
        query = query.where(OutboxEmail.entity_key == entity.strip())
    rows = session.exec(query.order_by(col(OutboxEmail.id).desc()).limit(max(1, min(limit, 10_000)))).all()
    current = now(session)
    return [_outbox_view(m, current) for m in rows]


def counts(session: Session, actor: Actor) -> dict[str, int]:
    from sqlalchemy import func

    require(actor, "outbox.view")
    result = {s.value: 0 for s in O}
    for status, n in session.execute(select(OutboxEmail.status, func.count()).group_by(OutboxEmail.status)).all():
        result[status] = n
    return result


@writes
def retry(session: Session, actor: Actor, message_id: int) -> OutboxView:
    """A dead message back to pending (attempts start again); a pending one is made due now."""
    require(actor, "outbox.send")
    from services.validation import record_id

    ident = record_id(message_id)
    row = session.get(OutboxEmail, ident) if ident is not None else None
    if row is None:
        raise NotFound(f"no outbox message {message_id}")
    if row.status == O.SENT.value:
        raise InvalidTransition(f"message {row.id} was sent on {row.sent_at:%Y-%m-%d %H:%M} UTC "
                                f"(Message-ID {row.message_id}): it is not sent again")
    current = now(session)
    before = row.status
    result = session.execute(
        update(OutboxEmail).where(OutboxEmail.id == row.id, OutboxEmail.status == before)
        .values(status=O.PENDING.value, attempts=0 if before == O.DEAD.value else row.attempts, next_attempt_at=current)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidTransition(f"message {row.id} changed meanwhile: reread and try again")
    audit.record(session, actor, ENTITY, str(row.id), "retry", before={"status": before, "attempts": row.attempts},
                 after={"status": O.PENDING.value}, comment=row.last_error)
    session.expire(row)
    return _outbox_view(session.get(OutboxEmail, row.id), current)  # type: ignore[arg-type]


def require_send(session: Session, actor: Actor) -> None:
    """Refuse an operator who may not send before anything is claimed."""
    require(actor, "outbox.send")
