"""Proposed customer changes (issue 4): parameters, edit, discard, submit, lock, decide, conflicts,
self-approval, history, and the customer change workflow."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlmodel import select

from models.changes import ChangeLine, ChangeProposal
from models.core import AuditEvent
from models.customer import Customer
from services import changes, customers
from services.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from tests.conftest import actor_of

ACC = "C-000001"  # Fabrikam, Inc.; credit limit 0.00, city Seattle


def enable(store, *fields, on=True):
    admin = actor_of(store)("admin1")
    store.call(changes.set_approvals, admin, on)
    for f in fields:
        store.call(changes.set_field_approval, admin, f, True)


def customer(store, account=ACC) -> Customer:
    with store.read() as s:
        return customers.get_customer(s, account)


def events(store, entity_type, key):
    with store.read() as s:
        return s.exec(
            select(AuditEvent)
            .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_key == key)
            .order_by(AuditEvent.id)
        ).all()


def proposal(store, account=ACC):
    return store.call(changes.show_proposal, actor_of(store)("approver1"), account)


def submitted(store, values=None, *, by="support1", fields=("credit_limit", "name")):
    enable(store, *fields)
    a = actor_of(store)
    store.call(changes.edit_customer, a(by), ACC, values or {"credit_limit": "25000", "name": "Fabrikam Holdings"})
    store.call(changes.submit, a(by), ACC)


# ------------------------------------------------------------------ parameters


def test_parameters_admin_only_and_audited(store, actor):
    with pytest.raises(PermissionDenied, match="admin"):
        store.call(changes.set_approvals, actor("support1"), True)
    settings = store.call(changes.set_approvals, actor("admin1"), "on")
    assert settings.enabled is True and len(settings.fields) == 16
    settings = store.call(changes.set_field_approval, actor("admin1"), "Credit limit", "on")
    assert [f.name for f in settings.fields if f.enabled] == ["credit_limit"]
    settings = store.call(changes.set_entity_behavior, actor("admin1"), "propose")
    assert settings.entity_behavior == "propose" and settings.entity_behavior_label == "Create change proposals"
    assert [e.operator for e in events(store, "parameter", "customer_approval.enabled")] == ["admin1"]
    assert events(store, "parameter", "customer_approval.field.credit_limit")[0].after == '{"value": true}'
    with pytest.raises(ValidationFailed, match="cannot need approval"):
        store.call(changes.set_field_approval, actor("admin1"), "email", "on")
    with pytest.raises(ValidationFailed, match="no customer field"):
        store.call(changes.set_field_approval, actor("admin1"), "shoe_size", "on")
    with pytest.raises(ValidationFailed, match="allow"):
        store.call(changes.set_entity_behavior, actor("admin1"), "maybe")


def test_enabled_fields_need_the_master_switch(store, actor):
    enable(store, "credit_limit", on=False)
    r = store.call(changes.edit_customer, actor("support1"), ACC, {"credit_limit": "100"})
    assert r.saved == {"credit_limit": "100.00"} and r.proposed == {} and r.proposal is None
    assert customer(store).credit_limit == Decimal("100.00")


# ------------------------------------------------------------------ edit


def test_edit_saves_other_fields_and_proposes_enabled_ones(any_store):
    a = actor_of(any_store)
    enable(any_store, "credit_limit")
    r = any_store.call(changes.edit_customer, a("support1"), ACC, {"credit_limit": "25000", "city": "Tacoma"})
    assert r.saved == {"city": "Tacoma"} and r.proposed == {"credit_limit": "25000.00"}
    assert "not submitted" in r.message
    c = customer(any_store)
    assert c.city == "Tacoma" and c.credit_limit == Decimal("0.00")  # the enabled field kept its value
    view = r.proposal
    assert view.state == "Not submitted" and view.status == "Changes not submitted"
    assert [(x.field, x.original, x.proposed, x.current) for x in view.lines] == [
        ("credit_limit", "0.00", "25000.00", "0.00")
    ]
    assert [e.action for e in events(any_store, "customer", ACC)][-1] == "updated"


def test_later_edit_replaces_the_line_and_one_proposal_per_customer(store, actor):
    enable(store, "credit_limit", "name")
    store.call(changes.edit_customer, actor("support1"), ACC, {"credit_limit": "100"})
    store.call(changes.edit_customer, actor("sales1"), ACC, {"credit_limit": "200", "name": "Fabrikam 2"})
    r = store.call(changes.edit_customer, actor("support1"), ACC, {"credit_limit": "0"})  # = original: no-op
    assert r.proposed == {} and r.unchanged == ["credit_limit"]
    with store.read() as s:
        assert len(s.exec(select(ChangeProposal)).all()) == 1
        lines = s.exec(select(ChangeLine).order_by(ChangeLine.field)).all()
    assert [(x.field, x.proposed_value, x.proposed_by) for x in lines] == [
        ("credit_limit", '"200.00"', "sales1"),
        ("name", '"Fabrikam 2"', "sales1"),
    ]


def test_edit_validates_each_field(store, actor):
    enable(store, "credit_limit")
    with pytest.raises(ValidationFailed) as exc:
        store.call(
            changes.edit_customer,
            actor("support1"),
            ACC,
            {"credit_limit": "lots", "cash_discount_base_days": "5000", "invoice_account": "C-999999", "name": ""},
        )
    assert set(exc.value.errors) == {"credit_limit", "cash_discount_base_days", "invoice_account", "name"}
    assert changes.field_error("credit_limit", "-1") == "zero or more"
    assert changes.field_error("mandatory_credit_limit", "yes") is None


def test_stale_form_is_refused_naming_who_saved(store, actor):
    version = customer(store).version
    store.call(changes.edit_customer, actor("sales1"), ACC, {"city": "Tacoma"}, expected_version=version)
    with pytest.raises(Conflict, match="sales1"):
        store.call(changes.edit_customer, actor("support1"), ACC, {"city": "Redmond"}, expected_version=version)
    assert customer(store).city == "Tacoma"


def test_edit_needs_permission(store, actor):
    from services.permissions import Actor

    nobody = Actor("guest", "Guest", frozenset())
    with pytest.raises(PermissionDenied):
        store.call(changes.edit_customer, nobody, ACC, {"city": "X"})


# ------------------------------------------------------------------ discard / submit / lock


def test_discard_one_and_all(store, actor):
    enable(store, "credit_limit", "name")
    store.call(changes.edit_customer, actor("support1"), ACC, {"credit_limit": "100", "name": "New name"})
    view = store.call(changes.discard, actor("support1"), ACC, "credit_limit")
    assert [x.field for x in view.lines] == ["name"]
    with pytest.raises(NotFound, match="no proposed change of credit_limit"):
        store.call(changes.discard, actor("support1"), ACC, "credit_limit")
    assert store.call(changes.discard, actor("support1"), ACC) is None
    assert proposal(store).state == "Discarded"
    assert customer(store).name == "Fabrikam, Inc." and customer(store).credit_limit == 0
    assert [e.action for e in events(store, "change_proposal", "CHG-000001")] == [
        "created",
        "lines proposed",
        "line discarded",
        "discarded",
    ]
    # a new edit starts a new proposal
    store.call(changes.edit_customer, actor("support1"), ACC, {"credit_limit": "5"})
    assert proposal(store).number == "CHG-000002"


def test_submit_marks_pending_and_locks_enabled_fields(any_store):
    a = actor_of(any_store)
    submitted(any_store)
    view = proposal(any_store)
    assert view.state == "Submitted" and view.status == "Changes pending approval" and view.submitted_by == "support1"
    with any_store.read() as s:
        assert changes.customer_status(s, customer(any_store).id) == "Changes pending approval"
    with pytest.raises(ValidationFailed, match="locked until it is decided") as exc:
        any_store.call(changes.edit_customer, a("sales1"), ACC, {"credit_limit": "1", "city": "Oslo"})
    assert set(exc.value.errors) == {"credit_limit"}
    assert customer(any_store).city == "Seattle"  # nothing of a refused edit is saved
    # other fields still save, and the form may send the locked field unchanged
    r = any_store.call(changes.edit_customer, a("sales1"), ACC, {"credit_limit": "0", "city": "Oslo"})
    assert r.saved == {"city": "Oslo"}
    with pytest.raises(InvalidTransition, match="pending approval"):
        any_store.call(changes.discard, a("support1"), ACC)
    with pytest.raises(Conflict, match="already in workflow|pending approval"):
        any_store.call(changes.submit, a("support1"), ACC)
    with any_store.read() as s:
        context = changes.edit_context(s, a("support1"), ACC)
    assert context.status == "Changes pending approval"
    assert {f.name for f in context.fields if f.locked} == {"credit_limit", "name"}


def test_submit_without_lines_is_refused(store, actor):
    with pytest.raises(NotFound, match="no proposed changes"):
        store.call(changes.submit, actor("support1"), ACC)


def test_recall_by_submitter_only(store, actor):
    submitted(store)
    with pytest.raises(PermissionDenied, match="only the submitter"):
        store.call(changes.recall, actor("sales1"), ACC)
    view = store.call(changes.recall, actor("support1"), ACC)
    assert view.state == "Not submitted"
    store.call(changes.edit_customer, actor("support1"), ACC, {"credit_limit": "300"})  # unlocked again


# ------------------------------------------------------------------ decide


def test_approve_applies_every_line_and_history_names_proposer_and_approver(any_store):
    a = actor_of(any_store)
    submitted(any_store)
    result = any_store.call(changes.approve, a("approver1"), ACC)
    assert result.state == "Approved" and result.applied == {"credit_limit": "25000.00", "name": "Fabrikam Holdings"}
    c = customer(any_store)
    assert c.credit_limit == Decimal("25000.00") and c.name == "Fabrikam Holdings"
    assert c.name_normalized == "fabrikam holdings"
    applied = [e for e in events(any_store, "customer", ACC) if e.action == "change approved"]
    assert len(applied) == 1 and applied[0].operator == "approver1"
    assert "proposed by support1, approved by approver1" in applied[0].comment
    assert '"credit_limit": "25000.00"' in applied[0].after and '"credit_limit": "0.00"' in applied[0].before
    with pytest.raises(Conflict, match="approved by approver1"):
        any_store.call(changes.approve, a("approver2"), ACC)


def test_submitter_and_proposers_cannot_decide(store, actor):
    submitted(store, by="approver1")
    with pytest.raises(PermissionDenied, match="self-approval"):
        store.call(changes.approve, actor("approver1"), ACC)
    with pytest.raises(PermissionDenied, match="self-approval"):
        store.call(changes.reject, actor("approver1"), ACC, "no")
    with pytest.raises(PermissionDenied, match="needs role approver"):
        store.call(changes.approve, actor("support1"), ACC)
    assert store.call(changes.approve, actor("approver2"), ACC).state == "Approved"


def test_line_proposer_cannot_approve_someone_elses_submission(store, actor):
    enable(store, "credit_limit", "name")
    store.call(changes.edit_customer, actor("approver2"), ACC, {"name": "By approver2"})
    store.call(changes.edit_customer, actor("support1"), ACC, {"credit_limit": "10"})
    store.call(changes.submit, actor("support1"), ACC)
    with pytest.raises(PermissionDenied, match="proposed changes in"):
        store.call(changes.approve, actor("approver2"), ACC)


def test_per_line_decisions_with_comments(any_store):
    a = actor_of(any_store)
    submitted(any_store)
    result = any_store.call(
        changes.approve,
        a("approver1"),
        ACC,
        only=["credit-limit"],
        comments={"name": "Legal name needs the registry extract"},
    )
    assert result.state == "Partially approved"
    assert result.applied == {"credit_limit": "25000.00"} and result.rejected == ["name"]
    c = customer(any_store)
    assert c.credit_limit == Decimal("25000.00") and c.name == "Fabrikam, Inc."
    lines = {x.field: x for x in proposal(any_store).lines}
    assert lines["name"].decision == "rejected" and lines["name"].comment == "Legal name needs the registry extract"
    assert lines["credit_limit"].decision == "approved" and lines["credit_limit"].decided_by == "approver1"


def test_approve_only_validates_the_fields(store, actor):
    submitted(store)
    with pytest.raises(ValidationFailed, match="not a line"):
        store.call(changes.approve, actor("approver1"), ACC, only=["city"])
    with pytest.raises(ValidationFailed, match="at least one"):
        store.call(changes.approve, actor("approver1"), ACC, only=[])


def test_reject_keeps_customer_and_records_reason(any_store):
    a = actor_of(any_store)
    submitted(any_store)
    with pytest.raises(ValidationFailed, match="reason"):
        any_store.call(changes.reject, a("approver1"), ACC, "  ")
    result = any_store.call(changes.reject, a("approver1"), ACC, "Credit check failed")
    assert result.state == "Rejected" and "Credit check failed" in result.message
    c = customer(any_store)
    assert c.credit_limit == 0 and c.name == "Fabrikam, Inc."
    view = proposal(any_store)
    assert view.reason == "Credit check failed" and {x.decision for x in view.lines} == {"rejected"}
    assert [e.comment for e in events(any_store, "customer", ACC) if e.action == "changes rejected"] == [
        "Credit check failed"
    ]
    # unlocked again
    any_store.call(changes.edit_customer, a("support1"), ACC, {"credit_limit": "7"})


def test_conflicting_line_is_flagged_and_not_applied(store, actor):
    enable(store, "credit_limit", "name")
    store.call(changes.edit_customer, actor("support1"), ACC, {"credit_limit": "500", "name": "Fab New"})
    # approvals switched off for a moment: the credit limit is changed directly
    store.call(changes.set_approvals, actor("admin1"), False)
    store.call(changes.edit_customer, actor("sales1"), ACC, {"credit_limit": "900"})
    store.call(changes.set_approvals, actor("admin1"), True)
    store.call(changes.submit, actor("support1"), ACC)
    view = proposal(store)
    line = {x.field: x for x in view.lines}["credit_limit"]
    assert line.conflict and (line.original, line.proposed, line.current) == ("0.00", "500.00", "900.00")
    result = store.call(changes.approve, actor("approver1"), ACC)
    assert result.state == "Partially approved" and result.conflicts == ["credit_limit"]
    assert "NOT applied" in result.message
    c = customer(store)
    assert c.credit_limit == Decimal("900.00") and c.name == "Fab New"
    line = {x.field: x for x in proposal(store).lines}["credit_limit"]
    assert line.decision == "conflict" and line.current == "900.00"


def test_all_lines_in_conflict_refuses_approval(store, actor):
    enable(store, "credit_limit")
    store.call(changes.edit_customer, actor("support1"), ACC, {"credit_limit": "500"})
    store.call(changes.set_approvals, actor("admin1"), False)
    store.call(changes.edit_customer, actor("sales1"), ACC, {"credit_limit": "900"})
    store.call(changes.set_approvals, actor("admin1"), True)
    store.call(changes.submit, actor("support1"), ACC)
    with pytest.raises(Conflict, match="was 0.00 when proposed, now 900.00"):
        store.call(changes.approve, actor("approver1"), ACC)
    assert proposal(store).state == "Submitted" and customer(store).credit_limit == Decimal("900.00")


def test_waiting_for_me_excludes_own_proposals(store, actor):
    submitted(store, by="approver1")
    assert store.call(changes.list_proposals, actor("approver1"), waiting_for_me=True) == []
    rows = store.call(changes.list_proposals, actor("approver2"), waiting_for_me=True)
    assert [r.account for r in rows] == [ACC]
    assert store.call(changes.list_proposals, actor("support1"), waiting_for_me=True) == []
    assert [r.state for r in store.call(changes.list_proposals, actor("support1"), state="submitted")] == ["Submitted"]
    with pytest.raises(ValidationFailed):
        store.call(changes.list_proposals, actor("support1"), state="bogus")


def test_hostile_values_stored_as_data(store, actor):
    from tests.conftest import HOSTILE

    enable(store, "name")
    store.call(changes.edit_customer, actor("support1"), ACC, {"name": HOSTILE[2]})
    assert proposal(store).lines[0].proposed == HOSTILE[2]
    r = store.call(changes.edit_customer, actor("support1"), ACC, {"name": HOSTILE[3]})
    assert "\x1b" not in r.proposal.lines[0].proposed


# ------------------------------------------------------------------ with the workflow engine


def define_workflow(store, steps=(("Approve changes", "role", "approver"),)):
    from models.workflow import WorkflowDefinition, WorkflowStep

    with store.write() as s:
        d = WorkflowDefinition(
            doc_type="customer_change",
            name="Customer change",
            version=1,
            active=True,
            created_at=store.now(),
            created_by="admin1",
        )
        s.add(d)
        s.flush()
        for i, (name, kind, who) in enumerate(steps, start=1):
            s.add(WorkflowStep(definition_id=d.id, sequence=i * 10, name=name, assignee_kind=kind, assignee=who))


def test_workflow_runs_the_approval(any_store):
    from services import workflow

    a = actor_of(any_store)
    define_workflow(any_store)
    submitted(any_store)
    view = proposal(any_store)
    assert view.workflow_instance_id is not None
    items = any_store.call(workflow.list_work, a("approver1"), doc_type="customer_change")
    assert [i.doc_key for i in items] == [view.number]
    assert "credit limit" in items[0].summary
    assert [r.number for r in any_store.call(changes.list_proposals, a("approver2"), waiting_for_me=True)] == [
        view.number
    ]
    result = any_store.call(changes.approve, a("approver2"), ACC, only=["credit_limit"], comments={"name": "no"})
    assert result.state == "Partially approved"
    assert customer(any_store).credit_limit == Decimal("25000.00")
    assert any_store.call(workflow.list_work, a("approver1"), doc_type="customer_change") == []


def test_workflow_approve_from_the_inbox_applies_all(store, actor):
    from services import workflow

    define_workflow(store)
    submitted(store)
    item = store.call(workflow.list_work, actor("approver1"), doc_type="customer_change")[0]
    store.call(workflow.approve, actor("approver1"), item.id)
    assert proposal(store).state == "Approved" and customer(store).name == "Fabrikam Holdings"


def test_workflow_reject_and_request_change(store, actor):
    from services import workflow

    define_workflow(store)
    submitted(store)
    item = store.call(workflow.list_work, actor("approver1"), doc_type="customer_change")[0]
    store.call(workflow.request_change, actor("approver1"), item.id, "split the name change out")
    assert proposal(store).state == "Not submitted"
    store.call(changes.discard, actor("support1"), ACC, "name")
    store.call(changes.submit, actor("support1"), ACC)  # resubmit into the same step
    assert proposal(store).state == "Submitted"
    item = [i for i in store.call(workflow.list_work, actor("approver2"), doc_type="customer_change")][0]
    store.call(workflow.delegate, actor("approver2"), item.id, "admin1")
    with pytest.raises(PermissionDenied, match="no work item assigned to approver2"):
        store.call(changes.approve, actor("approver2"), ACC)
    result = store.call(changes.reject, actor("approver1"), ACC, "not now")
    assert result.state == "Rejected" and customer(store).credit_limit == 0


def test_no_active_workflow_falls_back_to_any_approver(store, actor):
    submitted(store)
    assert proposal(store).workflow_instance_id is None
    assert store.call(changes.approve, actor("approver2"), ACC).state == "Approved"
