"""Customer request cases (seed 002): every transition and refusal, the automatic ones too."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import select

from models.cases import Case, SampleRequest
from models.core import AuditEvent
from models.signup import UserRequest
from models.workflow import WorkflowDefinition
from services import cases
from services.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from tests.conftest import HOSTILE, actor_of

CASE_TOML = Path(__file__).resolve().parent.parent / "seed" / "workflows" / "case.toml"


@pytest.fixture(autouse=True)
def _single_step(request):
    """Most tests here are about the single approver step (no active case workflow); the
    workflow tests activate seed/workflows/case.toml themselves."""
    for name in ("any_store", "store"):
        if name in request.fixturenames:
            st = request.getfixturevalue(name)
            with st.write() as s:
                s.execute(update(WorkflowDefinition).where(WorkflowDefinition.doc_type == "case").values(active=False))
            return


def with_case_workflow(store) -> None:
    from services import workflow_defs
    from services.permissions import SYSTEM

    store.call(workflow_defs.import_definition, SYSTEM, CASE_TOML.read_text(), filename="case.toml", activate=True)


NEW = {
    "title": "Special price for Q1",
    "customer_account": "C-000001",
    "category": "Special condition",
    "priority": "High",
    "contact_name": "Jo Buyer",
    "contact_email": "jo@fabrikam.example",
    "contact_phone": "+1 555 0199",
    "description": "The customer asks for a 5% discount on Q1 orders.",
}


def create(store, who="support1", **changes):
    return store.call(cases.create_case, actor_of(store)(who), {**NEW, **changes})


def status_of(store, number):
    with store.read() as s:
        return s.exec(select(Case.status).where(Case.number == number)).one()


def events(store, number):
    with store.read() as s:
        return [
            e.action
            for e in s.exec(
                select(AuditEvent)
                .where(AuditEvent.entity_type == "case", AuditEvent.entity_key == number)
                .order_by(AuditEvent.id)
            ).all()
        ]


def submitted(store, who="support1", **changes):
    number = create(store, who, **changes).number
    store.call(cases.submit, actor_of(store)(who), number)
    return number


def approved(store):
    number = submitted(store)
    store.call(cases.approve, actor_of(store)("approver1"), number)
    return number


def test_create_is_open_with_a_number(any_store):
    result = create(any_store)
    assert result.number == "CASE-000001" and result.status == "Open"
    detail = any_store.call(cases.show_case, actor_of(any_store)("support1"), result.number)
    assert detail.customer_name == "Fabrikam, Inc." and detail.profile == "Customer Service"
    assert detail.category == "Special condition" and detail.priority == "High"
    assert "submit" in detail.actions and "approve" not in detail.actions
    assert events(any_store, result.number) == ["created"]


def test_sales_rep_creator_gets_approved_at_once(any_store):
    result = create(any_store, "sales1")
    assert result.status == "Approved" and "sales rep" in result.message
    detail = any_store.call(cases.show_case, actor_of(any_store)("sales1"), result.number)
    assert detail.approved_by == "sales1" and detail.profile == "Sales"
    assert events(any_store, result.number) == ["created", "approved automatically"]


def test_submit_approve_single_step(any_store):
    number = submitted(any_store)
    assert status_of(any_store, number) == "Pending Approval"
    result = any_store.call(cases.approve, actor_of(any_store)("approver1"), number, "fine")
    assert result.status == "Approved"
    assert events(any_store, number) == ["created", "submitted", "approved"]


def test_reject_needs_a_reason_and_can_be_resubmitted(store):
    number = submitted(store)
    with pytest.raises(ValidationFailed) as exc:
        store.call(cases.reject, actor_of(store)("approver1"), number, "  ")
    assert "reason" in exc.value.errors
    assert store.call(cases.reject, actor_of(store)("approver1"), number, "No budget").status == "Rejected"
    detail = store.call(cases.show_case, actor_of(store)("support1"), number)
    assert detail.reject_reason == "No budget" and detail.rejected_by == "approver1"
    # changed and submitted again
    store.call(cases.update_case, actor_of(store)("support1"), number, {"description": "3% instead"})
    assert store.call(cases.submit, actor_of(store)("support1"), number).status == "Pending Approval"
    assert store.call(cases.approve, actor_of(store)("approver2"), number).status == "Approved"


def test_submitter_may_not_approve_own_case(store):
    number = submitted(store, "approver1")
    with pytest.raises(PermissionDenied, match="may not approve"):
        store.call(cases.approve, actor_of(store)("approver1"), number)
    assert store.call(cases.approve, actor_of(store)("approver2"), number).status == "Approved"


def test_permissions(store):
    with pytest.raises(PermissionDenied):
        create(store, "admin1")
    number = submitted(store)
    with pytest.raises(PermissionDenied, match="approve or reject"):
        store.call(cases.approve, actor_of(store)("support1"), number)
    with pytest.raises(PermissionDenied):
        store.call(cases.approve, actor_of(store)("sales1"), number)


@pytest.mark.parametrize("action", ["approve", "reject"])
def test_decide_refused_before_submit(store, action):
    number = create(store).number
    args = ("x",) if action == "reject" else ()
    with pytest.raises(InvalidTransition, match="not been submitted"):
        store.call(getattr(cases, action), actor_of(store)("approver1"), number, *args)


def test_second_decision_is_a_conflict_naming_the_first(store):
    number = submitted(store)
    store.call(cases.approve, actor_of(store)("approver1"), number)
    with pytest.raises(Conflict, match="already approved by approver1"):
        store.call(cases.approve, actor_of(store)("approver2"), number)
    with pytest.raises(Conflict, match="already approved"):
        store.call(cases.reject, actor_of(store)("approver2"), number, "late")


def test_submit_twice_is_refused(store):
    number = submitted(store)
    with pytest.raises(Conflict, match="already waiting for approval"):
        store.call(cases.submit, actor_of(store)("support1"), number)
    approved_case = create(store, "sales1").number
    # one rule (services/transitions.py): taken past the action for good is a Conflict naming who
    with pytest.raises(Conflict, match="approved already.*approved automatically by sales1"):
        store.call(cases.submit, actor_of(store)("sales1"), approved_case)


def test_recall_by_submitter_only(store):
    number = submitted(store)
    with pytest.raises(PermissionDenied, match="only the submitter"):
        store.call(cases.recall, actor_of(store)("approver1"), number)
    assert store.call(cases.recall, actor_of(store)("support1"), number).status == "Open"
    with pytest.raises(InvalidTransition, match="nothing to recall.*recall needs Pending Approval"):
        store.call(cases.recall, actor_of(store)("support1"), number)


def test_resolved_is_set_and_cleared_automatically(any_store):
    number = approved(any_store)
    support = actor_of(any_store)("support1")
    r = any_store.call(cases.update_case, support, number, {"resolution": "Discount granted"})
    assert r.status == "Approved"  # only one of the two fields
    r = any_store.call(cases.update_case, support, number, {"resolution_date": "2026-11-03"})
    assert r.status == "Resolved" and "Resolved" in r.message
    detail = any_store.call(cases.show_case, support, number)
    assert detail.resolution_date == date(2026, 11, 3) and detail.resolved_at is not None
    r = any_store.call(cases.update_case, support, number, {"resolution": ""})
    assert r.status == "Approved" and "back to Approved" in r.message
    assert any_store.call(cases.show_case, support, number).resolved_at is None
    r = any_store.call(cases.resolve, support, number, "Discount granted again", date(2026, 11, 4))
    assert r.status == "Resolved"
    r = any_store.call(cases.update_case, support, number, {"resolution_date": ""})
    assert r.status == "Approved"
    acts = events(any_store, number)
    assert acts.count("resolved") == 2 and acts.count("resolution cleared") == 2


@pytest.mark.parametrize("setup", ["open", "pending", "rejected"])
def test_resolution_refused_before_approval(store, setup):
    number = create(store).number
    if setup in ("pending", "rejected"):
        store.call(cases.submit, actor_of(store)("support1"), number)
    if setup == "rejected":
        store.call(cases.reject, actor_of(store)("approver1"), number, "no")
    with pytest.raises(InvalidTransition, match="approved before it is resolved|can be resolved once approved"):
        store.call(cases.resolve, actor_of(store)("support1"), number, "done", "2026-11-03")
    assert status_of(store, number) != "Resolved"


def test_resolve_needs_both_fields_and_a_real_date(store):
    number = approved(store)
    with pytest.raises(ValidationFailed) as exc:
        store.call(cases.resolve, actor_of(store)("support1"), number, "", None)
    assert set(exc.value.errors) == {"resolution", "resolution_date"}
    with pytest.raises(ValidationFailed, match="YYYY-MM-DD"):
        store.call(cases.resolve, actor_of(store)("support1"), number, "done", "3rd of May")


def test_case_information_locked_while_pending_and_after_approval(store):
    number = submitted(store)
    with pytest.raises(InvalidTransition, match="locked until it is decided"):
        store.call(cases.update_case, actor_of(store)("support1"), number, {"title": "Other"})
    store.call(cases.approve, actor_of(store)("approver1"), number)
    with pytest.raises(InvalidTransition, match="locked once approved"):
        store.call(cases.update_case, actor_of(store)("support1"), number, {"description": "changed"})


def test_update_with_stale_version_is_a_conflict(store):
    number = create(store).number
    store.call(cases.update_case, actor_of(store)("support1"), number, {"title": "New title"}, 1)
    with pytest.raises(Conflict, match="changed by someone else"):
        store.call(cases.update_case, actor_of(store)("support1"), number, {"title": "Mine"}, 1)


def test_close_completed_only_from_resolved(any_store):
    number = approved(any_store)
    support = actor_of(any_store)("support1")
    with pytest.raises(InvalidTransition, match="cannot be closed as completed"):
        any_store.call(cases.close, support, number, "completed", "done")
    any_store.call(cases.resolve, support, number, "Granted", "2026-11-03")
    with pytest.raises(ValidationFailed, match="reason is required"):
        any_store.call(cases.close, support, number, "completed", "")
    r = any_store.call(cases.close, support, number, "completed", "Customer informed")
    assert r.status == "Closed/Completed"
    detail = any_store.call(cases.show_case, support, number)
    assert detail.closure_reason == "Customer informed" and detail.closed_by == "support1"
    # closed is final: no resolution change, no reopening, no second close
    with pytest.raises(InvalidTransition, match="was closed"):
        any_store.call(cases.update_case, support, number, {"resolution": ""})
    with pytest.raises(Conflict, match="was closed"):
        any_store.call(cases.close, support, number, "completed", "again")
    with pytest.raises(Conflict, match="was closed"):  # final, whichever close: one answer
        any_store.call(cases.close, support, number, "stopped", "again")


@pytest.mark.parametrize("setup", ["open", "approved", "rejected", "resolved"])
def test_close_stopped(store, setup):
    number = create(store).number
    support = actor_of(store)("support1")
    if setup != "open":
        store.call(cases.submit, support, number)
        if setup == "rejected":
            store.call(cases.reject, actor_of(store)("approver1"), number, "no")
        else:
            store.call(cases.approve, actor_of(store)("approver1"), number)
        if setup == "resolved":
            store.call(cases.resolve, support, number, "x", "2026-11-03")
    assert store.call(cases.close, support, number, "stopped", "Customer no longer asks").status == "Closed/Stopped"
    with pytest.raises(Conflict, match="closed"):
        store.call(cases.submit, support, number)


def test_close_refused_while_pending_and_bad_kind(store):
    number = submitted(store)
    with pytest.raises(InvalidTransition, match="waiting for approval"):
        store.call(cases.close, actor_of(store)("support1"), number, "stopped", "x")
    with pytest.raises(ValidationFailed, match="stopped"):
        store.call(cases.close, actor_of(store)("support1"), number, "finished", "x")


def test_sample_request_is_separate_and_creates_no_request(any_store):
    number = create(any_store).number
    support = actor_of(any_store)("support1")
    sample = any_store.call(
        cases.add_sample, support, number, {"product": "Widget 42", "quantity": 3, "ship_to": "Dock 4\nSeattle"}
    )
    assert sample.number == "SMP-000001" and sample.status == "Requested"
    with any_store.read() as s:
        assert len(s.exec(select(Case)).all()) == 1
        assert s.exec(select(UserRequest)).all() == []
        assert len(s.exec(select(SampleRequest)).all()) == 1
    assert status_of(any_store, number) == "Open"  # the case's own process is untouched
    assert any_store.call(cases.sample_action, support, sample.number, "ship").status == "Shipped"
    with pytest.raises(Conflict, match="Shipped.*ship by support1"):
        any_store.call(cases.sample_action, support, sample.number, "cancel")
    detail = any_store.call(cases.show_case, support, number)
    assert [x.number for x in detail.samples] == ["SMP-000001"]


def test_sample_refusals(store):
    number = create(store).number
    support = actor_of(store)("support1")
    with pytest.raises(ValidationFailed) as exc:
        store.call(cases.add_sample, support, number, {"product": "", "quantity": 0, "colour": "red"})
    assert set(exc.value.errors) == {"product", "quantity", "colour"}
    store.call(cases.close, support, number, "stopped", "gone")
    with pytest.raises(InvalidTransition, match="closed"):
        store.call(cases.add_sample, support, number, {"product": "Widget"})


def test_create_validation(store):
    with pytest.raises(ValidationFailed) as exc:
        create(store, title="", customer_account="C-999999", category="Whatever", contact_email="nope")
    assert set(exc.value.errors) >= {"title"}
    with pytest.raises(ValidationFailed) as exc:
        create(store, category="Whatever", contact_email="nope")
    assert set(exc.value.errors) == {"category", "contact_email"}
    with pytest.raises(ValidationFailed, match="no customer C-999999"):
        create(store, customer_account="C-999999")
    with pytest.raises(NotFound):
        store.call(cases.show_case, actor_of(store)("support1"), "CASE-424242")


def test_hostile_text_is_stored_clean(store):
    r = create(store, title=HOSTILE[3] + HOSTILE[0], description="line1\n" + HOSTILE[3])
    detail = store.call(cases.show_case, actor_of(store)("support1"), r.number)
    assert "\x1b" not in detail.title and "\x1b" not in detail.description
    assert detail.title == "red[/x]"


def test_list_filter_and_counts(any_store):
    a = create(any_store).number
    b = create(any_store, "sales1").number
    c = submitted(any_store)
    support = actor_of(any_store)("support1")
    page = any_store.call(cases.list_cases, support, status="Open")
    assert [r.number for r in page.rows] == [a]
    page = any_store.call(cases.list_cases, support)
    assert [r.number for r in page.rows] == [c, b, a]
    page = any_store.call(cases.list_cases, support, limit=2)
    assert page.after is not None
    rest = any_store.call(cases.list_cases, support, after=page.after)
    assert [r.number for r in rest.rows] == [a]
    counts = any_store.call(cases.count_by_status, support)
    assert counts["All"] == 3 and counts["Open"] == 1 and counts["Approved"] == 1 and counts["Pending Approval"] == 1
    with pytest.raises(ValidationFailed):
        any_store.call(cases.list_cases, support, status="Nope")
    assert [r.number for r in any_store.call(cases.list_cases, support, search="fabrikam").rows] == [c, b, a]


# ------------------------------------------------------------------ through the workflow engine


def test_case_toml_is_a_valid_definition(store):
    with_case_workflow(store)
    with store.read() as s:
        d = s.exec(
            select(WorkflowDefinition).where(WorkflowDefinition.doc_type == "case", WorkflowDefinition.active == True)  # noqa: E712
        ).one()
    assert d.name == "Customer request approval"


def test_workflow_submit_approve(any_store):
    from services import workflow

    with_case_workflow(any_store)
    number = create(any_store).number
    r = any_store.call(cases.submit, actor_of(any_store)("support1"), number)
    assert r.status == "Pending Approval" and "workflow" in r.message
    detail = any_store.call(cases.show_case, actor_of(any_store)("approver1"), number)
    assert detail.submitted_by == "support1" and detail.workflow and "approver1" in detail.workflow
    items = any_store.call(workflow.list_work, actor_of(any_store)("approver2"), True, "case")
    assert [i.doc_key for i in items] == [number]
    # deciding through the case (the CLI's 'cases approve') acts on the approver's work item
    assert any_store.call(cases.approve, actor_of(any_store)("approver2"), number, "ok").status == "Approved"
    detail = any_store.call(cases.show_case, actor_of(any_store)("approver1"), number)
    assert detail.approved_by == "approver2" and detail.workflow is None
    with pytest.raises(Conflict, match="already approved"):
        any_store.call(cases.approve, actor_of(any_store)("approver1"), number)


def test_workflow_reject_then_resubmit(store):
    with_case_workflow(store)
    number = submitted(store)
    assert store.call(cases.reject, actor_of(store)("approver1"), number, "too vague").status == "Rejected"
    assert "too vague" in store.call(cases.show_case, actor_of(store)("support1"), number).reject_reason
    store.call(cases.update_case, actor_of(store)("support1"), number, {"description": "precise now"})
    assert store.call(cases.submit, actor_of(store)("support1"), number).status == "Pending Approval"
    assert store.call(cases.approve, actor_of(store)("approver1"), number).status == "Approved"


def test_workflow_submitter_cannot_approve_and_recall(store):
    with_case_workflow(store)
    number = submitted(store, "approver1")
    with pytest.raises(PermissionDenied, match="may not approve"):
        store.call(cases.approve, actor_of(store)("approver1"), number)
    assert store.call(cases.recall, actor_of(store)("approver1"), number).status == "Open"
    assert store.call(cases.show_case, actor_of(store)("approver1"), number).workflow is None


def test_workflow_request_change_returns_case_to_open(store):
    from services import workflow

    with_case_workflow(store)
    number = submitted(store)
    item = store.call(workflow.list_work, actor_of(store)("approver1"), True, "case")[0]
    store.call(workflow.request_change, actor_of(store)("approver1"), item.id, "add the volumes")
    assert status_of(store, number) == "Open"
    store.call(cases.update_case, actor_of(store)("support1"), number, {"description": "1000 units/month"})
    assert store.call(cases.submit, actor_of(store)("support1"), number).status == "Pending Approval"
    assert store.call(cases.approve, actor_of(store)("approver2"), number).status == "Approved"
