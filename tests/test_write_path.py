"""Writers wait milliseconds, not seconds: reads and checks before the write transaction,
the number last, a locked SQLite database retried inside the store (issue 9)."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlmodel import select

from models.core import AuditEvent, NumberSequence
from models.signup import SignupRequest
from services import audit, sequences, signup
from services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from services.permissions import PORTAL
from services.store import Store
from tests.conftest import actor_of
from tests.test_signup_services import GOOD

GENEROUS = 5.0  # seconds; the old code waited the whole 15 s busy timeout


def _hold_sqlite_write_lock(store: Store) -> sqlite3.Connection:
    conn = sqlite3.connect(store.engine.url.database, isolation_level=None, timeout=1, check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE operator SET display_name = display_name WHERE user_name = 'admin1'")
    return conn


def test_refusal_of_a_missing_request_does_not_wait_for_the_write_lock(store):
    approver = actor_of(store)("approver1")
    holder = _hold_sqlite_write_lock(store)
    try:
        started = time.monotonic()
        with pytest.raises(NotFound, match="REG-999999"):
            store.call(signup.approve, approver, "REG-999999")
        assert time.monotonic() - started < GENEROUS
        started = time.monotonic()
        with pytest.raises(ValidationFailed):
            store.call(signup.submit, PORTAL, {**GOOD, "email": "not an address"})
        assert time.monotonic() - started < GENEROUS
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_decisions_on_a_missing_work_item_do_not_wait_for_the_write_lock(store):
    """Work-item decisions plan first (@writes(phased=True)): not found is said at once."""
    from services import workflow

    approver = actor_of(store)("approver1")
    holder = _hold_sqlite_write_lock(store)
    try:
        for call in (
            lambda: store.call(workflow.approve, approver, 999999),
            lambda: store.call(workflow.reject, approver, 999999, "no"),
            lambda: store.call(workflow.request_change, approver, 999999),
            lambda: store.call(workflow.delegate, approver, 999999, "approver2"),
        ):
            started = time.monotonic()
            with pytest.raises(NotFound, match="999999"):
                call()
            assert time.monotonic() - started < GENEROUS
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_briefly_locked_sqlite_database_is_retried_not_shown(store, monkeypatch):
    """A write lock held longer than SQLite's own wait: the store retries, the user sees a result."""
    import services.store as st

    monkeypatch.setattr(st, "SQLITE_LOCK_WAIT_S", 0.05)  # the store's own bounded wait per attempt
    holder = _hold_sqlite_write_lock(store)
    timer = threading.Timer(0.6, lambda: holder.execute("ROLLBACK"))
    timer.start()
    try:
        result = store.call(signup.submit, PORTAL, GOOD)
    finally:
        timer.join()
        holder.close()
    assert result.number == "REG-000001"


def test_a_slow_submit_does_not_hold_up_the_next_one(any_store, clock, monkeypatch):
    """The duplicate search (and everything else that reads) runs before the write transaction,
    so a submit paused there keeps no lock and no sequence row: another submit goes through."""
    other = Store(any_store.url, clock=clock, upgrade=False)
    paused, release = threading.Event(), threading.Event()
    original = signup.queries.find_duplicates

    def slow(session, req, *a, **kw):
        if req.email_normalized.startswith("slow"):
            paused.set()
            release.wait(30)
        return original(session, req, *a, **kw)

    monkeypatch.setattr(signup.queries, "find_duplicates", slow)  # where submit looks it up
    results: dict[str, object] = {}

    def run_slow():
        try:
            results["slow"] = any_store.call(
                signup.submit, PORTAL, {**GOOD, "email": "slow@x.example", "user_name": "slow1"}
            )
        except Exception as exc:  # reported by the assertions below
            results["slow"] = exc

    t = threading.Thread(target=run_slow)
    t.start()
    try:
        assert paused.wait(10)
        done = threading.Event()

        def run_fast():
            try:
                results["fast"] = other.call(
                    signup.submit, PORTAL, {**GOOD, "email": "fast@x.example", "user_name": "fast1"}
                )
            except Exception as exc:
                results["fast"] = exc
            done.set()

        threading.Thread(target=run_fast, daemon=True).start()
        assert done.wait(GENEROUS), "the second submit waited for the first one's transaction"
    finally:
        release.set()
        t.join(30)
        other.dispose()
    assert not isinstance(results["fast"], Exception), results["fast"]
    assert not isinstance(results["slow"], Exception), results["slow"]


@pytest.mark.postgres
def test_registration_numbers_may_skip_but_customer_numbers_stay_gap_free(pg_store, monkeypatch):
    """Non-continuous (registration numbers, default): taken in its own tiny transaction, so
    a failed submit leaves a gap and holds no sequence lock; continuous: given back."""
    calls = {"n": 0}
    original = audit.record

    def failing(*a, **kw):
        calls["n"] += 1
        raise RuntimeError("boom")

    monkeypatch.setattr(audit, "record", failing)
    with pytest.raises(RuntimeError):
        pg_store.call(signup.submit, PORTAL, GOOD)
    monkeypatch.setattr(audit, "record", original)
    assert pg_store.call(signup.submit, PORTAL, GOOD).number == "REG-000002"  # REG-000001 was skipped

    admin = actor_of(pg_store)("admin1")
    pg_store.call(sequences.configure, admin, "signup", continuous=True)
    monkeypatch.setattr(audit, "record", failing)
    with pytest.raises(RuntimeError):
        pg_store.call(signup.submit, PORTAL, {**GOOD, "email": "b@x.example", "user_name": "bbb"})
    monkeypatch.setattr(audit, "record", original)
    assert (
        pg_store.call(signup.submit, PORTAL, {**GOOD, "email": "c@x.example", "user_name": "ccc"}).number
        == "REG-000003"
    )


