"""The governed customer import (data entity) and export: the three behaviors, dry-run,
invalid rows, CSV and JSON, export round-trip."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from sqlmodel import select

from models.changes import ChangeProposal
from models.core import AuditEvent
from services import changes, customers
from services import customer_import as ci
from services.errors import PermissionDenied, ValidationFailed
from tests.conftest import HOSTILE, actor_of

CSV = (
    "account,credit_limit,city,name\n"
    "C-000001,5000,Tacoma,Fabrikam, Inc.\n"  # wrong number of cells (unquoted comma)
    'C-000002,7000,Leeds,"Contoso Retail Ltd"\n'
    "C-000003,lots,Bothell,Adventure Works\n"
    "C-999999,1,Nowhere,Ghost\n"
    'C-000004,0,Berlin,"Northwind Traders"\n'
)


def setup(store, behavior, *fields):
    admin = actor_of(store)("admin1")
    store.call(changes.set_approvals, admin, True)
    for f in fields:
        store.call(changes.set_field_approval, admin, f, True)
    store.call(changes.set_entity_behavior, admin, behavior)
    return admin


def cust(store, account):
    with store.read() as s:
        return customers.get_customer(s, account)


def run(store, text, *, fmt="csv", dry_run=False, partial=True):
    """--partial: these tests look at each row's outcome next to invalid ones (all-or-nothing:
    tests/test_import_atomic.py)."""
    rows = ci.parse_csv(text) if fmt == "csv" else ci.parse_json(text)
    return store.call(ci.import_rows, actor_of(store)("admin1"), rows, dry_run=dry_run, partial=partial)


def by_line(report):
    return {r.line: r for r in report.report}


def test_invalid_rows_are_reported_with_line_numbers_and_change_nothing(store):
    setup(store, "allow", "credit_limit")
    report = run(store, CSV)
    rows = by_line(report)
    assert rows[2].status == "invalid" and "cells" in rows[2].reason
    assert rows[4].status == "invalid" and rows[4].errors == {"credit_limit": "a number, e.g. 25000.00"}
    assert rows[5].status == "invalid" and rows[5].reason == "no customer C-999999"
    assert rows[3].status == "applied" and rows[3].applied == ["city", "credit_limit"]
    assert rows[6].status == "applied" and rows[6].applied == ["city"]
    assert report.counts == {"applied": 2, "proposed": 0, "refused": 0, "invalid": 3, "unchanged": 0}
    assert cust(store, "C-000003").city == "Bothell" and cust(store, "C-000001").city == "Seattle"


def test_allow_updates_every_field(any_store):
    setup(any_store, "allow", "credit_limit")
    run(any_store, CSV)
    c = cust(any_store, "C-000002")
    assert c.credit_limit == Decimal("7000.00") and c.city == "Leeds"
    with any_store.read() as s:
        ev = s.exec(
            select(AuditEvent).where(AuditEvent.entity_key == "C-000002", AuditEvent.action == "imported")
        ).one()
        assert ev.operator == "admin1" and "line 3" in ev.comment and '"credit_limit": "7000.00"' in ev.after
        assert s.exec(select(ChangeProposal)).all() == []


def test_reject_refuses_enabled_fields_and_applies_the_rest(any_store):
    setup(any_store, "reject", "credit_limit")
    report = run(any_store, CSV)
    row = by_line(report)[3]
    assert row.status == "refused" and row.refused == ["credit_limit"] and row.applied == ["city"]
    assert "need approval" in row.reason
    c = cust(any_store, "C-000002")
    assert c.credit_limit == Decimal("0.00") and c.city == "Leeds"


def test_propose_applies_the_rest_and_submits_a_proposal(any_store):
    setup(any_store, "propose", "credit_limit")
    report = run(any_store, CSV)
    row = by_line(report)[3]
    assert row.status == "proposed" and row.proposed == ["credit_limit"] and row.applied == ["city"]
    assert row.proposal == "CHG-000001"
    c = cust(any_store, "C-000002")
    assert c.credit_limit == Decimal("0.00") and c.city == "Leeds"
    view = any_store.call(changes.show_proposal, actor_of(any_store)("approver1"), "C-000002")
    assert view.state == "Submitted" and view.source == "import" and view.status == "Changes pending approval"
    assert [(x.field, x.original, x.proposed) for x in view.lines] == [("credit_limit", "0.00", "7000.00")]
    any_store.call(changes.approve, actor_of(any_store)("approver1"), "C-000002")
    assert cust(any_store, "C-000002").credit_limit == Decimal("7000.00")


def test_propose_refuses_fields_locked_by_a_pending_proposal_and_merges_unsubmitted(store, actor):
    setup(store, "propose", "credit_limit", "name")
    store.call(changes.edit_customer, actor("support1"), "C-000002", {"name": "Contoso Two"})
    store.call(changes.submit, actor("support1"), "C-000002")
    store.call(changes.edit_customer, actor("support1"), "C-000004", {"name": "Northwind Two"})
    report = run(store, CSV)
    rows = by_line(report)
    assert rows[3].status == "refused" and rows[3].refused == ["credit_limit"] and "locked" in rows[3].reason
    assert rows[6].status == "applied"  # credit limit unchanged; the name equals the customer's
    text = "account,credit_limit\nC-000004,123\n"
    rows = by_line(run(store, text))
    assert rows[2].status == "proposed"
    view = store.call(changes.show_proposal, actor("approver1"), "C-000004")
    assert view.state == "Submitted" and {x.field for x in view.lines} == {"credit_limit", "name"}


def test_dry_run_writes_nothing(store):
    setup(store, "propose", "credit_limit")
    with store.read() as s:
        before = s.exec(select(AuditEvent.id)).all()
    report = run(store, CSV, dry_run=True)
    assert report.dry_run and by_line(report)[3].status == "proposed"
    with store.read() as s:
        assert s.exec(select(AuditEvent.id)).all() == before
        assert s.exec(select(ChangeProposal)).all() == []
    assert cust(store, "C-000002").city == "London"


def test_json_rows_with_lines(store):
    setup(store, "allow")
    text = (
        '[\n  {"account": "C-000001", "city": "Tacoma"},\n  {"account": "C-000002", "shoe": 1},\n'
        '  {"account": "C-000003",\n   "mandatory_credit_limit": true, "credit_limit": 12.5},\n  7\n]'
    )
    rows = by_line(run(store, text, fmt="json"))
    assert rows[2].status == "applied"
    assert rows[3].status == "invalid" and "unknown field shoe" in rows[3].reason
    assert rows[4].status == "applied" and cust(store, "C-000003").credit_limit == Decimal("12.50")
    assert rows[6].status == "invalid" and rows[6].reason == "not an object"
    with pytest.raises(ValidationFailed, match="line 2"):
        ci.parse_json('[\n {"account": }]')


def test_bad_header_is_refused_before_any_row(store):
    with pytest.raises(ValidationFailed, match="unknown customer field"):
        ci.parse_csv("account,shoe_size\nC-000001,4\n")
    with pytest.raises(ValidationFailed, match="account"):
        ci.parse_csv("name\nx\n")


def test_import_needs_permission(store, actor):
    with pytest.raises(PermissionDenied):
        store.call(ci.import_rows, actor("support1"), ci.parse_csv("account,city\nC-000001,X\n"))


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_round_trip(store, tmp_path, fmt):
    admin = setup(store, "allow")
    store.call(
        ci.import_rows, admin, ci.parse_csv(f'account,name,mandatory_credit_limit\nC-000001,"{HOSTILE[0]}",yes\n')
    )
    path = tmp_path / f"customers.{fmt}"
    assert store.call(ci.export_customers, admin, path) == 4
    rows = ci.read_file(path)
    assert len(rows) == 4 and rows[0].values["name"] == HOSTILE[0]
    report = store.call(ci.import_rows, admin, rows)
    assert report.counts["unchanged"] == 4
    if fmt == "json":
        data = json.loads(path.read_text())
        assert data[0]["mandatory_credit_limit"] is True and data[0]["credit_limit"] == "0.00"
