"""The SMTP side of delivery: settings, the connection (with a deadline on every socket wait),
the server check, the message as sent, and how SMTP errors read in words. No database here."""

from __future__ import annotations

import smtplib
import socket
import ssl
import time
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Mapping

from services.errors import RegdeskError, ValidationFailed

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

    from models.core import OutboxEmail

DELIVERY_FAILED_EXIT = 10  # README: outbox send delivered nothing that was due / the server does not answer
SENT_MASK = "[link removed after delivery]"


class NotConfigured(RegdeskError):
    """No SMTP server is set up: nothing can be sent (and nothing was changed)."""

    exit_code = 9


class ServerNotAnswering(RegdeskError):
    """``outbox status``: the SMTP server did not answer (connect, EHLO, NOOP)."""

    exit_code = DELIVERY_FAILED_EXIT


NOT_CONFIGURED = (
    "no SMTP server is configured: e-mail waits in the outbox. Set [smtp] host (and port, "
    "security, user, password_env) in the config file, or REGDESK_SMTP_HOST and friends"
)


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
            raise ValidationFailed(
                errors, "the SMTP settings are not valid:\n  " + "\n  ".join(f"{k}: {v}" for k, v in errors.items())
            )
        return cls(
            host=host,
            port=port,
            security=security,
            user=str(data["user"]) if data.get("user") else None,
            password=str(data["password"]) if data.get("password") else None,
            timeout=timeout,
            sender=str(data["sender"]) if data.get("sender") else None,
        )

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


def build_message(
    row: OutboxEmail, sender: str, *, date: datetime | None = None, body: str | None = None
) -> EmailMessage:
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


class ServerUnavailable(Exception):
    """The server could not be reached or dropped us: not the message's fault."""


class Deadline(smtplib.SMTP):
    """An SMTP connection that cuts every socket wait so a send ends before ``until`` (monotonic)."""

    until: float | None = None
    op_timeout: float = 30.0

    def _arm(self) -> None:
        if self.until is None or self.sock is None:
            return
        left = self.until - time.monotonic()
        if left <= 0:
            raise socket.timeout("the lease on the message ran out before the server answered")
        self.sock.settimeout(min(left, self.op_timeout))

    def send(self, s: ReadableBuffer | str) -> None:
        self._arm()
        super().send(s)

    def getreply(self) -> tuple[int, bytes]:
        self._arm()
        return super().getreply()


class _SMTP_SSL(Deadline, smtplib.SMTP_SSL):
    pass


def open_connection(settings: SmtpSettings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    try:
        if settings.security == "tls":
            conn: Deadline = _SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
        else:
            conn = Deadline(settings.host, settings.port, timeout=settings.timeout)
        conn.op_timeout = settings.timeout
        try:
            conn.ehlo()
            if settings.security == "starttls":
                conn.starttls(context=context)
                conn.ehlo()
            if settings.user:
                conn.login(settings.user, settings.password or "")
        except BaseException:
            close_connection(conn)
            raise
        return conn
    except smtplib.SMTPAuthenticationError as exc:
        raise ServerUnavailable(
            f"the SMTP server refused the login of {settings.user!r}: {exc.smtp_code} {decode_reply(exc.smtp_error)}"
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise ServerUnavailable(f"the SMTP server does not support {settings.security.upper()}: {exc}") from None
    except smtplib.SMTPResponseException as exc:
        raise ServerUnavailable(f"the SMTP server answered {exc.smtp_code} {decode_reply(exc.smtp_error)}") from None
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise ServerUnavailable(
            f"cannot reach the SMTP server {settings.host}:{settings.port}: {describe_error(exc)}"
        ) from None


def check_server(settings: SmtpSettings | None) -> str:
    """Connect, EHLO (STARTTLS and login as configured) and NOOP within the timeout: the
    server's answer in words, or ``ServerNotAnswering`` saying what went wrong."""
    if settings is None:
        raise NotConfigured(NOT_CONFIGURED)
    try:
        conn = open_connection(settings)
    except ServerUnavailable as exc:
        raise ServerNotAnswering(str(exc)) from None
    try:
        code, text = conn.noop()
    except (smtplib.SMTPException, OSError, ssl.SSLError) as exc:
        raise ServerNotAnswering(
            f"the SMTP server {settings.host}:{settings.port} did not answer NOOP: {describe_error(exc)}"
        ) from None
    finally:
        close_connection(conn)
    if code != 250:
        raise ServerNotAnswering(f"the SMTP server answered NOOP with {code} {decode_reply(text)}")
    return f"{settings.describe()} answers ({code} {decode_reply(text)})".strip()


def close_connection(conn: smtplib.SMTP) -> None:
    try:
        conn.quit()
    except Exception:
        try:
            conn.close()
        except Exception:
            pass


def decode_reply(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def describe_error(exc: BaseException) -> str:
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return f"timed out ({exc})" if str(exc) and str(exc) != "timed out" else "timed out"
    return f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
