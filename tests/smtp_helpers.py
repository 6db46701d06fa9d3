"""A real SMTP server on loopback (aiosmtpd) for delivery tests."""

from __future__ import annotations

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
    """Keeps every accepted message; ``refuse`` makes DATA answer with that reply instead."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list = []
        self.refuse: str | None = None

    async def handle_DATA(self, server, session, envelope):
        if self.refuse:
            return self.refuse
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.original_content or envelope.content, policy=policy.default))
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
        if isinstance(auth_data, LoginPassword) and self.credentials and \
                (auth_data.login.decode(), auth_data.password.decode()) == self.credentials:
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
