"""The gap-free numbers of a create are taken in the last statement before its COMMIT (issue 9):
with 20 writers on 2 cores, every round trip made while a sequence row is locked queues every
other create behind it (p99 2.9 s on PostgreSQL when the take was followed by the swaps, the
held audit events and the request's update, one statement each)."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlmodel import select

from models.core import AuditEvent
from models.customer import Customer
from models.signup import SignupRequest, UserRequest
from services import signup
from tests.conftest import actor_of
from tests.test_signup_services import approved


def _create(store, number):
    return store.call(
        signup.create_customer,
        actor_of(store)("approver1"),
        number,
        mode="new",
        template="DOMESTIC",
        role="Customer self-service user",
    )


@pytest.mark.postgres
def test_a_create_takes_its_numbers_in_the_statement_before_its_commit(pg_store):
    number = approved(pg_store, email="last@x.example", user_name="last1")
    log: list[str] = []

    def statement(conn, cursor, sql, params, context, executemany):
        log.append(sql)

    def commit(conn):
        log.append("COMMIT")

    event.listen(pg_store.engine, "before_cursor_execute", statement)
    event.listen(pg_store.engine, "commit", commit)
    try:
        result = _create(pg_store, number)
    finally:
        event.remove(pg_store.engine, "before_cursor_execute", statement)
        event.remove(pg_store.engine, "commit", commit)
    takes = [i for i, sql in enumerate(log) if "UPDATE numbersequence" in sql]
    assert takes, log
    after = log[takes[0] + 1 :]
    assert after[:1] == ["COMMIT"], f"{len(after)} statements while the sequence rows are locked: {after[:6]}"
    assert not result.customer_account.startswith("~") and not result.user_request.startswith("~")


def test_the_numbers_of_a_create_are_everywhere_in_one_step(any_store):
    """Customer, user request, the request's created account and the audit trail all carry the
    real numbers, the next create the next ones (no gap), and nothing provisional is left."""
    results = []
    for i in range(2):
        number = approved(any_store, email=f"n{i}@x.example", user_name=f"numbers{i}")
        results.append((number, _create(any_store, number)))
    accounts = [r.customer_account for _n, r in results]
    urs = [r.user_request for _n, r in results]
    assert int(accounts[1].split("-")[1]) == int(accounts[0].split("-")[1]) + 1
    assert int(urs[1].split("-")[1]) == int(urs[0].split("-")[1]) + 1
    with any_store.read() as s:
        for number, r in results:
            req = s.exec(select(SignupRequest).where(SignupRequest.number == number)).one()
            assert req.created_customer_account == r.customer_account
            assert s.exec(select(Customer).where(Customer.account == r.customer_account)).one()
            assert s.exec(select(UserRequest).where(UserRequest.number == r.user_request)).one()
            created = s.exec(
                select(AuditEvent).where(AuditEvent.entity_key == number, AuditEvent.action == "created")
            ).one()
            assert r.customer_account in (created.after or "") and r.user_request in (created.after or "")
            assert s.exec(select(AuditEvent).where(AuditEvent.entity_key == r.customer_account)).all()
        assert not s.exec(select(Customer).where(Customer.account.startswith("~"))).all()
        assert not s.exec(select(UserRequest).where(UserRequest.number.startswith("~"))).all()
        assert not s.exec(
            select(AuditEvent).where(
                AuditEvent.entity_key.contains("~") | AuditEvent.after.contains("~") | AuditEvent.before.contains("~")
            )
        ).all()
        assert not s.exec(select(SignupRequest).where(SignupRequest.created_customer_account.startswith("~"))).all()


def test_a_forgotten_settle_is_done_at_commit_with_the_held_events(any_store):
    import json

    from services import audit, sequences

    admin = actor_of(any_store)("admin1")
    with any_store.write() as s:
        sequences.defer_numbers(s)
        key = sequences.next_number(s, "customer")
        assert sequences.is_provisional(key)
        audit.record(s, admin, "customer", key, "tested", after={"account": key}, comment=f"for {key}")
    with any_store.read() as s:
        event_ = s.exec(select(AuditEvent).where(AuditEvent.action == "tested")).one()
    assert event_.entity_key.startswith("C-") and not sequences.is_provisional(event_.entity_key)
    assert json.loads(event_.after or "{}") == {"account": event_.entity_key}
    assert event_.comment == f"for {event_.entity_key}"


@pytest.mark.postgres
def test_creates_of_one_shape_run_one_settle_statement_built_once(pg_store):
    """The settle statement is a third of a create's client CPU when each create builds its own
    (and SQLAlchemy then derives its cache key again): every value is a parameter, so creates of
    one shape execute the very same statement object."""
    executed: list[object] = []

    def before_execute(conn, clauseelement, multiparams, params, execution_options):
        if "swap_0" in {getattr(c, "name", None) for c in getattr(clauseelement, "_independent_ctes", ())}:
            executed.append(clauseelement)

    numbers = [approved(pg_store, email=f"shape{i}@x.example", user_name=f"shape{i}") for i in range(3)]
    event.listen(pg_store.engine, "before_execute", before_execute)
    try:
        results = [_create(pg_store, number) for number in numbers]
    finally:
        event.remove(pg_store.engine, "before_execute", before_execute)
    assert len(executed) == 3
    assert executed[1] is executed[0] and executed[2] is executed[0]
    accounts = [int(r.customer_account.split("-")[1]) for r in results]
    assert accounts == [accounts[0], accounts[0] + 1, accounts[0] + 2]  # each its own number
