"""Issue 11, nothing secret at rest: no working token anywhere in the database, before or
after sending, on both stores. Links are minted when the mail is sent (services/delivery.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import MetaData
from sqlalchemy import select as sa_select
from sqlmodel import select

from models.core import OutboxEmail, Token
from services import delivery, portal, prospects, signup, tokens, user_requests
from services.errors import InvalidTransition
from services.permissions import PORTAL
from tests.conftest import actor_of
from tests.portal_helpers import BASE, activate_shipped_workflow, created_request, logon_token, verify_token
from tests.smtp_helpers import SmtpServer, token_in

PASSWORD = "Blue-Kettle-Morning-42"
PROSPECT = {
    "company": "Northwind Partners",
    "first_name": "Bea",
    "last_name": "Moss",
    "email": "bea@northwind.example",
    "phone": "+1 555 0101",
    "zip": "98052",
    "comments": "Two stores.",
    "store_name": "Northwind",
    "store_url": "https://northwind.example/shop",
}


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


def dump(store) -> str:
    """Every row of every table of the database (reflected: also tables no model knows)."""
    meta = MetaData()
    meta.reflect(bind=store.engine)
    parts = []
    with store.engine.connect() as conn:
        for table in meta.sorted_tables:
            for row in conn.execute(sa_select(table)).all():
                parts.append(f"{table.name}: " + " | ".join("" if v is None else str(v) for v in row))
    return "\n".join(parts)


def raw_files(store) -> bytes:
    """SQLite: the database file and its WAL as bytes (free pages and old versions included)."""
    if not store.is_sqlite:
        return b""
    path = Path(store.engine.url.database)
    return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())


def accepted(store, raw: str) -> bool:
    """Whether ``signup verify`` or ``portal activate`` would take this token now."""
    with store.read() as s:
        token = s.exec(select(Token).where(Token.token_hash == tokens.hash_token(raw))).first()
        return (
            token is not None and token.used_at is None and token.voided_at is None and token.expires_at > store.now()
        )


def assert_nothing_secret_at_rest(store, *known: str) -> None:
    text = dump(store)
    found = set(tokens.TOKEN_PATTERN.findall(text))
    assert not [t for t in found if accepted(store, t)], "a working token is stored"
    assert found == set(), f"token-like strings at rest: {sorted(found)[:3]}"
    for raw in known:  # links that went out by mail are nowhere in the database
        assert raw not in text
    blob = raw_files(store)
    assert b"rdk_" not in blob
    for raw in known:
        assert raw.encode() not in blob


def test_no_working_token_at_rest_after_every_kind_of_mail(any_store, smtp, clock):
    act = actor_of(any_store)
    activate_shipped_workflow(any_store)  # workflow mails (assignment) go out too
    sent: list[str] = []

    # sign-up verification, then a resend (Activation URL) of another request's link
    first = any_store.call(signup.submit, PORTAL, BASE).number
    second = any_store.call(
        signup.submit, PORTAL, {**BASE, "email": "bo@tailwind.example", "company": "Bo Co", "user_name": "bobo"}
    ).number
    assert_nothing_secret_at_rest(any_store)
    any_store.call(signup.resend, act("support1"), second)
    assert_nothing_secret_at_rest(any_store)
    # a decline mail
    third = any_store.call(
        signup.submit, PORTAL, {**BASE, "email": "cy@tailwind.example", "company": "Cy Co", "user_name": "cycy"}
    ).number
    any_store.call(signup.reject, act("approver1"), third, "Not a business customer")
    # the logon mail of a provisioned portal user, and its resend
    ur = created_request(any_store, user_name="dee", email="dee@tailwind.example", company="Dee Co")
    assert_nothing_secret_at_rest(any_store)
    from services import workflow
    from tests.portal_helpers import work_item

    any_store.call(workflow.approve, act("approver2"), work_item(any_store, "approver2", ur), "ok")
    any_store.call(portal.resend_activation, act("approver2"), "dee")
    # prospect mails: approved (with its portal user request) and declined
    won = any_store.call(prospects.submit, PORTAL, PROSPECT)
    q = any_store.call(prospects.qualify, act("approver1"), won.lead)
    any_store.call(prospects.won, act("approver1"), q.opportunity)
    lost = any_store.call(prospects.submit, PORTAL, {**PROSPECT, "email": "eve@northwind.example", "company": "Eve Co"})
    any_store.call(prospects.disqualify, act("approver1"), lost.lead, "Not a retailer")
    assert_nothing_secret_at_rest(any_store)

    # everything goes out over SMTP: the links exist only in the mail received
    report = delivery.send_pending(any_store, smtp.settings(), limit=1000)
    assert report.sent >= 6, report
    templates = {m["Subject"] for m in smtp.recorder.messages}
    assert any("Confirm your sign-up" in t for t in templates) and any("Your logon" in t for t in templates)
    assert any("partner" in t for t in templates) and any("sign-up request" in t for t in templates)
    for m in smtp.recorder.messages:
        sent += tokens.TOKEN_PATTERN.findall(m.get_content())
    assert len(sent) >= 4  # first (link + code), second (link + code), dee (link)
    assert_nothing_secret_at_rest(any_store, *sent)

    # the links that went out work (so the scan above looked for the right thing)
    by_number = {m["Subject"]: token_in(m) for m in smtp.recorder.messages if "Confirm your sign-up" in m["Subject"]}
    for number in (first, second):
        (raw,) = [t for subject, t in by_number.items() if number in subject]
        assert any_store.call(signup.verify, raw).status == "Verified by user"
    (logon,) = [m for m in smtp.recorder.messages if "Your logon" in m["Subject"]]
    assert any_store.call(portal.activate, token_in(logon), PASSWORD).status == "Active"
    assert_nothing_secret_at_rest(any_store, *sent)


def test_resend_before_the_first_mail_went_out_sends_one_working_link(any_store, smtp, actor):
    number = any_store.call(signup.submit, PORTAL, BASE).number
    any_store.call(signup.resend, actor_of(any_store)("support1"), number)
    report = delivery.send_pending(any_store, smtp.settings())
    assert report.sent == 1 and report.not_sendable == 1 and "replaced by the newer e-mail" in report.errors[0]
    assert report.dead == 0 and not report.delivered_nothing_due
    (got,) = smtp.recorder.messages
    assert any_store.call(signup.verify, token_in(got)).status == "Verified by user"
    with any_store.read() as s:
        old, new = s.exec(select(OutboxEmail).order_by(OutboxEmail.id)).all()
    assert (old.status, new.status) == ("dead", "sent") and "replaced" in old.last_error
    assert delivery.send_pending(any_store, smtp.settings()).claimed == 0  # the old one is not retried


def test_resend_after_sending_voids_the_sent_link(store, actor):
    number = store.call(signup.submit, PORTAL, BASE).number
    old = verify_token(store, number)
    store.call(signup.resend, actor("support1"), number)
    assert not accepted(store, old)  # voided when the new link was asked for, before it is sent
    new = verify_token(store, number)
    with pytest.raises(InvalidTransition, match="replaced"):
        store.call(signup.verify, old)
    assert store.call(signup.verify, new).status == "Verified by user"


def test_link_validity_counts_from_the_send(store, clock, smtp):
    number = store.call(signup.submit, PORTAL, BASE).number
    clock.advance(hours=70)  # queued long ago (SMTP was down); the ttl is 72 h
    delivery.send_pending(store, smtp.settings())
    (got,) = smtp.recorder.messages
    expires = clock() + timedelta(hours=72)
    assert f"valid until {expires:%Y-%m-%d %H:%M} UTC" in got.get_content()
    clock.advance(hours=71)
    assert store.call(signup.verify, token_in(got)).number == number


def test_no_link_is_minted_for_a_record_that_no_longer_waits(store, smtp, actor):
    number = store.call(signup.submit, PORTAL, BASE).number
    store.call(signup.reject, actor("approver1"), number, "Duplicate of an existing customer")
    report = delivery.send_pending(store, smtp.settings())
    assert report.sent == 1  # the decline mail; the verification mail is not sent
    (got,) = smtp.recorder.messages
    assert "sign-up request" in got["Subject"] and "rdk_" not in got.get_content()
    with store.read() as s:
        verification = s.exec(select(OutboxEmail).where(OutboxEmail.template == "signup_verify")).one()
        assert s.exec(select(Token)).all() == []
    assert verification.status == "dead" and "Rejected" in verification.last_error


def test_a_token_in_a_mail_context_is_never_stored(store):
    from services import mail

    with store.write() as s:
        row = mail.enqueue(s, "a@b.example", "signup_declined", {"reason": "pasted rdk_" + "A" * 43 + " here"})
        assert "rdk_" not in row.body and "pasted [link removed after delivery] here" in row.body
        with pytest.raises(ValueError, match="made when the mail is sent"):
            mail.enqueue(s, "a@b.example", "signup_verify", {"link": "https://x.example/?token=abc"})


def test_staff_views_mask_links_before_and_after_sending(store, smtp, actor):
    number = store.call(signup.submit, PORTAL, BASE).number
    (pending,) = store.call(delivery.list_messages, actor("support1"), entity=number)
    assert "[link made when sent]" in pending.body and "[[" not in pending.body
    delivery.send_pending(store, smtp.settings())
    (sent,) = store.call(delivery.list_messages, actor("support1"), entity=number)
    assert "[link removed after delivery]" in sent.body and "rdk_" not in sent.body
    assert "valid until 20" in sent.body  # the expiry that was sent is kept


def test_activation_link_for_a_user_request_canceled_before_the_send_is_not_minted(store, smtp, actor):
    number = created_request(store)
    store.call(user_requests.approve, actor("approver2"), number)
    store.call(user_requests.cancel, actor("approver2"), number, "contact left the company")
    delivery.send_pending(store, smtp.settings())
    assert not any("Your logon" in m["Subject"] for m in smtp.recorder.messages)
    with store.read() as s:
        logon = s.exec(select(OutboxEmail).where(OutboxEmail.template == "portal_logon")).one()
        assert s.exec(select(Token).where(Token.purpose == "portal-activate")).all() == []
    assert logon.status == "dead" and "Disabled" in logon.last_error


def test_logon_token_seam_goes_through_the_sender(store, actor):
    number = created_request(store)
    store.call(user_requests.approve, actor("approver2"), number)
    raw = logon_token(store, "alee")
    with store.read() as s:
        logon = s.exec(select(OutboxEmail).where(OutboxEmail.template == "portal_logon")).one()
    assert logon.status == "sent" and raw not in logon.body
    assert store.call(portal.activate, raw, PASSWORD).status == "Active"


def test_upgrade_turns_tokens_queued_by_an_older_regdesk_into_slots(tmp_path):
    """0008: a pending or dead row written before links were minted at send time loses its raw token."""
    from sqlalchemy import text

    from services.schema import upgrade
    from services.store import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}", create=True)
    upgrade(engine, "0005")
    nonce = "ab" * 16
    raw = "rdk_" + "Q" * 43
    with engine.begin() as conn:
        for i, status in enumerate(("pending", "dead", "sent")):
            conn.execute(
                text(
                    "INSERT INTO outboxemail (created_at, recipient, subject, body, template, entity_type, entity_key, "
                    "status, message_id, attempts, secrets_scrubbed) VALUES ('2026-11-01 10:00:00', 'a@b.example', 's', "
                    ":body, 'signup_verify', 'signup', 'REG-000001', :status, :mid, 0, 0)"
                ),
                {
                    "body": f"open https://portal.example.com/signup/verify?token={raw}\nor enter {raw}",
                    "status": status,
                    "mid": f"<{nonce[:-2]}{i:02d}@regdesk>",
                },
            )
    upgrade(engine)
    with engine.connect() as conn:
        bodies = dict(conn.execute(text("SELECT status, body FROM outboxemail")).all())
    engine.dispose()
    assert raw not in bodies["pending"] and f"?token=[[token:{nonce[:-2]}00]]" in bodies["pending"]
    assert raw not in bodies["dead"] and f"[[token:{nonce[:-2]}01]]" in bodies["dead"]
    assert raw in bodies["sent"]  # sent rows were scrubbed at sending by every version: not touched
