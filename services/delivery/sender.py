"""The sender: ``send_pending`` delivers the due rows one lease at a time and reports what
happened (see the package's doc for the guarantees)."""

from __future__ import annotations

import smtplib
import ssl
import time
from datetime import datetime, timedelta
from typing import Callable, Sequence

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import col, select

from models.core import OutboxEmail
from services.delivery.lease import (
    O,
    back_off_due,
    due,
    lease_length,
    lease_next,
    margin,
    settle_failed,
    settle_sent,
)
from services.delivery.smtp import (
    NOT_CONFIGURED,
    Deadline,
    NotConfigured,
    ServerUnavailable,
    SmtpSettings,
    close_connection,
    decode_reply,
    describe_error,
    open_connection,
)
from services.store import Store, now

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
        return bool(
            self.claimed
            or self.server_error
            or self.retrying
            or self.dead
            or (self.still_pending and self.waiting_error and not self.due_now)
        )


def _classify(exc: BaseException, settings: SmtpSettings) -> tuple[str, str]:
    """('refused'|'permanent'|'server', text) for an exception from send_message."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        text = "; ".join(f"{r}: {code} {decode_reply(msg)}" for r, (code, msg) in exc.recipients.items())
        if any(code == 421 for code in codes):
            return "server", text
        return ("permanent" if all(500 <= code < 600 for code in codes) else "refused"), text
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return "server", f"the SMTP server closed the connection: {exc or 'during the send'}"
    if isinstance(exc, smtplib.SMTPResponseException):
        text = f"{exc.smtp_code} {decode_reply(exc.smtp_error)}"
        if exc.smtp_code == 421:  # service not available: the server, not the message
            return "server", text
        return ("permanent" if 500 <= exc.smtp_code < 600 else "refused"), text
    if isinstance(exc, (smtplib.SMTPException, OSError, ssl.SSLError)):
        return "server", f"sending to {settings.host}:{settings.port} failed: {describe_error(exc)}"
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
        query = select(func.count()).select_from(OutboxEmail).where(due(current))
        if ids is not None:
            query = query.where(col(OutboxEmail.id).in_(list(ids)))
        report.due = s.exec(query).one()
    conn: smtplib.SMTP | None = None
    skip: set[int] = set()
    try:
        if report.due:
            try:
                conn = (connect or open_connection)(settings)
            except ServerUnavailable as exc:
                report.server_error = str(exc)
                with store.write() as s:
                    report.retrying += back_off_due(s, report.server_error, limit=limit, ids=ids)
        while conn is not None and report.claimed + report.not_sendable < limit:
            started = time.monotonic()  # the lease ends no earlier than this + lease
            with store.write() as s:
                c, refused = lease_next(s, settings, lease, skip=skip, ids=ids)
            if refused is not None:
                report.not_sendable += 1
                report.errors.append(refused)
                continue
            if c is None:
                break
            c.until = started + lease.total_seconds() - margin(lease)
            skip.add(c.id)
            report.claimed += 1
            report.recovered += c.recovered
            if before_send is not None:
                before_send(c.id)
            if isinstance(conn, Deadline):
                conn.until = c.until
            outcome: tuple[str, str | None]
            try:
                refused_rcpts = conn.send_message(c.message)  # type: ignore[arg-type]
                if refused_rcpts:  # some recipients refused (we send to one: not reached in practice)
                    outcome = (
                        "refused",
                        "; ".join(f"{r}: {code} {decode_reply(msg)}" for r, (code, msg) in refused_rcpts.items()),
                    )
                else:
                    outcome = ("sent", None)
            except Exception as exc:  # every failure is classified; nothing escapes with the lease held
                outcome = _classify(exc, settings)
            finally:
                if isinstance(conn, Deadline):
                    conn.until = None
            with store.write() as s:
                if outcome[0] == "sent":
                    if settle_sent(s, c):
                        report.sent += 1
                    continue
                status = settle_failed(
                    s, c, outcome[1] or "", counts=outcome[0] != "server", permanent=outcome[0] == "permanent"
                )
            report.errors.append(f"#{c.id}: {outcome[1]}")
            if status == O.DEAD.value:
                report.dead += 1
            elif status == O.PENDING.value:
                report.retrying += 1
            if outcome[0] == "server":
                report.server_error = outcome[1]
                close_connection(conn)
                conn = None
                with store.write() as s:  # the rest of this round would meet the same server
                    report.retrying += back_off_due(s, outcome[1] or "", limit=limit, ids=ids)
    finally:
        if conn is not None:
            close_connection(conn)
    _summarise(store, report)
    return report


def _summarise(store: Store, report: SendReport) -> None:
    with store.read() as s:
        current = now(s)
        waiting = s.exec(
            select(OutboxEmail.next_attempt_at, OutboxEmail.lease_until, OutboxEmail.last_error, OutboxEmail.id)
            .where(OutboxEmail.status == O.PENDING.value)
            .order_by(col(OutboxEmail.id))
        ).all()
    report.still_pending = len(waiting)
    leased = [lease for _, lease, _, _ in waiting if lease is not None and lease > current]
    report.leased_elsewhere = len(leased)
    report.lease_until = min(leased) if leased else None
    backing_off = [
        (t, err)
        for t, lease, err, _ in waiting
        if t is not None and t > current and not (lease is not None and lease > current)
    ]
    report.due_now = len(waiting) - len(leased) - len(backing_off)
    report.next_attempt_at = min(t for t, _ in backing_off) if backing_off else None
    errors = [err for _, err in backing_off if err]
    report.waiting_error = errors[-1] if errors else None
