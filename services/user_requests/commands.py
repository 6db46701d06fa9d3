"""Writing user requests: creation for a contact and the hand-over to the workflow, provisioning
(refused, never renamed, on a taken user name), completion on activation, and the hand actions
of an approver when no workflow handles the request. The process is in the package's doc
(services/user_requests/__init__.py)."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session, col

from models.customer import ContactPerson, Customer, PortalRole
from models.signup import RequestType, UserRequest
from services import audit, params, portal, sequences, transitions
from services import workflow as wf
from services.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from services.permissions import Actor, require
from services.store import Replan, begin_write, now, writes
from services.text import clean

from .queries import get_user_request
from .table import DOC_TYPE, ENTITY, PROCESS, TRANSITIONS, USER_NAME_EDITABLE, U, move_audited
from .views import ActionResult, instance_label


def _require_manual(session: Session, actor: Actor, ur: UserRequest, action: str) -> None:
    """Hand actions are for requests no workflow is handling."""
    require(actor, TRANSITIONS[action].permission or "user_request.process")
    inst = wf.active_instance(session, DOC_TYPE, ur.number)
    if inst is not None:
        raise InvalidTransition(
            f"{ur.number} is in workflow {instance_label(inst)}: act on its work item "
            "(My work / 'regdesk work list') instead"
        )


def _check_not_submitter(session: Session, actor: Actor, ur: UserRequest) -> None:
    if actor.user_name == ur.created_by and params.get(session, "workflow.disallow_submitter_approval"):
        raise PermissionDenied(
            f"{actor.user_name} submitted {ur.number} and may not approve it as well "
            "(parameter workflow.disallow_submitter_approval): another approver must"
        )


def try_provision(session: Session, actor: Actor, ur: UserRequest, *, via: str) -> str | None:
    """Provision and move to Pending completion; on a user name conflict stay Approved and
    record the problem. Returns the problem, or None when provisioned."""
    try:
        user = portal.provision(session, actor, ur)
    except Conflict as exc:
        audit.record(
            session, actor, ENTITY, ur.number, "provisioning refused", comment=exc.message, after={"status": ur.status}
        )
        return exc.message
    move_audited(
        session,
        actor,
        ur,
        "provision",
        "provisioned",
        comment=via,
        extra={"portal_user": user.user_name, "portal_user_status": user.status},
    )
    return None


def complete_on_activation(session: Session, user_request_id: int) -> tuple[str, str]:
    """The portal user activated: Pending completion -> Completed (called by services.portal)."""
    from services.permissions import PORTAL

    ur = session.get(UserRequest, user_request_id)
    if ur is None:
        raise NotFound("the user request of this portal user no longer exists")
    if ur.status == U.PENDING_COMPLETION:
        move_audited(session, PORTAL, ur, "complete", "completed", comment="portal user activated by the contact")
    return ur.number, ur.status


# ------------------------------------------------------------------ creation and the workflow


def create_for_contact(
    session: Session,
    actor: Actor,
    *,
    customer: Customer,
    contact: ContactPerson,
    role: PortalRole,
    user_name: str,
    email: str,
    signup_request_id: int | None = None,
    request_type: RequestType = RequestType.CUSTOMER,
) -> UserRequest:
    assert customer.id is not None and contact.id is not None and role.id is not None  # stored rows (flushed)
    current = now(session)
    ur = UserRequest(
        number=sequences.next_number(session, "userrequest"),
        request_type=request_type.value,
        status=U.SUBMITTED.value,
        customer_id=customer.id,
        contact_id=contact.id,
        role_id=role.id,
        signup_request_id=signup_request_id,
        user_name=user_name,
        email=email,
        created_at=current,
        created_by=actor.user_name,
        updated_at=current,
    )
    session.add(ur)
    session.flush()
    audit.record(
        session,
        actor,
        ENTITY,
        ur.number,
        "submitted",
        after={
            "status": ur.status,
            "type": ur.request_type,
            "customer": customer.account,
            "user_name": user_name,
            "role": role.name,
        },
    )
    submit_to_workflow(session, actor, ur)
    return ur


def submit_to_workflow(session: Session, actor: Actor, ur: UserRequest) -> int | None:
    """Hand the request to the active user request workflow; without one it waits in Submitted.

    Returns the workflow instance id, or None when no workflow is active (or matches).
    """
    instance_id = wf.submit(session, actor, DOC_TYPE, ur.number)
    if instance_id is None:  # nothing started: the request is as this session left it
        return None
    session.refresh(ur)  # the workflow's start may have moved it
    if ur.status in (U.DRAFT, U.SUBMITTED):  # the engine did not call on_started (or has no such hook)
        move_audited(session, actor, ur, "start", "workflow started", extra={"workflow_instance": instance_id})
    return instance_id


# ------------------------------------------------------------------ hand processing


def _result(session: Session, ur: UserRequest, problem: str | None = None, instance: int | None = None) -> ActionResult:
    pu = portal.view_for_request(session, ur.id or 0)
    return ActionResult(
        number=ur.number,
        status=ur.status,
        portal_user=pu.user_name if pu else None,
        problem=problem,
        workflow_instance=instance,
    )


@writes(phased=True)
def approve(session: Session, actor: Actor, number: str, comment: str | None = None) -> ActionResult:
    """Process by hand (no workflow): Submitted -> Approved, then provision the portal user."""
    ur = get_user_request(session, number)
    _require_manual(session, actor, ur, "approve")
    transitions.check(session, PROCESS, ur, "approve")
    _check_not_submitter(session, actor, ur)
    move_audited(
        session, actor, ur, "approve", "approved", comment=clean(comment, multiline=True) or "processed by hand"
    )
    problem = try_provision(session, actor, ur, via="processed by hand")
    return _result(session, ur, problem)


@writes(phased=True)
def provision(session: Session, actor: Actor, number: str) -> ActionResult:
    """Provision again after a refusal (e.g. after choosing another user name): Approved -> Pending completion."""
    require(actor, "user_request.process")
    ur = get_user_request(session, number)
    transitions.check(session, PROCESS, ur, "provision")
    problem = portal.user_name_problem(session, ur.user_name, user_request_id=ur.id)
    if problem:  # said before the write lock; provision() re-checks under it
        raise Conflict(problem)
    begin_write(session)
    user = portal.provision(session, actor, ur)  # a conflict is refused here, to the operator
    move_audited(
        session,
        actor,
        ur,
        "provision",
        "provisioned",
        comment="provisioned by hand",
        extra={"portal_user": user.user_name, "portal_user_status": user.status},
    )
    return _result(session, ur)


def _reason(text: str | None, missing: str, *, limit: int | None = None) -> str:
    reason = clean(text, multiline=True)
    if not reason:
        raise ValidationFailed({"reason": missing})
    if limit is not None and len(reason) > limit:
        raise ValidationFailed({"reason": f"at most {limit} characters"})
    return reason


@writes(phased=True)
def reject(session: Session, actor: Actor, number: str, reason: str) -> ActionResult:
    reason = _reason(reason, "a reason is required to reject a user request", limit=1000)
    ur = get_user_request(session, number)
    _require_manual(session, actor, ur, "reject")
    transitions.check(session, PROCESS, ur, "reject")
    move_audited(session, actor, ur, "reject", "rejected", comment=reason)
    return _result(session, ur)


@writes(phased=True)
def cancel(session: Session, actor: Actor, number: str, reason: str) -> ActionResult:
    """Withdraw the request; a provisioned portal user not yet activated is disabled and its link voided."""
    reason = _reason(reason, "say why the request is canceled")
    ur = get_user_request(session, number)
    _require_manual(session, actor, ur, "cancel")
    transitions.check(session, PROCESS, ur, "cancel")
    begin_write(session)
    disabled = (
        portal.disable_for_request(session, actor, ur.id or 0, f"user request {ur.number} canceled")
        if ur.status == U.PENDING_COMPLETION
        else None
    )
    move_audited(
        session,
        actor,
        ur,
        "cancel",
        "canceled",
        comment=reason,
        extra={"portal_user_disabled": disabled} if disabled else None,
    )
    return _result(session, ur)


@writes(phased=True)
def submit(session: Session, actor: Actor, number: str, comment: str | None = None) -> ActionResult:
    """Draft -> Submitted, or a Submitted request waiting by hand: hand it to the active workflow.

    After a change request, the running workflow is resubmitted; otherwise a new one starts.
    Without an active workflow the request waits in Submitted.
    """
    require(actor, "user_request.process")
    ur = get_user_request(session, number)
    if ur.status != U.SUBMITTED:  # a Submitted request waiting by hand is handed to the workflow
        transitions.check(session, PROCESS, ur, "submit")
    comment = clean(comment, multiline=True) or None
    inst = wf.active_instance(session, DOC_TYPE, ur.number)
    if inst is not None and ur.status == U.SUBMITTED:
        raise InvalidTransition(f"{ur.number} is in workflow {instance_label(inst)} already")
    planned = ur.version
    begin_write(session)
    if ur.status == U.SUBMITTED:  # not moved by the mover: re-check what the plan read
        session.refresh(ur)
        if ur.version != planned:
            raise Replan(f"{ur.number} changed while the submit was planned")
    if ur.status == U.DRAFT:
        move_audited(session, actor, ur, "submit", "submitted", comment=comment)
    instance_id = None
    if inst is not None:
        wf.resubmit(session, actor, DOC_TYPE, ur.number, comment=comment)
        instance_id = inst.id
        session.refresh(ur)
        if ur.status in (U.DRAFT, U.SUBMITTED):
            move_audited(session, actor, ur, "start", "workflow resumed")
    else:
        instance_id = submit_to_workflow(session, actor, ur)
    problem = (
        None
        if instance_id is not None or ur.status != U.SUBMITTED
        else "no active user request workflow: the request waits in Submitted for processing by hand"
    )
    return _result(session, ur, problem, instance_id)


@writes(phased=True)
def set_user_name(
    session: Session, actor: Actor, number: str, user_name: str, comment: str | None = None
) -> ActionResult:
    """Choose another user name for the portal user (the approver's explicit answer to a conflict)."""
    require(actor, "user_request.process")
    ur = get_user_request(session, number)
    new = clean(user_name)
    if ur.status not in USER_NAME_EDITABLE:
        raise InvalidTransition(
            f"{ur.number} is {ur.status}: the user name can be changed only while the request "
            f"is {', '.join(s.value for s in sorted(USER_NAME_EDITABLE))}"
        )
    if not portal.USER_NAME.match(new):
        raise ValidationFailed({"user_name": portal.USER_NAME_HINT})
    if new == ur.user_name:
        raise ValidationFailed({"user_name": f"{new!r} is the user name already"})
    problem = portal.user_name_problem(session, new, user_request_id=ur.id)
    if problem:
        raise Conflict(problem)
    begin_write(session)
    result = session.execute(
        update(UserRequest)
        .where(
            col(UserRequest.id) == ur.id,
            col(UserRequest.version) == ur.version,
            col(UserRequest.status).in_([s.value for s in USER_NAME_EDITABLE]),
        )
        .values(user_name=new, version=ur.version + 1, updated_at=now(session))
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise transitions.changed_meanwhile(session, PROCESS, ur)
    old = ur.user_name
    audit.record(
        session,
        actor,
        ENTITY,
        ur.number,
        "user name changed",
        before={"user_name": old},
        after={"user_name": new},
        comment=clean(comment, multiline=True) or None,
    )
    session.refresh(ur)
    return _result(session, ur)
