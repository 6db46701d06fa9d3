"""Issue 9: mail exactly once as far as SMTP allows (aiosmtpd on loopback).

Each "What was seen" item: the two-sender slow-server duplicates, a killed sender's batch
held for five minutes, refusals that look like success, Date and Message-ID.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from email.utils import parsedate_to_datetime

import pytest
from sqlmodel import select

from models.core import AuditEvent, OutboxEmail
from services import delivery, params, signup
from services.permissions import PORTAL
from services.store import Store
from tests.portal_helpers import BASE
from tests.smtp_helpers import SmtpServer, free_port


@pytest.fixture
def smtp():
    server = SmtpServer().start()
    yield server
    server.stop()


def queue(store, n: int, start: int = 0) -> list[OutboxEmail]:
    for i in range(start, start + n):
        store.call(signup.submit, PORTAL, {**BASE, "email": f"c{i}@tailwind.example", "company": f"Company {i}"})
    return rows(store)


def rows(store) -> list[OutboxEmail]:
    with store.read() as s:
        return list(s.exec(select(OutboxEmail).order_by(OutboxEmail.id)).all())


@pytest.fixture
def live_store(any_store):
    """The same database on the system clock (leases run out in real time)."""
    s = Store(any_store.engine.url.render_as_string(hide_password=False), upgrade=False)
    yield s
    s.dispose()


# ------------------------------------------------------------------ two senders, a slow server


def test_two_senders_and_a_slow_server_deliver_each_message_once(live_store, smtp, monkeypatch):
    """Seen: 115 mails, 4 s each, a second sender after the batch lease ran out -> 23 duplicates.
    Here: 0.25 s per mail (8 s for the batch), a 6 s lease, the second sender starts mid-batch
    after 6.3 s, when a batch lease taken at the start would have run out.

    The lease leaves each send 4.5 s (lease minus margin) for 0.25 s of server time: under heavy
    load a 2 s lease (1.5 s per send) once timed a send out, which backed off the rest of the
    round and left 6 of 12 mails undelivered. The proof is unchanged: the second sender runs
    while the first still has mails to send, and every message arrives exactly once."""
    queued = queue(live_store, 32)
    smtp.recorder.delay = 0.25
    monkeypatch.setattr(delivery.sender, "lease_length", lambda _settings: timedelta(seconds=6))
    reports: dict[str, delivery.SendReport] = {}
    errors: list[BaseException] = []

    def sender(name: str, wait: float) -> None:
        time.sleep(wait)
        try:
            reports[name] = delivery.send_pending(live_store, smtp.settings(), limit=100)
        except BaseException as exc:  # pragma: no cover - shown by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=sender, args=("A", 0)), threading.Thread(target=sender, args=("B", 6.3))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert smtp.recorder.by_message_id() == {m.message_id: 1 for m in queued}  # each exactly once
    assert reports["A"].sent + reports["B"].sent == 32 and reports["B"].sent >= 1  # B really took part
    assert {m.status for m in rows(live_store)} == {"sent"}


def test_a_send_never_outlives_its_lease(store, smtp):
    """A server slower than the lease: the sender gives the message up before its lease ends
    (so no second sender can overlap it); the row waits for its backoff."""
    queue(store, 1)
    smtp.recorder.delay = 2.0
    report = delivery.send_pending(store, smtp.settings(), lease=timedelta(seconds=1))
    assert report.sent == 0 and "timed out" in report.server_error
    (m,) = rows(store)
    assert m.status == "pending" and m.lease_id is None and m.attempts == 1


# ------------------------------------------------------------------ a killed sender


def test_killed_sender_holds_back_one_message_for_one_short_lease(any_store, clock, smtp):
    """Seen: a killed sender's whole batch (~100) stayed leased for 5 minutes behind 'next try
    <a time in the past>'. Now only the message in flight is leased, for a short lease, and
    the next run after it picks it up and says so."""
    queued = queue(any_store, 4)

    def killed(_row_id):
        raise KeyboardInterrupt  # the process dies holding the lease on its first message

    with pytest.raises(KeyboardInterrupt):
        delivery.send_pending(any_store, smtp.settings(), before_send=killed)
    report = delivery.send_pending(any_store, smtp.settings())
    assert report.sent == 3 and report.recovered == 0
    assert report.leased_elsewhere == 1 and report.lease_until > clock() and report.next_attempt_at is None
    lease = delivery.lease_length(smtp.settings())
    assert lease <= timedelta(seconds=30)  # timeout 5 s: 20 s, not 5 minutes
    clock.advance(seconds=lease.total_seconds() + 1)
    report = delivery.send_pending(any_store, smtp.settings())
    assert report.sent == 1 and report.recovered == 1 and report.still_pending == 0
    assert smtp.recorder.by_message_id() == {m.message_id: 1 for m in queued}
    with any_store.read() as s:
        events = s.exec(
            select(AuditEvent).where(AuditEvent.entity_type == "outbox", AuditEvent.action == "lease expired")
        ).all()
    assert len(events) == 1 and "stopped" in events[0].comment


def test_killed_sender_pickup_is_reported_by_the_cli(cli, db_path, monkeypatch, smtp):
    store = Store(f"sqlite:///{db_path}")
    try:
        queue(store, 2)

        def killed(_row_id):
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            delivery.send_pending(store, smtp.settings(), before_send=killed, lease=timedelta(seconds=8))
        killed_at = time.monotonic()
        for name, value in (("HOST", "127.0.0.1"), ("PORT", str(smtp.port)), ("SECURITY", "none")):
            monkeypatch.setenv(f"REGDESK_SMTP_{name}", value)
        r = cli("outbox", "send", as_="admin1")
        assert r.code == 0 and "sent 1" in r.out and "being sent by another sender (lease until" in r.out, r
        time.sleep(max(0.0, killed_at + 8.1 - time.monotonic()))
        r = cli("outbox", "send", as_="admin1")
        assert r.code == 0 and "sent 1" in r.out and "picked up 1 message(s) a stopped sender had left" in r.out, r
    finally:
        store.dispose()
    assert len(smtp.recorder.by_message_id()) == 2 and len(smtp.recorder.messages) == 2


# ------------------------------------------------------------------ refusals


@pytest.mark.parametrize("where", ["data", "rcpt"])
def test_permanent_refusal_is_dead_after_the_first(any_store, smtp, where):
    queue(any_store, 1)
    setattr(
        smtp.recorder, "refuse" if where == "data" else "refuse_rcpt", "550 5.1.1 <c0@tailwind.example>: no such user"
    )
    report = delivery.send_pending(any_store, smtp.settings())
    assert (report.sent, report.dead, report.retrying) == (0, 1, 0)
    (m,) = rows(any_store)
    assert m.status == "dead" and m.attempts == 1 and m.next_attempt_at is None
    assert "550 5.1.1" in m.last_error and "no such user" in m.last_error  # the server's answer
    assert smtp.recorder.messages == []


def test_temporary_refusal_backs_off_then_dead_after_max_attempts(store, clock, smtp, actor):
    queue(store, 1)
    with store.write() as s:
        params.set_value(s, actor("admin1"), "mail.max_attempts", 3)
    smtp.recorder.refuse = "451 4.3.0 try again later"
    for attempts, delay in ((1, timedelta(minutes=1)), (2, timedelta(minutes=2))):
        report = delivery.send_pending(store, smtp.settings())
        assert report.retrying == 1 and report.dead == 0 and report.delivered_nothing_due
        (m,) = rows(store)
        assert (m.status, m.attempts) == ("pending", attempts) and m.next_attempt_at - clock() == delay
        assert delivery.send_pending(store, smtp.settings()).claimed == 0  # backing off
        clock.current = m.next_attempt_at
    report = delivery.send_pending(store, smtp.settings())
    (m,) = rows(store)
    assert report.dead == 1 and m.status == "dead" and m.last_error == "451 4.3.0 try again later"


# ------------------------------------------------------------------ headers


def test_date_is_the_send_time_and_message_id_uses_the_sender_domain(any_store, clock, smtp):
    (queued,) = queue(any_store, 1)
    assert queued.message_id.endswith("@example.com>")  # mail.from is regdesk <no-reply@example.com>
    clock.advance(hours=3)
    smtp.recorder.refuse = "451 4.3.0 later"
    delivery.send_pending(any_store, smtp.settings(sender="Desk <desk@Mail.Contoso.example>"))
    (m,) = rows(any_store)
    assert m.message_id == queued.message_id.replace("@example.com>", "@mail.contoso.example>")
    smtp.recorder.refuse = None
    clock.advance(hours=1)
    assert delivery.send_pending(any_store, smtp.settings()).sent == 1  # mail.from again: the id stays
    (got,) = smtp.recorder.messages
    assert got["Message-ID"] == m.message_id == rows(any_store)[0].message_id
    assert parsedate_to_datetime(got["Date"]) == clock()  # when it was sent, not when it was queued
    assert clock() - queued.created_at == timedelta(hours=4)


def test_dropped_connection_after_data_is_the_one_repeat(store, clock, smtp):
    """The server took the message but the answer never came: the next try sends it again,
    with the same Message-ID (README: the one case of a repeat)."""
    (queued,) = queue(store, 1)
    smtp.recorder.drop_after_data = 1
    report = delivery.send_pending(store, smtp.settings())
    assert report.sent == 0 and report.server_error and rows(store)[0].status == "pending"
    clock.advance(minutes=1)
    assert delivery.send_pending(store, smtp.settings()).sent == 1
    assert smtp.recorder.by_message_id() == {queued.message_id: 2}


# ------------------------------------------------------------------ the CLI: exit codes and status


def _smtp_env(monkeypatch, port: int) -> None:
    for name, value in (("HOST", "127.0.0.1"), ("PORT", str(port)), ("SECURITY", "none"), ("TIMEOUT", "5")):
        monkeypatch.setenv(f"REGDESK_SMTP_{name}", value)


def test_send_exits_non_zero_when_nothing_due_could_be_delivered(cli, db_path, monkeypatch, smtp):
    store = Store(f"sqlite:///{db_path}")
    try:
        queue(store, 2)
    finally:
        store.dispose()
    _smtp_env(monkeypatch, smtp.port)
    smtp.recorder.refuse = "451 4.7.1 greylisted, try again later"
    r = cli("outbox", "send", as_="admin1")
    assert r.code == 10 and "2 to retry" in r.out and "451 4.7.1 greylisted" in r.out, r
    assert "took none of the messages" in r.err
    r = cli("outbox", "send", as_="admin1")  # during the backoff: says why nothing went
    assert r.code == 10 and "nothing was due" in r.err and "greylisted" in r.err and "next try" in r.err, r
    r = cli("outbox", "send", "--json", as_="admin1")
    assert r.code == 10 and r.json()["delivered_nothing_due"] is True


def test_permanent_refusal_exits_non_zero_with_the_servers_answer(cli, db_path, monkeypatch, smtp):
    store = Store(f"sqlite:///{db_path}")
    try:
        queue(store, 1)
    finally:
        store.dispose()
    _smtp_env(monkeypatch, smtp.port)
    smtp.recorder.refuse = "554 5.7.1 rejected by policy"
    r = cli("outbox", "send", as_="admin1")
    assert r.code == 10 and "1 dead" in r.out and "554 5.7.1 rejected by policy" in r.out, r


def test_unreachable_server_then_a_second_send_during_backoff(cli, db_path, monkeypatch):
    store = Store(f"sqlite:///{db_path}")
    try:
        queue(store, 1)
    finally:
        store.dispose()
    _smtp_env(monkeypatch, free_port())
    r = cli("outbox", "send", as_="admin1")
    assert r.code == 10 and "cannot reach the SMTP server" in r.err and "nothing is lost" in r.err, r
    r = cli("outbox", "send", as_="admin1")  # seen: exit 0, silent
    assert r.code == 10 and "nothing was due" in r.err and "cannot reach the SMTP server" in r.err, r
    assert "next try" in r.err


def test_status_checks_that_the_server_answers(cli, monkeypatch, smtp):
    _smtp_env(monkeypatch, smtp.port)
    r = cli("outbox", "status", as_="support1")
    assert r.code == 0 and "answers (250" in r.out, r
    r = cli("outbox", "status", "--json", as_="support1")
    assert r.code == 0 and r.json()["server"].startswith("smtp://127.0.0.1")
    _smtp_env(monkeypatch, free_port())
    r = cli("outbox", "status", as_="support1")
    assert r.code == 10 and "cannot reach the SMTP server" in r.err, r
