"""Outbox delivery over SMTP to a real server on loopback (aiosmtpd): never lost, once per row."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from models.core import OutboxEmail
from services import delivery, params, signup
from services.errors import InvalidTransition, PermissionDenied, ValidationFailed
from services.permissions import PORTAL
from services.tokens import TOKEN_PATTERN
from tests.portal_helpers import BASE
from tests.smtp_helpers import SmtpServer


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


def queue(store, n: int) -> list[OutboxEmail]:
    for i in range(n):
        store.call(signup.submit, PORTAL, {**BASE, "email": f"c{i}@tailwind.example", "company": f"Company {i}"})
    return rows(store)


def rows(store) -> list[OutboxEmail]:
    with store.read() as s:
        return list(s.exec(select(OutboxEmail).order_by(OutboxEmail.id)).all())


def test_sends_with_stable_message_id_and_scrubs_tokens(any_store, smtp):
    queued = queue(any_store, 2)
    assert not any(TOKEN_PATTERN.search(m.body) for m in queued)  # the link is made when the mail is sent
    assert all("[[link:" in m.body for m in queued)
    report = delivery.send_pending(any_store, smtp.settings())
    assert (report.claimed, report.sent, report.still_pending) == (2, 2, 0)
    assert smtp.recorder.by_message_id() == {m.message_id: 1 for m in queued}
    received = {m["Message-ID"]: m for m in smtp.recorder.messages}
    for m in queued:
        got = received[m.message_id]
        assert got["To"] == m.recipient and got["Subject"] == m.subject
        assert got["From"] == "regdesk <no-reply@example.com>"
        assert TOKEN_PATTERN.search(got.get_content())  # the recipient gets the working link
    for m in rows(any_store):
        assert m.status == "sent" and m.sent_at is not None and m.attempts == 1 and m.secrets_scrubbed
        assert not TOKEN_PATTERN.search(m.body) and "[link removed after delivery]" in m.body
        assert m.lease_id is None
    assert delivery.send_pending(any_store, smtp.settings()).claimed == 0
    assert len(smtp.recorder.messages) == 2


def test_server_down_then_up_delivers_every_row_exactly_once(any_store, clock):
    queued = queue(any_store, 3)
    server = SmtpServer()  # port chosen, nothing listening yet
    report = delivery.send_pending(any_store, server.settings())
    assert report.sent == 0 and report.retrying == 3 and "cannot reach the SMTP server" in report.server_error
    for m in rows(any_store):
        assert m.status == "pending" and m.attempts == 1 and "cannot reach" in m.last_error
        assert m.next_attempt_at == clock() + timedelta(minutes=1)
    assert delivery.send_pending(any_store, server.settings()).claimed == 0  # backing off
    # a long outage: backoff grows to the cap, and the messages stay pending (never dead)
    for _ in range(12):
        clock.advance(hours=1)
        delivery.send_pending(any_store, server.settings())
    assert {(m.status, m.attempts) for m in rows(any_store)} == {("pending", 13)}
    assert rows(any_store)[0].next_attempt_at == clock() + delivery.BACKOFF_CAP
    server.start()
    try:
        clock.advance(hours=1)
        report = delivery.send_pending(any_store, server.settings())
        assert report.sent == 3 and report.server_error is None
        clock.advance(hours=1)
        assert delivery.send_pending(any_store, server.settings()).claimed == 0
    finally:
        server.stop()
    assert server.recorder.by_message_id() == {m.message_id: 1 for m in queued}
    assert all(m.status == "sent" for m in rows(any_store))


def test_refusing_server_backs_off_then_dead_then_retry(store, clock, smtp, actor):
    queue(store, 1)
    with store.write() as s:
        params.set_value(s, actor("admin1"), "mail.max_attempts", 3)
    smtp.recorder.refuse = "452 4.2.2 Mailbox full"  # temporary: backs off, counts toward max_attempts
    delays = []
    for expected_attempts in (1, 2):
        report = delivery.send_pending(store, smtp.settings())
        assert report.retrying == 1 and report.dead == 0
        (m,) = rows(store)
        assert m.status == "pending" and m.attempts == expected_attempts and "452" in m.last_error
        delays.append(m.next_attempt_at - clock())
        assert delivery.send_pending(store, smtp.settings()).claimed == 0  # not due yet
        clock.current = m.next_attempt_at
    assert delays == [timedelta(minutes=1), timedelta(minutes=2)]
    report = delivery.send_pending(store, smtp.settings())
    (m,) = rows(store)
    assert report.dead == 1 and m.status == "dead" and m.attempts == 3
    assert m.last_error == "452 4.2.2 Mailbox full" and m.next_attempt_at is None
    clock.advance(days=1)
    assert delivery.send_pending(store, smtp.settings()).claimed == 0  # dead stays dead
    with pytest.raises(PermissionDenied):
        store.call(delivery.retry, actor("approver1"), m.id)
    view = store.call(delivery.retry, actor("admin1"), m.id)
    assert view.status == "pending" and view.attempts == 0 and view.last_error.startswith("452")
    smtp.recorder.refuse = None
    assert delivery.send_pending(store, smtp.settings()).sent == 1
    with pytest.raises(InvalidTransition, match="not sent again"):
        store.call(delivery.retry, actor("admin1"), m.id)
    assert len(smtp.recorder.messages) == 1


def test_crash_between_claim_and_send_loses_nothing(any_store, clock, smtp):
    (queued,) = queue(any_store, 1)

    def crash(_row_id):
        raise RuntimeError("power cut")

    with pytest.raises(RuntimeError):
        delivery.send_pending(any_store, smtp.settings(), before_send=crash)
    (m,) = rows(any_store)
    assert m.status == "pending" and m.lease_id is not None and smtp.recorder.messages == []
    assert delivery.send_pending(any_store, smtp.settings()).claimed == 0  # the dead sender's lease holds
    clock.advance(seconds=delivery.lease_length(smtp.settings()).total_seconds() + 1)  # a short lease
    report = delivery.send_pending(any_store, smtp.settings())
    assert report.sent == 1 and report.recovered == 1
    assert smtp.recorder.by_message_id() == {queued.message_id: 1}
    clock.advance(hours=1)
    assert delivery.send_pending(any_store, smtp.settings()).claimed == 0


def test_two_senders_never_claim_one_row(any_store, smtp):
    queue(any_store, 2)
    with any_store.write() as s:
        first = delivery.claim(s, limit=10, lease=timedelta(minutes=5))
    with any_store.write() as s:
        second = delivery.claim(s, limit=10, lease=timedelta(minutes=5))
    assert len(first) == 2 and second == []
    assert delivery.send_pending(any_store, smtp.settings()).claimed == 0


def test_lost_lease_does_not_settle_someone_elses_row(store, clock, smtp):
    queue(store, 1)
    with store.write() as s:
        (stale,) = delivery.claim(s, limit=1, lease=timedelta(minutes=5))
    clock.advance(minutes=6)
    assert delivery.send_pending(store, smtp.settings()).sent == 1
    with store.write() as s:
        assert delivery.lease.settle_failed(s, stale, "late", counts=True) is None
    assert rows(store)[0].status == "sent"


def test_without_smtp_settings_nothing_changes(store):
    queue(store, 1)
    before = rows(store)
    with pytest.raises(delivery.NotConfigured, match="no SMTP server is configured"):
        delivery.send_pending(store, None)
    assert delivery.SmtpSettings.from_mapping({}) is None
    assert delivery.smtp_status({}) == delivery.NOT_CONFIGURED
    assert delivery.smtp_status({"host": "mail.example"}) is None
    assert [(m.status, m.attempts, m.lease_id) for m in rows(store)] == [
        (m.status, m.attempts, m.lease_id) for m in before
    ]


def test_settings_are_validated():
    with pytest.raises(ValidationFailed, match="smtp.security"):
        delivery.SmtpSettings.from_mapping({"host": "h", "security": "ssl3"})
    with pytest.raises(ValidationFailed, match="smtp.port"):
        delivery.SmtpSettings.from_mapping({"host": "h", "port": "lots"})
    s = delivery.SmtpSettings.from_mapping({"host": "h", "security": "tls", "password": "pw"})
    assert s.port == 465 and "pw" not in repr(s)


def test_starttls_required_but_not_offered_keeps_messages_pending(store, smtp):
    queue(store, 1)
    settings = delivery.SmtpSettings(host="127.0.0.1", port=smtp.port, security="starttls", timeout=5)
    report = delivery.send_pending(store, settings)
    assert report.sent == 0 and "STARTTLS" in report.server_error
    assert rows(store)[0].status == "pending" and smtp.recorder.messages == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_login_with_credentials(store, clock):
    server = SmtpServer(credentials=("regdesk", "s3cret")).start()
    try:
        queue(store, 1)
        report = delivery.send_pending(store, server.settings(user="regdesk", password="wrong"))
        assert report.sent == 0 and "refused the login" in report.server_error
        assert rows(store)[0].status == "pending"
        clock.advance(minutes=2)
        assert delivery.send_pending(store, server.settings(user="regdesk", password="s3cret")).sent == 1
    finally:
        server.stop()


def test_outbox_views_mask_live_links(store, actor):
    queue(store, 1)
    (view,) = store.call(delivery.list_messages, actor("support1"), status="pending")
    assert not TOKEN_PATTERN.search(view.body)
    assert store.call(delivery.counts, actor("support1")) == {"pending": 1, "sent": 0, "dead": 0}
    assert store.call(delivery.list_messages, actor("support1"), status="dead") == []
