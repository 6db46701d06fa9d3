"""End to end: sign-up -> Completed user request, the logon e-mail received by a real SMTP
server on loopback (aiosmtpd), and the activation link working exactly once."""

from __future__ import annotations

import json

import pytest
from sqlmodel import select

from models.core import OutboxEmail
from models.portal import PortalUser
from services import workflow
from services.store import Store
from services.tokens import TOKEN_PATTERN
from tests.conftest import actor_of
from tests.portal_helpers import BASE, SHIPPED_WORKFLOW, activation_token, work_item
from tests.smtp_helpers import SmtpServer

PASSWORD = "Harbour-Lights-2026!"


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


def test_signup_to_completed_user_request_over_real_smtp(cli, db_path, smtp, monkeypatch):
    store = Store(f"sqlite:///{db_path}")  # the system clock, like the CLI
    try:
        act = actor_of(store)
        # the shipped user request workflow: Review by an approver, then provision
        from services import workflow_defs

        store.call(workflow_defs.import_file, act("admin1"), str(SHIPPED_WORKFLOW), activate=True)

        # the portal submits; without SMTP settings nothing is sent and the command says so
        r = cli("signup", "submit", "-", "--json", stdin=json.dumps(BASE))
        assert r.code == 0, r
        number = r.json()["number"]
        r = cli("outbox", "send", as_="admin1")
        assert r.code == 9 and "no SMTP server is configured" in r.err

        # the verification mail goes out to the loopback server (its link minted as it is sent)
        monkeypatch.setenv("REGDESK_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("REGDESK_SMTP_PORT", str(smtp.port))
        monkeypatch.setenv("REGDESK_SMTP_SECURITY", "none")
        r = cli("outbox", "send", "--json", as_="admin1")
        assert r.code == 0 and r.json()["sent"] == 1, r
        (verification,) = smtp.recorder.messages
        assert verification["Message-ID"].endswith("@example.com>")  # the sender's domain
        raw_verify = TOKEN_PATTERN.search(verification.get_content()).group(0)
        assert f"/signup/verify?token={raw_verify}" in verification.get_content()

        # the customer verifies, approver1 approves and creates the customer
        assert cli("signup", "verify", raw_verify).code == 0
        assert cli("requests", "approve", number, as_="approver1").code == 0
        r = cli(
            "requests",
            "create",
            number,
            "--new",
            "--template",
            "DOMESTIC",
            "--role",
            "Customer self-service user",
            "--json",
            as_="approver1",
        )
        assert r.code == 0, r
        ur = r.json()["user_request"]
        assert r.json()["user_request_status"] == "Pending approval"

        # approver2 approves the Review work item; the automated step provisions the portal user
        store.call(workflow.approve, act("approver2"), work_item(store, "approver2", ur), "ok")
        shown = cli("user-requests", "show", ur, "--json", as_="support1").json()
        assert shown["status"] == "Pending completion"
        assert shown["portal_user"]["status"] == "Pending activation"

        # the logon e-mail goes out to the loopback server
        r = cli("outbox", "send", "--json", as_="admin1")
        assert r.code == 0, r
        assert r.json()["sent"] == 1  # the logon e-mail
        logon = [m for m in smtp.recorder.messages if "Your logon" in m["Subject"]]
        assert len(logon) == 1 and logon[0]["To"] == BASE["email"]
        text = logon[0].get_content()
        assert "User name: alee" in text and "https://portal.example.com" in text
        raw = activation_token(text)
        with store.read() as s:
            stored = s.exec(select(OutboxEmail).where(OutboxEmail.template == "portal_logon")).one()
        assert stored.status == "sent" and raw not in stored.body  # scrubbed after delivery
        assert stored.message_id == logon[0]["Message-ID"]

        # the portal activates with the link's token; the request is Completed
        r = cli("portal", "activate", raw, "--password-stdin", "--json", stdin=PASSWORD + "\n")
        assert r.code == 0, r
        assert r.json() == {
            "user_name": "alee",
            "status": "Active",
            "user_request": ur,
            "user_request_status": "Completed",
        }
        assert cli("user-requests", "show", ur, "--json", as_="support1").json()["status"] == "Completed"

        # the link works once
        r = cli("portal", "activate", raw, "--password-stdin", stdin="Another-Passw0rd-99\n")
        assert r.code == 5 and "already used" in r.err
        with store.read() as s:
            user = s.exec(select(PortalUser)).one()
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash

        # nothing is sent twice
        r = cli("outbox", "send", "--json", as_="admin1")
        assert r.json()["claimed"] == 0 and len(smtp.recorder.messages) == 2
    finally:
        store.dispose()
