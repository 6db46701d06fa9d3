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


def _request_reads(seen: list[str]) -> list[str]:
    return [s for s in seen if s.startswith("select") and "from signuprequest" in s]


def test_a_verify_reads_its_token_and_request_once_and_nothing_after_the_update(any_store):
    from services import signup
    from tests.test_signup_services import link_token

    warm = submit(any_store, email="warm@example.org", user_name="warm").number
    any_store.call(signup.verify, link_token(any_store, warm))  # compiled once
    number = submit(any_store).number
    raw = link_token(any_store, number)
    with _sql(any_store) as seen:
        result = any_store.call(signup.verify, raw)
    assert result.number == number and result.status == "Verified by user"
    token_reads = [s for s in seen if s.startswith("select") and "from token" in s]
    assert len(token_reads) == 1, seen  # the plan's: the write phase's conditional UPDATE re-checks it
    assert len(_request_reads(seen)) == 1, seen
    update = next(i for i, s in enumerate(seen) if s.startswith("update signuprequest"))
    assert "returning" in seen[update], seen[update]  # the row as it is now comes back with the UPDATE
    assert seen[update + 1].startswith("insert into auditevent"), seen[update:]
    with any_store.read() as s:
        req = signup.get_request(s, number)
        assert (req.status, req.version, req.verified_at is not None) == ("Verified by user", 2, True)
    import pytest

    from services.errors import InvalidTransition

    with pytest.raises(InvalidTransition, match="already used"):
        any_store.call(signup.verify, raw)


def test_approve_and_reject_read_the_request_once(any_store):
    from services import signup
    from tests.test_signup_services import verified

    approver = actor_of(any_store)("approver1")
    first, second, third = (verified(any_store, email=f"r{i}@example.org", user_name=f"rej{i}") for i in range(3))
    any_store.call(signup.approve, approver, first)  # compiled once
    with _sql(any_store) as seen:
        result = any_store.call(signup.approve, approver, second, "fine")
    assert result.status == "Approved"
    assert len(_request_reads(seen)) == 1, seen  # the plan's; nothing after the UPDATE
    with _sql(any_store) as seen:
        result = any_store.call(signup.reject, approver, third, "Not a business customer")
    assert result.status == "Rejected"
    assert len(_request_reads(seen)) == 1, seen
    with any_store.read() as s:
        a, r = signup.get_request(s, second), signup.get_request(s, third)
        assert (a.status, a.approved_by, a.version) == ("Approved", "approver1", 3)
        assert (r.status, r.rejected_by, r.reject_reason, r.version) == (
            "Rejected",
            "approver1",
            "Not a business customer",
            3,
        )


def test_a_submit_reads_the_mail_parameters_once_and_takes_its_number_in_one_statement(any_store):
    from services import mail

    submit(any_store, email="warm2@example.org", user_name="warm2")  # compiled once
    with any_store.write() as s:  # a stored template and sender: read with the one statement
        mail.set_template(s, actor_of(any_store)("admin1"), "signup_verify", "Check $number", "Hello $first_name")
    with _sql(any_store) as seen:
        result = submit(any_store, email="third@example.org", user_name="third")
    assert len([s for s in seen if s.startswith("select") and "from parameter" in s]) == 1, seen
    assert not [s for s in seen if "select continuous" in s], seen  # the number's sequence is not continuous
    assert len([s for s in seen if "numbersequence" in s]) == 1, seen
    with any_store.read() as s:
        from sqlmodel import select

        from models.core import OutboxEmail

        out = s.exec(select(OutboxEmail).where(OutboxEmail.entity_key == result.number)).one()
        assert (out.subject, out.body) == (f"Check {result.number}", "Hello Ann")


def _second_create(store):
    """The statements of a create from an approved request, after a first one compiled them:
    (statements, its result, the request's number)."""
    from services import signup
    from tests.test_signup_services import approved

    approver = actor_of(store)("approver1")
    kwargs = {"mode": "new", "template": "DOMESTIC", "role": "Customer self-service user"}
    first = approved(store, email="c1@example.org", user_name="cre1")
    second = approved(store, email="c2@example.org", user_name="cre2", company="Other Traders")
    store.call(signup.create_customer, approver, first, **kwargs)  # compiled once
    with _sql(store) as seen:
        result = store.call(signup.create_customer, approver, second, **kwargs)
    return seen, result, second


def test_a_create_reads_the_sequence_flags_once_and_the_request_once(any_store):
    from services import signup

    seen, result, second = _second_create(any_store)
    assert len([s for s in seen if s.startswith("select") and "numbersequence" in s]) <= 1, seen
    assert len(_request_reads(seen)) == 1, seen  # the plan's; the claim's RETURNING gives the row back
    with any_store.read() as s:
        req = signup.get_request(s, second)
        assert (req.status, req.created_customer_account, req.created_by) == (
            "Created",
            result.customer_account,
            "approver1",
        )
        assert not result.customer_account.startswith("~") and not result.user_request.startswith("~")


def test_a_create_updates_its_request_once_and_asks_the_workflow_nothing_about_the_new_documents(any_store):
    """The request names its customer in the claiming UPDATE (not a second UPDATE); the user
    request numbered in this transaction is not looked up as a live workflow document, nor read
    back when no workflow started."""
    from services import signup

    seen, result, second = _second_create(any_store)
    # one UPDATE claims the request and names its customer (SQLite's settle then swaps the number in)
    assert len([s for s in seen if s.startswith("update signuprequest") and "replace(" not in s]) == 1, seen
    assert not [s for s in seen if s.startswith("select") and "from workflowinstance" in s], seen
    assert not [s for s in seen if s.startswith("select") and "from userrequest" in s], seen
    with any_store.read() as s:
        req = signup.get_request(s, second)
        assert req.created_customer_account == result.customer_account
        assert not result.customer_account.startswith("~")


def test_a_create_for_an_existing_customer_names_it_in_the_claiming_update(any_store):
    from services import signup
    from tests.test_signup_services import approved

    approver = actor_of(any_store)("approver1")
    number = approved(any_store, email="c3@example.org", user_name="cre3")
    with _sql(any_store) as seen:
        result = any_store.call(
            signup.create_customer,
            approver,
            number,
            mode="existing",
            existing_account="C-000001",
            role="Customer self-service user",
        )
    assert len([s for s in seen if s.startswith("update signuprequest")]) == 1, seen
    assert result.customer_account == "C-000001" and not result.new_customer
    with any_store.read() as s:
        assert signup.get_request(s, number).created_customer_account == "C-000001"


def test_a_customer_edit_reads_only_the_parameters_it_needs(any_store):
    """The approval settings an edit asks for (customer_approval.*) are read by key, not by
    reading every row of the parameter table; the values are the stored ones."""
    admin = actor_of(any_store)("admin1")
    support = actor_of(any_store)("support1")
    any_store.call(changes.set_approvals, admin, "on")
    any_store.call(changes.set_field_approval, admin, "Credit limit", "on")
    from services import params

    with any_store.write() as s:  # another area's row
        params.set_value(s, admin, "signup.default_role", "Customer self-service user")
    with _sql(any_store) as seen:
        result = any_store.call(changes.edit_customer, support, "C-000001", {"city": "Tacoma", "credit_limit": "7"})
    reads = [s for s in seen if s.startswith("select") and "from parameter" in s]
    assert reads, seen
    assert all(" where parameter.key" in s.replace('"key"', "key") for s in reads), reads
    assert result.saved == {"city": "Tacoma"}  # credit limit needs approval: the stored switch was read