def test_sequences_have_a_continuous_flag_admins_change_with_audit(any_store):
    with any_store.read() as s:
        flags = {q.code: q.continuous for q in s.exec(select(NumberSequence)).all()}
    assert flags["signup"] is False and flags["customer"] is True
    admin = actor_of(any_store)("admin1")
    any_store.call(sequences.configure, admin, "signup", continuous=True)
    with any_store.read() as s:
        assert s.get(NumberSequence, "signup").continuous is True
        event = s.exec(
            select(AuditEvent).where(AuditEvent.entity_type == "sequence", AuditEvent.entity_key == "signup")
        ).all()[-1]
    assert '"continuous": false' in event.before and '"continuous": true' in event.after


def test_sequences_set_continuous_from_the_cli(cli):
    r = cli("sequences", "set", "customer", "--no-continuous", as_="admin1")
    assert r.code == 0, r
    r = cli("sequences", "list", "--json", as_="admin1")
    rows = {row["code"]: row for row in r.json()}
    assert rows["customer"]["continuous"] is False and rows["signup"]["continuous"] is False
    r = cli("sequences", "set", "signup", "--continuous", as_="admin1")
    assert r.code == 0 and "gap-free" in r.out
    assert cli("sequences", "set", "signup", "--continuous", as_="support1").code == 3


def _create_paused_before_numbers(pg_store, clock, monkeypatch, during_pause):
    """Create a customer from one approved request and pause it after all its inserts, just
    before ``sequences.settle``; run ``during_pause(other_store, second_number)`` meanwhile."""
    from tests.test_signup_services import approved

    first = approved(pg_store, email="first@x.example", user_name="first1")
    second = approved(pg_store, email="second@x.example", user_name="second1")
    other = Store(pg_store.url, clock=clock, upgrade=False)
    paused, release = threading.Event(), threading.Event()
    original = sequences.settle

    def slow(session, **kwargs):
        if threading.current_thread().name == "slow-create":
            paused.set()
            release.wait(30)
        return original(session, **kwargs)

    monkeypatch.setattr(sequences, "settle", slow)
    results: dict[str, object] = {}

    def create():
        try:
            results["slow"] = pg_store.call(
                signup.create_customer,
                actor_of(pg_store)("approver1"),
                first,
                mode="new",
                template="DOMESTIC",
                role="Customer self-service user",
            )
        except Exception as exc:  # reported by the assertions below
            results["slow"] = exc

    t = threading.Thread(target=create, name="slow-create")
    t.start()
    try:
        assert paused.wait(20)
        during_pause(other, second)
    finally:
        release.set()
        t.join(30)
        other.dispose()
    assert not isinstance(results["slow"], Exception), results["slow"]
    return first, results["slow"]


def _no_provisional_keys_left(store) -> None:
    from models.customer import Customer
    from models.signup import UserRequest

    with store.read() as s:
        assert not s.exec(select(Customer).where(Customer.account.startswith("~"))).all()
        assert not s.exec(select(UserRequest).where(UserRequest.number.startswith("~"))).all()
        assert not s.exec(
            select(AuditEvent).where(
                AuditEvent.entity_key.contains("~") | AuditEvent.after.contains("~") | AuditEvent.before.contains("~")
            )
        ).all()


@pytest.mark.postgres
def test_a_create_paused_before_its_numbers_holds_no_sequence_row(pg_store, clock, monkeypatch):
    """Customer and user-request numbers are taken last (sequences.settle): a create paused
    after its inserts (customer, contact, user request, workflow, audit, mail) holds neither
    sequence row; the numbers it then takes are gap-free and swapped in everywhere."""
    from sqlalchemy import text

    taken: dict[str, int] = {}

    def probe(other, _second):
        with other.engine.connect() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '1s'"))
            taken.update(
                {
                    code: conn.execute(
                        text(
                            "UPDATE numbersequence SET next_value = next_value + 1 WHERE code = :c "
                            "RETURNING next_value - 1"
                        ),
                        {"c": code},
                    ).scalar()
                    for code in ("customer", "userrequest")
                }
            )
            conn.rollback()  # given back: the paused create gets these very numbers

    first, result = _create_paused_before_numbers(pg_store, clock, monkeypatch, probe)
    account = sequences.format_number("C-", 6, taken["customer"])
    assert (result.customer_account, result.user_request) == (
        account,
        sequences.format_number("UR-", 6, taken["userrequest"]),
    )
    _no_provisional_keys_left(pg_store)
    with pg_store.read() as s:
        created = s.exec(select(SignupRequest).where(SignupRequest.number == first)).one()
    assert created.created_customer_account == account


