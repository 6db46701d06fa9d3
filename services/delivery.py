"""E-mail delivery: the outbox to an SMTP server, once per row as far as SMTP allows, never lost.

``send_pending`` handles one message at a time, each in short transactions:

1. **lease** (one write transaction, immediately before the send): the next due row
   (pending, ``next_attempt_at`` reached, no live lease) gets a fresh lease (``lease_id``,
   ``lease_until`` = now + ``lease_length``) by a conditional UPDATE on the row's lease, so
   two senders never hold one row at once. In the same transaction the message is rendered
   for sending: the Date is now, a single-use link is minted (services/mail.py: only its
   hash is stored, replacing the record's earlier one) and the Message-ID's domain is the
   sender's (fixed at the row's first lease, stable after that).
2. **send** it over the sender's SMTP connection, with a deadline: every socket wait is cut
   so the whole send ends before the lease does (minus a margin). A sender never starts or
   continues a send its lease does not cover, so no other sender can pick the row up while
   this one may still deliver it.
3. **settle** it in its own transaction, only if the lease is still ours: *sent* (the body
   keeps no secret), back to *pending* with exponential backoff and the error, or *dead*.

Only the one message in flight is leased, so a killed sender holds back one row, for one
short lease; the next run picks it up and says so (``SendReport.recovered``). The one case
of a repeat: the connection drops after the message's data went out but before the
server's answer; the server may have accepted it, and the next try sends it again with the
same Message-ID (receivers and the recipient can tell it is the same message).

A server that cannot be reached, times out, drops the connection or answers 421 is not the
message's fault: the due rows stay pending with backoff and the error shown, never dead
for it. A temporary refusal (4xx to MAIL, RCPT or DATA) backs off and counts an attempt;
after ``mail.max_attempts`` the row is dead. A permanent refusal (5xx) makes the row dead
at once, with the server's answer kept, until an admin retries it.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, Callable, Mapping, Sequence

from pydantic import BaseModel
from sqlalchemy import and_, func, or_, update
from sqlmodel import Session, col, select

from models.core import OutboxEmail, OutboxStatus
from services import audit, mail, params, tokens
from services.errors import InvalidTransition, NotFound, RegdeskError, ValidationFailed
from services.permissions import SYSTEM, Actor, require
from services.store import Replan, Store, begin_write, in_plan_phase, now, writes

O = OutboxStatus  # noqa: E741  (the status enum, short in the many conditional UPDATEs)
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=1)
ENTITY = "outbox"
DELIVERY_FAILED_EXIT = 10  # README: outbox send delivered nothing that was due / the server does not answer
SENT_MASK = "[link removed after delivery]"


class NotConfigured(RegdeskError):
    """No SMTP server is set up: nothing can be sent (and nothing was changed)."""

    exit_code = 9


class ServerNotAnswering(RegdeskError):
    """``outbox status``: the SMTP server did not answer (connect, EHLO, NOOP)."""

    exit_code = DELIVERY_FAILED_EXIT


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


def build_message(row: OutboxEmail, sender: str, *, date: datetime | None = None, body: str | None = None) -> EmailMessage:
    """The e-mail as sent: ``date`` is the send time, ``body`` the rendered body (slots filled)."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = row.recipient
    msg["Subject"] = row.subject
    msg["Message-ID"] = row.message_id
    msg["Date"] = format_datetime(date or row.created_at)
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(row.body if body is None else body)
    return msg


def backoff(attempts: int) -> timedelta:
    """Delay before the next try after ``attempts`` failed tries: 1, 2, 4 ... minutes, at most an hour."""
    return min(BACKOFF_BASE * (2 ** max(0, attempts - 1)), BACKOFF_CAP)


class _ServerUnavailable(Exception):
    """The server could not be reached or dropped us: not the message's fault."""


class _Deadline:
    """Cuts every socket wait of an SMTP connection so a send ends before ``until`` (monotonic)."""

    until: float | None = None
    _op_timeout: float = 30.0

    def _arm(self) -> None:
        if self.until is None or getattr(self, "sock", None) is None:
            return
        left = self.until - time.monotonic()
        if left <= 0:
            raise socket.timeout("the lease on the message ran out before the server answered")
        self.sock.settimeout(min(left, self._op_timeout))  # type: ignore[attr-defined]

    def send(self, s):  # type: ignore[override]
        self._arm()
        return super().send(s)  # type: ignore[misc]

    def getreply(self):  # type: ignore[override]
        self._arm()
        return super().getreply()  # type: ignore[misc]


