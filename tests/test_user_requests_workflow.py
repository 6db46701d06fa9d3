"""User requests through the workflow engine (the shipped user request workflow)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from models.portal import PortalUser
from services import user_requests, workflow
from services.errors import InvalidTransition, PermissionDenied
from tests.conftest import actor_of
from tests.portal_helpers import activate_shipped_workflow, created_request, logon_mail, ur_status, work_item


@pytest.fixture
def wf_store(any_store):
    activate_shipped_workflow(any_store)
    return any_store


def test_submitted_to_workflow_then_approved_and_provisioned(wf_store):
    act = actor_of(wf_store)
    number = created_request(wf_store)
    assert ur_status(wf_store, number) == "Pending approval"
    detail = wf_store.call(user_requests.show_user_request, act("approver2"), number)
    assert detail.workflow is not None and "Review" in detail.workflow.summary
    assert "approve" not in detail.actions  # by hand only without a workflow
    with pytest.raises(InvalidTransition, match="is in workflow"):
        wf_store.call(user_requests.approve, act("approver2"), number)
    with pytest.raises(PermissionDenied, match="submitted"):
        wf_store.call(workflow.approve, act("approver1"), work_item(wf_store, "approver1", number))
    wf_store.call(workflow.approve, act("approver2"), work_item(wf_store, "approver2", number), "looks fine")
    assert ur_status(wf_store, number) == "Pending completion"
    assert logon_mail(wf_store, "alee") is not None
    detail = wf_store.call(user_requests.show_user_request, act("approver2"), number)
    actions = [e.action for e in detail.history]
    assert actions.index("approved") < actions.index("provisioned") < actions.index("workflow approved")
    assert detail.workflow is None and detail.portal_user.status == "Pending activation"
    hist = wf_store.call(user_requests.workflow_history, act("support1"), number)
    assert [i.status for i in hist.instances] == ["approved"]


def test_workflow_rejection(wf_store):
    act = actor_of(wf_store)
    number = created_request(wf_store)
    wf_store.call(workflow.reject, act("approver2"), work_item(wf_store, "approver2", number), "unknown contact")
    assert ur_status(wf_store, number) == "Rejected"


def test_change_requested_goes_to_draft_and_resubmit_returns(wf_store):
    act = actor_of(wf_store)
    number = created_request(wf_store)
    wf_store.call(
        workflow.request_change,
        act("approver2"),
        work_item(wf_store, "approver2", number),
        "use the company logon convention",
    )
    assert ur_status(wf_store, number) == "Draft"
    wf_store.call(user_requests.set_user_name, act("approver1"), number, "tailwind.alee")
    result = wf_store.call(user_requests.submit, act("approver1"), number)
    assert result.status == "Pending approval"
    wf_store.call(workflow.approve, act("approver2"), work_item(wf_store, "approver2", number))
    assert ur_status(wf_store, number) == "Pending completion"
    with wf_store.read() as s:
        assert s.exec(select(PortalUser.user_name)).one() == "tailwind.alee"


def test_recall_goes_to_draft(wf_store):
    act = actor_of(wf_store)
    number = created_request(wf_store)
    wf_store.call(workflow.recall_document, act("approver1"), "user_request", number, "wrong role")
    assert ur_status(wf_store, number) == "Draft"
    assert wf_store.call(user_requests.cancel, act("approver1"), number, "asked again later").status == "Canceled"


def test_conflict_in_workflow_waits_approved_for_the_approver(wf_store):
    act = actor_of(wf_store)
    first = created_request(wf_store)
    wf_store.call(workflow.approve, act("approver2"), work_item(wf_store, "approver2", first))
    second = created_request(wf_store, email="x@other.example", company="Other Co")
    wf_store.call(workflow.approve, act("approver2"), work_item(wf_store, "approver2", second))
    assert ur_status(wf_store, second) == "Approved"
    detail = wf_store.call(user_requests.show_user_request, act("approver2"), second)
    assert "taken by portal user alee" in detail.problem and "provision" in detail.actions
    wf_store.call(user_requests.set_user_name, act("approver2"), second, "alee2")
    assert wf_store.call(user_requests.provision, act("approver2"), second).status == "Pending completion"


def test_no_matching_workflow_keeps_submitted(store, actor):
    activate_shipped_workflow(store)
    from services import workflow_defs

    for d in store.call(workflow_defs.list_definitions, actor("admin1"), "user_request"):
        store.call(workflow_defs.deactivate, actor("admin1"), d.id)
    number = created_request(store)
    assert ur_status(store, number) == "Submitted"
