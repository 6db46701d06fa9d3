"""Issue 11, four eyes: separation of duties on sign-ups, governed imports, the Sales profile."""

from __future__ import annotations

import pytest
from sqlmodel import select

from models.core import AuditEvent
from services import cases, changes, customer_import, operators, params, signup
from services.errors import PermissionDenied
from services.permissions import PORTAL, SYSTEM
from tests.conftest import actor_of
from tests.test_signup_services import GOOD, link_token


def taken_by_staff(store, who: str) -> str:
    number = store.call(signup.submit, actor_of(store)(who), dict(GOOD)).number
    store.call(signup.verify, link_token(store, number))
    return number


def create(store, who, number):
    return store.call(
        signup.create_customer,
        actor_of(store)(who),
        number,
        mode="new",
        template="DOMESTIC",
        role="Customer self-service user",
    )


def test_staff_submitter_may_neither_approve_nor_create(any_store):
    a = actor_of(any_store)
    number = taken_by_staff(any_store, "approver2")
    with pytest.raises(PermissionDenied) as info:
        any_store.call(signup.approve, a("approver2"), number)
    msg = info.value.message
    assert (
        "four eyes" in msg and "on the customer's behalf" in msg and "approver1" in msg and "approver2 may" not in msg
    )
    any_store.call(signup.approve, a("approver1"), number)
    with pytest.raises(PermissionDenied, match="four eyes.*another approver may: approver1"):
        create(any_store, "approver2", number)
    assert create(any_store, "approver1", number).status == "Created"  # the approver creates (single approver)


def test_a_parameter_requires_a_second_person_to_create(any_store):
    a = actor_of(any_store)
    any_store.call(params.set_param, a("admin1"), "signup.create_needs_second_person", True)
    number = any_store.call(signup.submit, PORTAL, dict(GOOD)).number
    any_store.call(signup.verify, link_token(any_store, number))
    any_store.call(signup.approve, a("approver1"), number)
    with pytest.raises(PermissionDenied) as info:
        create(any_store, "approver1", number)
    assert "signup.create_needs_second_person" in info.value.message and "approver2" in info.value.message
    assert create(any_store, "approver2", number).status == "Created"


def test_four_eyes_refusal_on_the_command_line(cli, store):
    number = taken_by_staff(store, "approver2")
    r = cli("requests", "approve", number, as_="approver2")
    assert r.code == 3 and "four eyes" in r.err and "approver1" in r.err


def _approvals_on(store):
    admin = actor_of(store)("admin1")
    store.call(changes.set_approvals, admin, True)
    store.call(changes.set_field_approval, admin, "credit_limit", True)
    return admin


def test_with_approvals_on_an_admin_import_proposes_by_default(any_store):
    admin = _approvals_on(any_store)
    rows = customer_import.parse_csv("account,credit_limit,city\nC-000001,5000,Tacoma\n")
    report = any_store.call(customer_import.import_rows, admin, rows)
    assert report.behavior == "propose" and report.behavior_label == "Create change proposals"
    assert report.report[0].proposed == ["credit_limit"] and report.report[0].applied == ["city"]


def test_an_allow_import_of_approval_fields_says_so_per_row_and_in_the_audit(any_store):
    admin = _approvals_on(any_store)
    any_store.call(changes.set_entity_behavior, admin, "allow")
    rows = customer_import.parse_csv("account,credit_limit,city\nC-000001,5000,Tacoma\nC-000002,,Leeds\n")
    report = any_store.call(customer_import.import_rows, admin, rows)
    first, second = report.report
    assert first.unapproved == ["credit_limit"] and "credit_limit: applied without approval" in first.reason
    assert second.unapproved == [] and "without approval" not in second.reason
    with any_store.read() as s:
        ev = s.exec(
            select(AuditEvent).where(AuditEvent.entity_key == "C-000001", AuditEvent.action == "imported")
        ).one()
    assert "applied without approval: credit_limit" in ev.comment


def test_case_auto_approval_keys_on_the_sales_profile(any_store):
    with any_store.write() as s:
        operators.create_operator(
            s, SYSTEM, "salesnoflag", "Sales No Flag", "support", profile="Sales", sales_rep=False
        )
        operators.create_operator(
            s, SYSTEM, "flagnosales", "Flag No Sales", "support", profile="Customer Service", sales_rep=True
        )
    a = actor_of(any_store)
    new = {"title": "Price", "customer_account": "C-000001"}
    assert any_store.call(cases.create_case, a("salesnoflag"), new).status == "Approved"
    assert any_store.call(cases.create_case, a("flagnosales"), new).status == "Open"