class _SMTP(_Deadline, smtplib.SMTP):
    pass


class _SMTP_SSL(_Deadline, smtplib.SMTP_SSL):
    pass


def _open(settings: SmtpSettings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    try:
        if settings.security == "tls":
            conn: smtplib.SMTP = _SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
        else:
            conn = _SMTP(settings.host, settings.port, timeout=settings.timeout)
        conn._op_timeout = settings.timeout  # type: ignore[attr-defined]
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


def check_server(settings: SmtpSettings | None) -> str:
    """Connect, EHLO (STARTTLS and login as configured) and NOOP within the timeout: the
    server's answer in words, or ``ServerNotAnswering`` saying what went wrong."""
    if settings is None:
        raise NotConfigured(NOT_CONFIGURED)
    try:
        conn = _open(settings)
    except _ServerUnavailable as exc:
        raise ServerNotAnswering(str(exc)) from None
    try:
        code, text = conn.noop()
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise ServerNotAnswering(f"the SMTP server {settings.host}:{settings.port} did not answer NOOP: "
                                 f"{_describe(exc)}") from None
    finally:
        _close(conn)
    if code != 250:
        raise ServerNotAnswering(f"the SMTP server answered NOOP with {code} {_decode(text)}")
    return f"{settings.describe()} answers ({code} {_decode(text)})".strip()


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
        return f"timed out ({exc})" if str(exc) and str(exc) != "timed out" else "timed out"
    return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__


# ------------------------------------------------------------------ lease / render / settle


@dataclass
class _Claim:
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


def _margin(lease: timedelta) -> float:
    """Seconds a send stops before its lease ends (commit latency and clock skew between senders)."""
    return min(10.0, lease.total_seconds() / 4)


def _due(current: datetime):
    return and_(OutboxEmail.status == O.PENDING.value,
                or_(col(OutboxEmail.next_attempt_at).is_(None), col(OutboxEmail.next_attempt_at) <= current),
                or_(col(OutboxEmail.lease_until).is_(None), col(OutboxEmail.lease_until) <= current))


def _minters() -> dict[str, Callable[[Session, str], dict[str, str]]]:
    from services import portal, signup

    return {"signup_verify": signup.mint_verification_link, "portal_logon": portal.mint_activation_link}


class _NotSendable(Exception):
    """The row must not go out (its link would not work, or a newer mail replaced it)."""


def _render(session: Session, row: OutboxEmail, sender: str, current: datetime) -> tuple[EmailMessage, str]:
    """The message to send now and the body the row keeps once sent. Mints the row's link
    (replacing the record's earlier token) in the caller's transaction."""
    nonce = mail.nonce_of(row.message_id)
    body = sent_body = row.body
    if mail.has_slots(row.body, nonce):
        newer = session.exec(
            select(OutboxEmail.id).where(OutboxEmail.template == row.template, OutboxEmail.entity_type == row.entity_type,
                                         OutboxEmail.entity_key == row.entity_key, OutboxEmail.id > row.id,
                                         OutboxEmail.status != O.DEAD.value).limit(1)
        ).first()
        if newer is not None:
            raise _NotSendable(f"not sent: replaced by the newer e-mail #{newer} with its own link")
        minter = _minters().get(row.template)
        if minter is None:
            raise _NotSendable(f"not sent: template {row.template!r} has no link to make")
        try:
            values = minter(session, row.entity_key)
        except RegdeskError as exc:
            raise _NotSendable(f"not sent: {exc.message}") from None
        body = mail.fill_slots(row.body, nonce, values)
        sent_body = mail.fill_slots(row.body, nonce, {"link": SENT_MASK, "token": SENT_MASK,
                                                      "expires": values.get("expires", "")})
    elif tokens.TOKEN_PATTERN.search(row.body):  # a row queued before tokens were minted at send time
        sent_body = tokens.scrub(row.body)
    return build_message(row, sender, date=current, body=body), sent_body


def _sender(session: Session, settings: SmtpSettings) -> str:
    return settings.sender or params.get(session, "mail.from")


def _lease_next(session: Session, settings: SmtpSettings, lease: timedelta, *, skip: set[int],
                ids: Sequence[int] | None = None) -> tuple[_Claim | None, str | None]:
    """Lease, render and mint the next due row (one transaction). Returns (claim, None), or
    (None, reason) for a row that went dead without a send, or (None, None) when nothing is due."""
    current = now(session)
    query = select(OutboxEmail.id).where(_due(current))
    if skip:
        query = query.where(col(OutboxEmail.id).not_in(skip))
    if ids is not None:
        query = query.where(col(OutboxEmail.id).in_(list(ids)))
    for row_id in session.exec(query.order_by(col(OutboxEmail.id)).limit(20)).all():
        before = session.exec(select(OutboxEmail.lease_until, OutboxEmail.attempts).where(OutboxEmail.id == row_id)).first()
        lease_id = uuid.uuid4().hex
        result = session.execute(
            update(OutboxEmail).where(OutboxEmail.id == row_id, _due(current))
            .values(lease_id=lease_id, lease_until=current + lease)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            continue  # another sender leased it first
        row = session.exec(select(OutboxEmail).where(OutboxEmail.id == row_id)).one()
        claim = _Claim(row_id, lease_id, row.attempts, recovered=before is not None and before[0] is not None)
        sender = _sender(session, settings)
        if before is not None and before[0] is None and row.attempts == 0:  # first lease: the sender's domain
            nonce = mail.nonce_of(row.message_id)
            wanted = mail.new_message_id(nonce, sender) if nonce else row.message_id
            if wanted != row.message_id:
                session.execute(update(OutboxEmail).where(OutboxEmail.id == row_id).values(message_id=wanted)
                                .execution_options(synchronize_session=False))
                row.message_id = wanted
        if claim.recovered:
            audit.record(session, SYSTEM, ENTITY, str(row_id), "lease expired",
                         comment="a sender stopped while it held this message; sending it again "
                                 "(same Message-ID: if the stopped sender had delivered it, this is a repeat)")
        try:
            claim.message, claim.sent_body = _render(session, row, sender, current)
        except _NotSendable as exc:
            _settle_dead(session, claim, str(exc), attempts=row.attempts)
            return None, f"#{row_id}: {exc}"
        return claim, None
    return None, None


def claim(session: Session, *, limit: int, lease: timedelta) -> list[_Claim]:
    """Lease up to ``limit`` due rows without rendering them (tests of the lease alone)."""
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
    if row is None:  # our lease was taken over (cannot happen within the deadline): the other sender settles
        return False
    current = now(session)
    body = c.sent_body if c.sent_body is not None else tokens.scrub(row.body)
    session.execute(
        update(OutboxEmail).where(_mine(c))
        .values(status=O.SENT.value, sent_at=current, attempts=row.attempts + 1, body=body, secrets_scrubbed=True,
                lease_id=None, lease_until=None, next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    audit.record(session, SYSTEM, ENTITY, str(c.id), "sent", before={"status": O.PENDING.value},
                 after={"status": O.SENT.value, "message_id": row.message_id, "attempts": row.attempts + 1})
    return True


def _settle_dead(session: Session, c: _Claim, error: str, *, attempts: int) -> None:
    session.execute(
        update(OutboxEmail).where(_mine(c))
        .values(status=O.DEAD.value, attempts=attempts, last_error=error[:2000], lease_id=None, lease_until=None,
                next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    audit.record(session, SYSTEM, ENTITY, str(c.id), "dead", before={"status": O.PENDING.value},
                 after={"status": O.DEAD.value, "attempts": attempts}, comment=error[:2000])


def _settle_failed(session: Session, c: _Claim, error: str, *, counts: bool, permanent: bool = False) -> str | None:
    """Back to pending with backoff, or dead (a permanent refusal, or N temporary ones)."""
    row = session.exec(select(OutboxEmail).where(_mine(c))).first()
    if row is None:
        return None
    current = now(session)
    attempts = row.attempts + 1
    dead = permanent or (counts and attempts >= params.get(session, "mail.max_attempts"))
    if dead:
        _settle_dead(session, c, error, attempts=attempts)
        return O.DEAD.value
    session.execute(update(OutboxEmail).where(_mine(c))
                    .values(attempts=attempts, last_error=error[:2000], lease_id=None, lease_until=None,
                            next_attempt_at=current + backoff(attempts))
                    .execution_options(synchronize_session=False))
    return O.PENDING.value


def _back_off_due(session: Session, error: str, *, limit: int, ids: Sequence[int] | None = None) -> int:
    """The server cannot be reached: every due row (not leased) waits its backoff, error kept."""
    current = now(session)
    query = select(OutboxEmail.id, OutboxEmail.attempts).where(_due(current))
    if ids is not None:
        query = query.where(col(OutboxEmail.id).in_(list(ids)))
    n = 0
    for row_id, attempts in session.exec(query.order_by(col(OutboxEmail.id)).limit(limit)).all():
        result = session.execute(
            update(OutboxEmail).where(OutboxEmail.id == row_id, OutboxEmail.attempts == attempts, _due(current))
            .values(attempts=attempts + 1, last_error=error[:2000], next_attempt_at=current + backoff(attempts + 1))
            .execution_options(synchronize_session=False)
        )
        n += result.rowcount  # type: ignore[attr-defined]
    return n


# ------------------------------------------------------------------ the sender


class SendReport(BaseModel):
    due: int = 0  # due when the run started
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    dead: int = 0
    not_sendable: int = 0  # went dead without a send: the link is no longer needed or was replaced
    recovered: int = 0  # picked up after a stopped sender's lease ran out
    server_error: str | None = None
    still_pending: int = 0
    due_now: int = 0  # pending and due after the run (beyond --limit)
    leased_elsewhere: int = 0  # being sent by another sender right now
    lease_until: datetime | None = None  # when the earliest of those leases ends
    next_attempt_at: datetime | None = None  # earliest future try of a row backing off
    waiting_error: str | None = None  # the last error of a row backing off (why it waits)
    errors: list[str] = []

    @property
    def delivered_nothing_due(self) -> bool:
        """Nothing went out although something was due or waits after a failure (exit non-zero)."""
        if self.sent:
            return False
        return bool(self.claimed or self.server_error or self.retrying or self.dead
                    or (self.still_pending and self.waiting_error and not self.due_now))


def _classify(exc: BaseException, settings: SmtpSettings) -> tuple[str, str]:
    """('refused'|'permanent'|'server', text) for an exception from send_message."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        text = "; ".join(f"{r}: {code} {_decode(msg)}" for r, (code, msg) in exc.recipients.items())
        if any(code == 421 for code in codes):
            return "server", text
        return ("permanent" if all(500 <= code < 600 for code in codes) else "refused"), text
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "server", f"the SMTP server closed the connection: {exc or 'during the send'}"
    if isinstance(exc, smtplib.SMTPResponseException):
        text = f"{exc.smtp_code} {_decode(exc.smtp_error)}"
        if exc.smtp_code == 421:  # service not available: the server, not the message
            return "server", text
        return ("permanent" if 500 <= exc.smtp_code < 600 else "refused"), text
    if isinstance(exc, (smtplib.SMTPException, OSError, ssl.SSLError)):
        return "server", f"sending to {settings.host}:{settings.port} failed: {_describe(exc)}"
    return "permanent", f"the message cannot be sent: {exc}"


def send_pending(
    store: Store,
    settings: SmtpSettings | None,
    *,
    limit: int = 100,
    connect: Callable[[SmtpSettings], smtplib.SMTP] | None = None,
    before_send: Callable[[int], None] | None = None,
    lease: timedelta | None = None,
    ids: Sequence[int] | None = None,
) -> SendReport:
    """Deliver up to ``limit`` due outbox rows, one lease per message (see the module doc).

    ``before_send`` is a test hook (called with the row id, lease held, just before the send);
    ``ids`` restricts the run to those rows.
    """
    if settings is None:
        raise NotConfigured(NOT_CONFIGURED)
    lease = lease or lease_length(settings)
    limit = max(1, limit)
    report = SendReport()
    with store.read() as s:
        current = now(s)
        query = select(func.count()).select_from(OutboxEmail).where(_due(current))
        if ids is not None:
            query = query.where(col(OutboxEmail.id).in_(list(ids)))
        report.due = s.exec(query).one()
    conn: smtplib.SMTP | None = None
    skip: set[int] = set()
    try:
        if report.due:
            try:
                conn = (connect or _open)(settings)
            except _ServerUnavailable as exc:
                report.server_error = str(exc)
                with store.write() as s:
                    report.retrying += _back_off_due(s, report.server_error, limit=limit, ids=ids)
        while conn is not None and report.claimed + report.not_sendable < limit:
            started = time.monotonic()  # the lease ends no earlier than this + lease
            with store.write() as s:
                c, refused = _lease_next(s, settings, lease, skip=skip, ids=ids)
            if refused is not None:
                report.not_sendable += 1
                report.errors.append(refused)
                continue
            if c is None:
                break
            c.until = started + lease.total_seconds() - _margin(lease)
            skip.add(c.id)
            report.claimed += 1
            report.recovered += c.recovered
            if before_send is not None:
                before_send(c.id)
            if isinstance(conn, _Deadline):
                conn.until = c.until
            outcome: tuple[str, str | None]
            try:
                refused_rcpts = conn.send_message(c.message)  # type: ignore[arg-type]
                if refused_rcpts:  # some recipients refused (we send to one: not reached in practice)
                    outcome = ("refused", "; ".join(f"{r}: {code} {_decode(msg)}" for r, (code, msg) in refused_rcpts.items()))
                else:
                    outcome = ("sent", None)
            except Exception as exc:  # every failure is classified; nothing escapes with the lease held
                outcome = _classify(exc, settings)
            finally:
                if isinstance(conn, _Deadline):
                    conn.until = None
            with store.write() as s:
                if outcome[0] == "sent":
                    if _settle_sent(s, c):
                        report.sent += 1
                    continue
                status = _settle_failed(s, c, outcome[1] or "", counts=outcome[0] != "server",
                                        permanent=outcome[0] == "permanent")
            report.errors.append(f"#{c.id}: {outcome[1]}")
            if status == O.DEAD.value:
                report.dead += 1
            elif status == O.PENDING.value:
                report.retrying += 1
            if outcome[0] == "server":
                report.server_error = outcome[1]
                _close(conn)
                conn = None
                with store.write() as s:  # the rest of this round would meet the same server
                    report.retrying += _back_off_due(s, outcome[1] or "", limit=limit, ids=ids)
    finally:
        if conn is not None:
            _close(conn)
    _summarise(store, report)
    return report


def _summarise(store: Store, report: SendReport) -> None:
    with store.read() as s:
        current = now(s)
        waiting = s.exec(select(OutboxEmail.next_attempt_at, OutboxEmail.lease_until, OutboxEmail.last_error,
                                OutboxEmail.id)
                         .where(OutboxEmail.status == O.PENDING.value).order_by(col(OutboxEmail.id))).all()
    report.still_pending = len(waiting)
    leased = [lease for _, lease, _, _ in waiting if lease is not None and lease > current]
    report.leased_elsewhere = len(leased)
    report.lease_until = min(leased) if leased else None
    backing_off = [(t, err) for t, lease, err, _ in waiting
                   if t is not None and t > current and not (lease is not None and lease > current)]
    report.due_now = len(waiting) - len(leased) - len(backing_off)
    report.next_attempt_at = min(t for t, _ in backing_off) if backing_off else None
    errors = [err for _, err in backing_off if err]
    report.waiting_error = errors[-1] if errors else None


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
        raise InvalidTransition(f"message {row.id} was sent on {row.sent_at:%Y-%m-%d %H:%M} UTC "
                                f"(Message-ID {row.message_id}): it is not sent again")
    planned = in_plan_phase(session)
    begin_write(session)  # the refusals above read only; the update below re-checks the status
    current = now(session)
    before = row.status
    result = session.execute(
        update(OutboxEmail).where(OutboxEmail.id == row.id, OutboxEmail.status == before)
        .values(status=O.PENDING.value, attempts=0 if before == O.DEAD.value else row.attempts, next_attempt_at=current)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        if planned:  # moved since the plan read it (sent, leased): plan afresh for the right answer
            raise Replan()
        raise InvalidTransition(f"message {row.id} changed meanwhile: reread and try again")
    audit.record(session, actor, ENTITY, str(row.id), "retry", before={"status": before, "attempts": row.attempts},
                 after={"status": O.PENDING.value}, comment=row.last_error)
    session.expire(row)
    return _outbox_view(session.get(OutboxEmail, row.id), current)  # type: ignore[arg-type]


def require_send(session: Session, actor: Actor) -> None:
    """Refuse an operator who may not send before anything is claimed."""
    require(actor, "outbox.send")