@pytest.mark.postgres
def test_a_create_paused_before_its_numbers_does_not_hold_up_the_next_one(pg_store, clock, monkeypatch):
    results: dict[str, object] = {}

    def second_create(other, second):
        done = threading.Event()

        def run():
            try:
                results["fast"] = other.call(
                    signup.create_customer,
                    actor_of(other)("approver1"),
                    second,
                    mode="new",
                    template="DOMESTIC",
                    role="Customer self-service user",
                )
            except Exception as exc:
                results["fast"] = exc
            done.set()

        threading.Thread(target=run, daemon=True).start()
        results["in_time"] = done.wait(GENEROUS)

    _first, slow_result = _create_paused_before_numbers(pg_store, clock, monkeypatch, second_create)
    assert results["in_time"], "the second create waited for the first one's transaction"
    assert not isinstance(results["fast"], Exception), results["fast"]
    assert results["fast"].customer_account < slow_result.customer_account  # the paused one numbered last
    _no_provisional_keys_left(pg_store)


def _refusals(store):
    """One refusal (not found / wrong state / no permission / bad input) of every phased command
    that is not a sign-up, change, case, user-request or prospect transition."""
    from services import customers, delivery, operators, params, portal, workflow

    a = actor_of(store)
    admin, support, approver = a("admin1"), a("support1"), a("approver1")
    bulk = lambda: store.call(workflow.bulk_decide, approver, [999998, 999999], "approve")  # noqa: E731
    return [
        ("portal.disable", lambda: store.call(portal.disable, admin, "nobody"), NotFound),
        ("portal.enable", lambda: store.call(portal.enable, admin, "nobody"), NotFound),
        ("portal.resend_activation", lambda: store.call(portal.resend_activation, admin, "nobody"), NotFound),
        ("portal.activate", lambda: store.call(portal.activate, "rdk_" + "x" * 30, "Good password 123"), NotFound),
        ("delivery.retry", lambda: store.call(delivery.retry, admin, 999999), NotFound),
        (
            "params.set_param",
            lambda: store.call(params.set_param, support, "workflow.disallow_submitter_approval", True),
            PermissionDenied,
        ),
        ("params.set_param bad key", lambda: store.call(params.set_param, admin, "no.such.key", 1), NotFound),
        (
            "operators.add_operator",
            lambda: store.call(operators.add_operator, admin, "approver1", "A", "approver"),
            Conflict,
        ),
        ("operators.set_active", lambda: store.call(operators.set_active, admin, "nobody", False), NotFound),
        ("customers.save_template", lambda: store.call(customers.save_template, support, "T1", {}), PermissionDenied),
        (
            "customers.save_template bad",
            lambda: store.call(customers.save_template, admin, "bad name!", {}),
            ValidationFailed,
        ),
        ("customers.save_role", lambda: store.call(customers.save_role, admin, ""), ValidationFailed),
        ("workflow.bulk_decide", bulk, None),
        (
            "workflow.submit_document",
            lambda: store.call(workflow.submit_document, approver, "no_such_type", "X"),
            NotFound,
        ),
        (
            "workflow.resubmit_document",
            lambda: store.call(workflow.resubmit_document, approver, "case", "CASE-999"),
            NotFound,
        ),
        (
            "workflow.recall_document",
            lambda: store.call(workflow.recall_document, approver, "case", "CASE-999"),
            NotFound,
        ),
    ]


PHASED_REFUSALS = [
    "portal.disable",
    "portal.enable",
    "portal.resend_activation",
    "portal.activate",
    "delivery.retry",
    "params.set_param",
    "params.set_param bad key",
    "operators.add_operator",
    "operators.set_active",
    "customers.save_template",
    "customers.save_template bad",
    "customers.save_role",
    "workflow.bulk_decide",
    "workflow.submit_document",
    "workflow.resubmit_document",
    "workflow.recall_document",
]


def test_the_refusal_list_names_every_case(store):
    assert [name for name, _call, _refusal in _refusals(store)] == PHASED_REFUSALS


@pytest.mark.parametrize("case", PHASED_REFUSALS)
def test_refusals_of_every_phased_command_do_not_wait_for_the_write_lock(store, monkeypatch, case):
    """Every writing command checks before it locks: with another connection holding SQLite's
    write lock (and the store's wait for it cut to 0.3 s, so a command that took the lock
    first would end in "the database is busy"), each refusal is the command's own answer."""
    import services.store as st

    name, call, refusal = next(c for c in _refusals(store) if c[0] == case)
    monkeypatch.setattr(st, "WRITE_RETRY_BUDGET_S", 0.3)
    holder = _hold_sqlite_write_lock(store)
    try:
        if refusal is None:  # bulk: each item's refusal is reported, nothing decided
            results = call()
            assert [r.ok for r in results] == [False, False] and all(r.error == "NotFound" for r in results), name
        else:
            with pytest.raises(refusal):
                call()
    finally:
        holder.execute("ROLLBACK")
        holder.close()
