"""Statements of the office's busiest writes (issue 9): each one a writer's share of the store's
time under load. Counted, not timed: a customer edit reads the customer once to plan and once
(locked) to write, with its open proposal joined, and does not read the row back after the
UPDATE; a sign-up submit has no earlier verification link to void."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import event

from services import changes, customers
from services.store import Store
from tests.conftest import actor_of
from tests.test_signup_services import submit


@contextmanager
def _sql(store: Store) -> Iterator[list[str]]:
    seen: list[str] = []

    def hook(conn, cursor, statement, parameters, context, executemany) -> None:
        seen.append(" ".join(statement.split()).lower())

    event.listen(store.engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", hook)


def test_a_customer_edit_reads_the_customer_twice_and_writes_it_once(any_store):
    support = actor_of(any_store)("support1")
    any_store.call(changes.edit_customer, support, "C-000001", {"city": "Tacoma"})  # compiled once
    with _sql(any_store) as seen:
        result = any_store.call(changes.edit_customer, support, "C-000001", {"city": "Everett", "phone": "+1 555 0102"})
    reads = [s for s in seen if s.startswith("select") and "from customer" in s]
    assert len(reads) == 2, seen  # the plan's and the write phase's (locked), nothing after the UPDATE
    assert all("changeproposal" in s for s in reads), reads  # the open proposal comes with the customer
    assert not [s for s in seen if s.startswith("select") and "from changeproposal" in s], seen
    update = next(i for i, s in enumerate(seen) if s.startswith("update customer"))
    assert seen[update + 1].startswith("insert into auditevent"), seen[update:]
    if not any_store.is_sqlite:
        assert "for update of customer" in reads[1], reads
    assert result.version == 3 and result.saved == {"city": "Everett", "phone": "+1 555 0102"}
    with any_store.read() as s:
        c = customers.get_customer(s, "C-000001")
        assert (c.city, c.phone, c.version) == ("Everett", "+1 555 0102", 3)


def test_a_sign_up_submit_voids_no_link(any_store):
    submit(any_store, email="first@example.org", user_name="first")
    with _sql(any_store) as seen:
        submit(any_store, email="second@example.org", user_name="second")
    assert not [s for s in seen if s.startswith("update token")], seen
    assert [s for s in seen if s.startswith("insert into outboxemail")], seen
