"""Several approvers at once: exactly one wins, the other is told who; numbers stay gap-free.

Each "approver" has its own Store (its own engine and connections), as two consoles or two
CLI processes would. On PostgreSQL both transactions are forced to overlap: each waits at a
barrier after reading the request and before writing, so both really see it Approved.
"""

from __future__ import annotations

import threading

import pytest
from sqlmodel import func, select

from models.customer import Customer
from models.signup import SignupRequest, UserRequest
from services import signup
from services.errors import Conflict
from services.permissions import PORTAL
from services.signup import commands as signup_commands
from services.signup import create as signup_create
from services.store import Store
from tests.conftest import actor_of
from tests.test_signup_services import GOOD, approved, verified


def _run_pair(stores, work):
    results: list[object] = [None, None]

    def run(i):
        try:
            results[i] = work(i, stores[i])
        except Exception as exc:  # collected and asserted on by the test
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "an approver hung"
    return results


def _second_store(store: Store, clock) -> Store:
    return Store(store.url, clock=clock, upgrade=False)


@pytest.fixture
def two_stores(any_store, clock):
    other = _second_store(any_store, clock)
    yield any_store, other
    other.dispose()


def _overlap(monkeypatch, store, module, fn_name):
    """On PostgreSQL, hold each transaction after its reads until both have read (``module.fn_name``:
    where the command looks it up)."""
    if store.is_sqlite:
        return  # BEGIN IMMEDIATE: the second writer waits for the first to commit
    barrier = threading.Barrier(2, timeout=10)
    original = getattr(module, fn_name)

    def held(session, *args, **kwargs):
        result = original(session, *args, **kwargs)
        try:
            barrier.wait()
        except threading.BrokenBarrierError:
            pass
        return result

    monkeypatch.setattr(module, fn_name, held)


def test_two_approvers_approve_at_once(two_stores, monkeypatch):
    a, b = two_stores
    number = verified(a)
    _overlap(monkeypatch, a, signup_commands, "get_request")
    names = ["approver1", "approver2"]
    results = _run_pair([a, b], lambda i, st: st.call(signup.approve, actor_of(st)(names[i]), number))
    wins = [r for r in results if not isinstance(r, Exception)]
    losses = [r for r in results if isinstance(r, Exception)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert isinstance(losses[0], Conflict)
    with a.read() as s:
        req = s.exec(select(SignupRequest).where(SignupRequest.number == number)).one()
    assert req.status == "Approved"
    assert f"already approved by {req.approved_by}" in losses[0].message


def test_two_approvers_create_at_once_make_one_customer(two_stores, monkeypatch):
    a, b = two_stores
    number = approved(a)
    with a.read() as s:
        customers_before = s.exec(select(func.count()).select_from(Customer)).one()
    _overlap(monkeypatch, a, signup_create, "preview_create")
    names = ["approver1", "approver2"]

    def create(i, st):
        return st.call(
            signup.create_customer,
            actor_of(st)(names[i]),
            number,
            mode="new",
            template="DOMESTIC",
            role="Customer self-service user",
        )

    results = _run_pair([a, b], create)
    wins = [r for r in results if not isinstance(r, Exception)]
    losses = [r for r in results if isinstance(r, Exception)]
    assert len(wins) == 1 and len(losses) == 1, results
    assert isinstance(losses[0], Conflict) and "created by" in losses[0].message
    with a.read() as s:
        assert s.exec(select(func.count()).select_from(Customer)).one() == customers_before + 1
        assert len(s.exec(select(UserRequest)).all()) == 1
    # the loser's customer number was given back: the next customer continues without a gap
    assert wins[0].customer_account == f"C-{customers_before + 1:06d}"


def test_concurrent_submissions_get_gap_free_numbers(any_store, clock):
    stores = [any_store] + [_second_store(any_store, clock) for _ in range(3)]
    errors: list[Exception] = []

    def submit_many(st, k):
        for j in range(5):
            try:
                st.call(signup.submit, PORTAL, {**GOOD, "email": f"p{k}-{j}@x.example", "user_name": f"user{k}x{j}"})
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=submit_many, args=(st, k)) for k, st in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    for st in stores[1:]:
        st.dispose()
    assert errors == []
    with any_store.read() as s:
        numbers = sorted(s.exec(select(SignupRequest.number)).all())
    assert numbers == [f"REG-{i:06d}" for i in range(1, 21)]
