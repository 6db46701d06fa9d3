"""A real SMTP server on loopback (aiosmtpd) for delivery tests."""

from __future__ import annotations

import asyncio
import email
import socket
from email import policy

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Recorder:
    """Keeps every accepted message; ``refuse`` makes DATA answer with that reply instead,
    ``refuse_rcpt`` makes RCPT answer so, ``delay`` (seconds) makes DATA slow, and
    ``drop_after_data`` accepts the message, then drops the connection before answering."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list = []
        self.refuse: str | None = None
        self.refuse_rcpt: str | None = None
        self.delay: float = 0.0
        self.drop_after_data: int = 0  # how many more messages to accept silently and drop

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse_rcpt:
            return self.refuse_rcpt
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.refuse:
            return self.refuse
        if self.drop_after_data:
            self.drop_after_data -= 1
            self.envelopes.append(envelope)
            self.messages.append(
                email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
            )
            server.transport.close()  # the message is taken, the answer never arrives
            return "250 never seen"
        self.envelopes.append(envelope)
        self.messages.append(
            email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        )
        return "250 Message accepted for delivery"

    def by_message_id(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for m in self.messages:
            counts[m["Message-ID"]] = counts.get(m["Message-ID"], 0) + 1
        return counts


class SmtpServer:
    def __init__(self, port: int | None = None, *, credentials: tuple[str, str] | None = None) -> None:
        self.port = port or free_port()
        self.recorder = Recorder()
        self.credentials = credentials
        self.controller: Controller | None = None

    def _auth(self, server, session, envelope, mechanism, auth_data):
        if (
            isinstance(auth_data, LoginPassword)
            and self.credentials
            and (auth_data.login.decode(), auth_data.password.decode()) == self.credentials
        ):
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)

    def start(self) -> "SmtpServer":
        kwargs = {}
        if self.credentials:
            kwargs = {"authenticator": self._auth, "auth_require_tls": False, "auth_required": True}
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def settings(self, **extra):
        from services.delivery import SmtpSettings

        return SmtpSettings(host="127.0.0.1", port=self.port, security="none", timeout=5, **extra)


class MemoryConnection:
    """An SMTP stand-in for ``delivery.send_pending(connect=...)``: keeps what it is given."""

    def __init__(self) -> None:
        self.messages: list = []

    def send_message(self, msg):
        self.messages.append(email.message_from_bytes(msg.as_bytes(), policy=policy.default))
        return {}

    def noop(self):
        return 250, b"OK"

    def quit(self):
        pass

    def close(self):
        pass


def received(store, *, template: str, entity_key: str):
    """What the recipient of the newest pending ``template`` mail about ``entity_key`` gets:
    it is sent now (over an in-memory SMTP stand-in, through the real lease, render, mint and
    settle), so its link is minted exactly as in production and never read from the database."""
    from sqlmodel import select

    from models.core import OutboxEmail
    from services import delivery

    with store.read() as s:
        row_id = s.exec(
            select(OutboxEmail.id)
            .where(
                OutboxEmail.template == template, OutboxEmail.entity_key == entity_key, OutboxEmail.status == "pending"
            )
            .order_by(OutboxEmail.id.desc())
        ).first()
    assert row_id is not None, f"no pending {template} mail about {entity_key}"
    conn = MemoryConnection()
    report = delivery.send_pending(
        store, delivery.SmtpSettings(host="memory", security="none"), connect=lambda _settings: conn, ids=[row_id]
    )
    assert report.sent == 1 and len(conn.messages) == 1, report
    return conn.messages[0]


def token_in(message) -> str:
    from services.tokens import TOKEN_PATTERN

    match = TOKEN_PATTERN.search(message.get_content())
    assert match, f"no token in {message.get_content()!r}"
    return match.group(0)
