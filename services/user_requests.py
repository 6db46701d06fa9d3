"""User requests (AX UserRequest): the request to provision a portal user for a contact.

Created by the sign-up Create step (type Customer, status Submitted) and handed to the
active user request workflow (``submit_to_workflow``); with no active workflow it waits in
Submitted for manual processing, as in the seeds.

The process, in one table (``TRANSITIONS``)::

    Draft --submit--> Submitted --start--> Pending approval --approve--> Approved
    Submitted --approve (by hand)--> Approved --provision--> Pending completion --complete--> Completed
    Pending approval --return (change requested / recalled)--> Draft
    Submitted | Pending approval | Approved --reject--> Rejected
    Draft | Submitted | Approved | Pending completion --cancel--> Canceled

How the workflow engine's callbacks map onto it (document type ``user_request``):

* ``on_started`` -> start: Submitted (or Draft, on resubmit) -> Pending approval
* automated step ``provision`` -> approve (if still Pending approval), then provision: the
  portal user is created (Pending activation) and the logon e-mail queued -> Pending completion
* ``on_approved`` (the instance is done) -> approve and provision, unless a ``provision``
  step did it already
* ``on_rejected`` -> Rejected; ``on_change_requested`` / ``on_recalled`` -> Draft
* the user activates the portal user with the link -> complete: Completed

Provisioning never renames: when the preferred user name is taken, provisioning is refused
with a Conflict naming the existing user; the request stays Approved with the problem shown
(``problem`` in the detail, the audit trail) until an approver sets another name
(``set_user_name``) and provisions again (``provision``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import update
from sqlmodel import Session, col, select

from models.core import OutboxEmail
from models.customer import ContactPerson, Customer, PortalRole
from models.signup import RequestType, SignupRequest, UserRequest, UserRequestStatus
from services import audit, params, portal, sequences, transitions
from services import workflow as _workflow
from services.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from services.permissions import Actor, require
from services.store import Replan, begin_write, now, writes
from services.text import clean

ENTITY = "user_request"
DOC_TYPE = "user_request"
U = UserRequestStatus


# (action, from, to, permission, wording, other targets, offered to operators)
TRANSITIONS = transitions.table("user_request", [
    ("submit", {U.DRAFT}, U.SUBMITTED, "user_request.process", "submit"),
    ("start", {U.DRAFT, U.SUBMITTED}, U.PENDING_APPROVAL, None, "start the workflow of", frozenset(), False),
    ("approve", {U.SUBMITTED, U.PENDING_APPROVAL}, U.APPROVED, "user_request.process", "approve"),
    ("provision", {U.APPROVED}, U.PENDING_COMPLETION, "user_request.process", "provision the portal user of"),
    ("complete", {U.PENDING_COMPLETION}, U.COMPLETED, None, "complete", frozenset(), False),
    ("return", {U.PENDING_APPROVAL}, U.DRAFT, None, "return to draft", frozenset(), False),
    ("reject", {U.SUBMITTED, U.PENDING_APPROVAL, U.APPROVED}, U.REJECTED, "user_request.process", "reject"),
    ("cancel", {U.DRAFT, U.SUBMITTED, U.APPROVED, U.PENDING_COMPLETION}, U.CANCELED, "user_request.process", "cancel"),
])
# the preferred user name may be corrected until the portal user exists (not while under approval)
USER_NAME_EDITABLE = frozenset({U.DRAFT, U.SUBMITTED, U.APPROVED})
OPEN_STATUSES = frozenset({U.DRAFT, U.SUBMITTED, U.PENDING_APPROVAL, U.APPROVED})
FILTERS = ["All", *[s.value for s in UserRequestStatus]]


# ------------------------------------------------------------------ state changes


def get_user_request(session: Session, number: str) -> UserRequest:
    ur = session.exec(select(UserRequest).where(UserRequest.number == clean(number).upper())).first()
    if ur is None:
        raise NotFound(f"no user request {number!r}")
    return ur


def _explain(session: Session, ur: UserRequest, action: str) -> str | None:
    """The process's own words for a refusal (None: the mover's sentence, services/transitions.py)."""
    n, st = ur.number, ur.status
    if st == U.COMPLETED:
        return f"{n} is completed: its portal user {ur.user_name} is active"
    if st == U.CANCELED:
        return f"{n} was canceled"
    if st == U.REJECTED:
        return f"{n} was rejected"
    if st == U.PENDING_COMPLETION and action in ("approve", "provision", "reject"):
        return f"{n} is provisioned already: portal user {ur.user_name} waits for activation by the contact"
    if action == "provision" and st in (U.SUBMITTED, U.PENDING_APPROVAL, U.DRAFT):
        return f"{n} is {st}: it must be approved before the portal user is provisioned"
    if action == "approve" and st == U.APPROVED:
        return f"{n} is approved already"
    if action == "submit":
        return f"{n} is {st}: only a draft is submitted (a Submitted request is handed to the workflow with 'send to workflow')"
    return None


PROCESS = transitions.register(transitions.Process(
    name="user_request", title="User request", model=UserRequest, states=tuple(UserRequestStatus),
    transitions=TRANSITIONS, entity=ENTITY, initial=(U.DRAFT, U.SUBMITTED), explain=_explain))


def _transition(session: Session, ur: UserRequest, action: str, **values: Any) -> str:
    """Move ``ur`` by ``action`` (services/transitions.py); returns the status it left."""
    return transitions.move(session, PROCESS, ur, action, **values)


def _move(session: Session, actor: Actor, ur: UserRequest, action: str, event: str, *,
          comment: str | None = None, extra: dict[str, Any] | None = None, **values: Any) -> None:
    before = _transition(session, ur, action, **values)
    audit.record(session, actor, ENTITY, ur.number, event, before={"status": before},
                 after={"status": ur.status, **(extra or {})}, comment=comment)


def _workflow_instance(session: Session, ur: UserRequest):
    return _workflow.active_instance(session, DOC_TYPE, ur.number)


def _require_manual(session: Session, actor: Actor, ur: UserRequest, action: str) -> None:
    """Hand actions are for requests no workflow is handling."""
    require(actor, TRANSITIONS[action].permission or "user_request.process")
    inst = _workflow_instance(session, ur)
    if inst is not None:
        raise InvalidTransition(f"{ur.number} is in workflow {_instance_label(inst)}: act on its work item "
                                "(My work / 'regdesk work list') instead")


def _instance_label(inst: Any) -> str:
    parts = [f"#{getattr(inst, 'id', '?')}"]
    for name in ("definition_name", "definition", "name"):
        if isinstance(getattr(inst, name, None), str):
            parts.append(getattr(inst, name))
            break
    status = getattr(inst, "status", None)
    if status:
        parts.append(f"({status})")
    return " ".join(parts)


def _check_not_submitter(session: Session, actor: Actor, ur: UserRequest) -> None:
    if actor.user_name == ur.created_by and params.get(session, "workflow.disallow_submitter_approval"):
        raise PermissionDenied(f"{actor.user_name} submitted {ur.number} and may not approve it as well "
                               "(parameter workflow.disallow_submitter_approval): another approver must")


def _try_provision(session: Session, actor: Actor, ur: UserRequest, *, via: str) -> str | None:
    """Provision and move to Pending completion; on a user name conflict stay Approved and
    record the problem. Returns the problem, or None when provisioned."""
    try:
        user = portal.provision(session, actor, ur)
    except Conflict as exc:
        audit.record(session, actor, ENTITY, ur.number, "provisioning refused", comment=exc.message,
                     after={"status": ur.status})
        return exc.message
    _move(session, actor, ur, "provision", "provisioned", comment=via,
          extra={"portal_user": user.user_name, "portal_user_status": user.status})
    return None


def complete_on_activation(session: Session, user_request_id: int) -> tuple[str, str]:
    """The portal user activated: Pending completion -> Completed (called by services.portal)."""
    from services.permissions import PORTAL

    ur = session.get(UserRequest, user_request_id)
    if ur is None:
        raise NotFound("the user request of this portal user no longer exists")
    if ur.status == U.PENDING_COMPLETION:
        _move(session, PORTAL, ur, "complete", "completed", comment="portal user activated by the contact")
    return ur.number, ur.status


# ------------------------------------------------------------------ creation and the workflow


def create_for_contact(
    session: Session, actor: Actor, *, customer: Customer, contact: ContactPerson, role: PortalRole,
    user_name: str, email: str, signup_request_id: int | None = None,
    request_type: RequestType = RequestType.CUSTOMER,
) -> UserRequest:
    current = now(session)
    ur = UserRequest(
        number=sequences.next_number(session, "userrequest"), request_type=request_type.value,
        status=U.SUBMITTED.value, customer_id=customer.id, contact_id=contact.id, role_id=role.id,
        signup_request_id=signup_request_id, user_name=user_name, email=email, created_at=current,
        created_by=actor.user_name, updated_at=current,
    )
    session.add(ur)
    session.flush()
    audit.record(session, actor, ENTITY, ur.number, "submitted",
                 after={"status": ur.status, "type": ur.request_type, "customer": customer.account,
                        "user_name": user_name, "role": role.name})
    submit_to_workflow(session, actor, ur)
    return ur


def submit_to_workflow(session: Session, actor: Actor, ur: UserRequest) -> int | None:
    """Hand the request to the active user request workflow; without one it waits in Submitted.

    Returns the workflow instance id, or None when no workflow is active (or matches).
    """
    instance_id = _workflow.submit(session, actor, DOC_TYPE, ur.number)
    session.refresh(ur)
    if instance_id is None:
        return None
    if ur.status in (U.DRAFT, U.SUBMITTED):  # the engine did not call on_started (or has no such hook)
        _move(session, actor, ur, "start", "workflow started", extra={"workflow_instance": instance_id})
    return instance_id


def _on_started(session: Session, actor: Actor, key: str) -> None:
    ur = get_user_request(session, key)
    if ur.status in TRANSITIONS["start"].sources:
        _move(session, actor, ur, "start", "workflow started")


def _on_approved(session: Session, actor: Actor, key: str) -> None:
    ur = get_user_request(session, key)
    if ur.status == U.PENDING_APPROVAL:
        _move(session, actor, ur, "approve", "approved", comment="workflow approved")
        _try_provision(session, actor, ur, via="on final approval of the workflow")
    else:  # a provision step already took it further; note the end of the workflow only
        audit.record(session, actor, ENTITY, ur.number, "workflow approved", after={"status": ur.status})


def _auto_provision(session: Session, actor: Actor, key: str) -> None:
    ur = get_user_request(session, key)
    if ur.status == U.PENDING_APPROVAL:
        _move(session, actor, ur, "approve", "approved", comment="workflow review approved")
    if ur.status == U.APPROVED:
        _try_provision(session, actor, ur, via="automated workflow step provision")


def _on_rejected(session: Session, actor: Actor, key: str, reason: str) -> None:
    ur = get_user_request(session, key)
    if ur.status in TRANSITIONS["reject"].sources:
        _move(session, actor, ur, "reject", "rejected", comment=reason or None)


def _on_returned(session: Session, actor: Actor, key: str, comment: str | None, event: str) -> None:
    ur = get_user_request(session, key)
    if ur.status in TRANSITIONS["return"].sources:
        _move(session, actor, ur, "return", event, comment=comment or None)


def _attributes(session: Session, key: str) -> dict[str, Any]:
    ur = get_user_request(session, key)
    customer = session.get(Customer, ur.customer_id)
    role = session.get(PortalRole, ur.role_id)
    return {
        "number": ur.number, "request_type": ur.request_type, "RequestType": ur.request_type,
        "status": ur.status, "user_name": ur.user_name, "email": ur.email,
        "role": role.name if role else "", "customer_account": customer.account if customer else "",
        "customer_group": customer.customer_group if customer else "",
        "country": customer.country if customer else "", "created_by": ur.created_by,
    }


ATTRIBUTE_FIELDS = ("number", "request_type", "RequestType", "status", "user_name", "email", "role",
                    "customer_account", "customer_group", "country", "created_by")


def _describe(session: Session, key: str) -> str:
    ur = get_user_request(session, key)
    customer = session.get(Customer, ur.customer_id)
    role = session.get(PortalRole, ur.role_id)
    return (f"{customer.name if customer else '?'}: portal user {ur.user_name} for {ur.email}"
            f" ({role.name if role else '?'})")


def _describe_many(session: Session, keys: list[str]) -> dict[str, str]:
    """``_describe`` for many user requests in one query (My work's Summary column)."""
    rows = session.exec(select(UserRequest.number, UserRequest.user_name, UserRequest.email, Customer.name, PortalRole.name)
                        .join(Customer, Customer.id == UserRequest.customer_id, isouter=True)
                        .join(PortalRole, PortalRole.id == UserRequest.role_id, isouter=True)
                        .where(col(UserRequest.number).in_(keys))).all()
    return {number: f"{customer or '?'}: portal user {user} for {email} ({role or '?'})"
            for number, user, email, customer, role in rows}


def _submitter(session: Session, key: str) -> str:
    return get_user_request(session, key).created_by


def _register() -> None:
    _workflow.register(_workflow.DocumentType(
        name=DOC_TYPE,
        title="User request",
        attributes=_attributes,
        submitter=_submitter,
        on_approved=_on_approved,
        on_rejected=_on_rejected,
        on_change_requested=lambda s, a, k, c: _on_returned(s, a, k, c, "returned for change"),
        on_recalled=lambda s, a, k: _on_returned(s, a, k, None, "recalled"),
        on_started=_on_started,
        automated={"provision": _auto_provision},
        describe=_describe,
        describe_many=_describe_many,
        fields=ATTRIBUTE_FIELDS,
    ))


_register()


# ------------------------------------------------------------------ hand processing


class ActionResult(BaseModel):
    number: str
    status: str
    portal_user: str | None = None
    problem: str | None = None
    workflow_instance: int | None = None


def _result(session: Session, ur: UserRequest, problem: str | None = None, instance: int | None = None) -> ActionResult:
    pu = portal.view_for_request(session, ur.id or 0)
    return ActionResult(number=ur.number, status=ur.status, portal_user=pu.user_name if pu else None,
                        problem=problem, workflow_instance=instance)


@writes(phased=True)
def approve(session: Session, actor: Actor, number: str, comment: str | None = None) -> ActionResult:
    """Process by hand (no workflow): Submitted -> Approved, then provision the portal user."""
    ur = get_user_request(session, number)
    _require_manual(session, actor, ur, "approve")
    transitions.check(session, PROCESS, ur, "approve")
    _check_not_submitter(session, actor, ur)
    _move(session, actor, ur, "approve", "approved", comment=clean(comment, multiline=True) or "processed by hand")
    problem = _try_provision(session, actor, ur, via="processed by hand")
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
    _move(session, actor, ur, "provision", "provisioned", comment="provisioned by hand",
          extra={"portal_user": user.user_name, "portal_user_status": user.status})
    return _result(session, ur)


@writes(phased=True)
def reject(session: Session, actor: Actor, number: str, reason: str) -> ActionResult:
    reason = clean(reason, multiline=True)
    if not reason:
        raise ValidationFailed({"reason": "a reason is required to reject a user request"})
    if len(reason) > 1000:
        raise ValidationFailed({"reason": "at most 1000 characters"})
    ur = get_user_request(session, number)
    _require_manual(session, actor, ur, "reject")
    transitions.check(session, PROCESS, ur, "reject")
    _move(session, actor, ur, "reject", "rejected", comment=reason)
    return _result(session, ur)


@writes(phased=True)
def cancel(session: Session, actor: Actor, number: str, reason: str) -> ActionResult:
    """Withdraw the request; a provisioned portal user not yet activated is disabled and its link voided."""
    reason = clean(reason, multiline=True)
    if not reason:
        raise ValidationFailed({"reason": "say why the request is canceled"})
    ur = get_user_request(session, number)
    _require_manual(session, actor, ur, "cancel")
    transitions.check(session, PROCESS, ur, "cancel")
    begin_write(session)
    disabled = portal.disable_for_request(session, actor, ur.id or 0, f"user request {ur.number} canceled") \
        if ur.status == U.PENDING_COMPLETION else None
    _move(session, actor, ur, "cancel", "canceled", comment=reason,
          extra={"portal_user_disabled": disabled} if disabled else None)
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
    inst = _workflow_instance(session, ur)
    if inst is not None and ur.status == U.SUBMITTED:
        raise InvalidTransition(f"{ur.number} is in workflow {_instance_label(inst)} already")
    planned = ur.version
    begin_write(session)
    if ur.status == U.SUBMITTED:  # not moved by the mover: re-check what the plan read
        session.refresh(ur)
        if ur.version != planned:
            raise Replan(f"{ur.number} changed while the submit was planned")
    if ur.status == U.DRAFT:
        _move(session, actor, ur, "submit", "submitted", comment=comment)
    instance_id = None
    if inst is not None:
        _workflow.resubmit(session, actor, DOC_TYPE, ur.number, comment=comment)
        instance_id = getattr(inst, "id", None)
        session.refresh(ur)
        if ur.status in (U.DRAFT, U.SUBMITTED):
            _move(session, actor, ur, "start", "workflow resumed")
    else:
        instance_id = submit_to_workflow(session, actor, ur)
    problem = None if instance_id is not None or ur.status != U.SUBMITTED else \
        "no active user request workflow: the request waits in Submitted for processing by hand"
    return _result(session, ur, problem, instance_id)


@writes(phased=True)
def set_user_name(session: Session, actor: Actor, number: str, user_name: str, comment: str | None = None) -> ActionResult:
    """Choose another user name for the portal user (the approver's explicit answer to a conflict)."""
    require(actor, "user_request.process")
    ur = get_user_request(session, number)
    new = clean(user_name)
    if ur.status not in USER_NAME_EDITABLE:
        raise InvalidTransition(f"{ur.number} is {ur.status}: the user name can be changed only while the request "
                                f"is {', '.join(s.value for s in sorted(USER_NAME_EDITABLE))}")
    if not portal.USER_NAME.match(new):
        raise ValidationFailed({"user_name": portal.USER_NAME_HINT})
    if new == ur.user_name:
        raise ValidationFailed({"user_name": f"{new!r} is the user name already"})
    problem = portal.user_name_problem(session, new, user_request_id=ur.id)
    if problem:
        raise Conflict(problem)
    begin_write(session)
    result = session.execute(
        update(UserRequest).where(UserRequest.id == ur.id, UserRequest.version == ur.version,
                                  col(UserRequest.status).in_([s.value for s in USER_NAME_EDITABLE]))
        .values(user_name=new, version=ur.version + 1, updated_at=now(session))
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise transitions.changed_meanwhile(session, PROCESS, ur)
    old = ur.user_name
    audit.record(session, actor, ENTITY, ur.number, "user name changed", before={"user_name": old},
                 after={"user_name": new}, comment=clean(comment, multiline=True) or None)
    session.refresh(ur)
    return _result(session, ur)


# ------------------------------------------------------------------ views


class UserRequestView(BaseModel):
    id: int  # the keyset of the list (before_id)
    number: str
    request_type: str
    status: str
    customer_account: str
    customer_name: str
    contact: str
    email: str
    user_name: str
    role: str
    created_at: datetime
    created_by: str


class MailView(BaseModel):
    id: int
    template: str
    recipient: str
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None


class WorkflowStatus(BaseModel):
    instance_id: int | None
    summary: str


class UserRequestDetail(UserRequestView):
    updated_at: datetime
    version: int
    signup_request: str | None
    portal_user: portal.PortalUserView | None
    problem: str | None
    workflow: WorkflowStatus | None
    actions: list[str]
    mails: list[MailView]
    history: list[audit.AuditView]


def _view(ur: UserRequest, customer: Customer, contact: ContactPerson, role: PortalRole) -> UserRequestView:
    return UserRequestView(id=ur.id or 0, number=ur.number, request_type=ur.request_type, status=ur.status,
                           customer_account=customer.account, customer_name=customer.name,
                           contact=f"{contact.first_name} {contact.last_name}", email=ur.email,
                           user_name=ur.user_name, role=role.name, created_at=ur.created_at, created_by=ur.created_by)


def _joined():
    return (select(UserRequest, Customer, ContactPerson, PortalRole)
            .join(Customer, UserRequest.customer_id == Customer.id)
            .join(ContactPerson, UserRequest.contact_id == ContactPerson.id)
            .join(PortalRole, UserRequest.role_id == PortalRole.id))


def list_user_requests(session: Session, actor: Actor, *, status: str | None = None, limit: int = 200,
                       before_id: int | None = None) -> list[UserRequestView]:
    """Newest first; ``status`` filters (``All`` or None: every status)."""
    require(actor, "user_request.view")
    query = _joined()
    if status and status.strip().lower() != "all":
        try:
            query = query.where(UserRequest.status == U.parse(status).value)
        except ValueError as exc:
            raise ValidationFailed({"status": str(exc)}) from None
    if before_id is not None:
        query = query.where(UserRequest.id < before_id)
    rows = session.exec(query.order_by(col(UserRequest.id).desc()).limit(max(1, min(limit, 10_000)))).all()
    return [_view(*r) for r in rows]


def problem_of(session: Session, ur: UserRequest) -> str | None:
    """What keeps an open request from being provisioned, as the approver should read it."""
    if ur.status not in OPEN_STATUSES:
        return None
    problem = portal.user_name_problem(session, ur.user_name, user_request_id=ur.id)
    if problem:
        if ur.status == U.APPROVED:
            return (f"{problem}. Choose another user name ('set user name') and provision again; "
                    "nothing is renamed automatically")
        return f"{problem}: provisioning will be refused until another user name is set"
    if ur.status == U.APPROVED:
        return "approved but not provisioned yet: provision the portal user"
    return None


def allowed_actions(session: Session, actor: Actor, ur: UserRequest, in_workflow: bool) -> list[str]:
    actions = []
    if actor.can("user_request.process"):
        if not in_workflow:
            for name in ("approve", "reject", "cancel"):
                if ur.status in TRANSITIONS[name].sources:
                    actions.append(name)
            if ur.status in (U.DRAFT, U.SUBMITTED):
                actions.append("submit")
        if ur.status == U.APPROVED:
            actions.append("provision")
        if ur.status in USER_NAME_EDITABLE:
            actions.append("set_user_name")
        if ur.status == U.PENDING_COMPLETION:
            actions.append("resend_activation")
    return actions


def _workflow_status(session: Session, ur: UserRequest) -> tuple[WorkflowStatus | None, bool]:
    inst = _workflow.active_instance(session, DOC_TYPE, ur.number)
    if inst is None:
        return None, False
    step = getattr(inst, "current_step_name", None) or getattr(inst, "current_step", None)
    summary = f"workflow {_instance_label(inst)}" + (f", step {step}" if step else "")
    return WorkflowStatus(instance_id=getattr(inst, "id", None), summary=summary), True


def show_user_request(session: Session, actor: Actor, number: str) -> UserRequestDetail:
    require(actor, "user_request.view")
    row = session.exec(_joined().where(UserRequest.number == clean(number).upper())).first()
    if row is None:
        raise NotFound(f"no user request {number!r}")
    ur = row[0]
    base = _view(*row)
    signup_number = None
    if ur.signup_request_id:
        signup_number = session.exec(select(SignupRequest.number).where(SignupRequest.id == ur.signup_request_id)).first()
    pu = portal.view_for_request(session, ur.id or 0)
    mails = []
    if pu is not None:
        rows = session.exec(select(OutboxEmail).where(OutboxEmail.entity_type == portal.ENTITY,
                                                      OutboxEmail.entity_key == pu.user_name)
                            .order_by(col(OutboxEmail.id))).all()
        mails = [MailView(id=m.id or 0, template=m.template, recipient=m.recipient, status=m.status,
                          attempts=m.attempts, created_at=m.created_at, sent_at=m.sent_at, last_error=m.last_error)
                 for m in rows]
    wf, in_workflow = _workflow_status(session, ur)
    history = audit.history(session, ENTITY, ur.number)
    if pu is not None:
        user_events = [e.model_copy(update={"action": f"portal user {e.action}"})
                       for e in audit.history(session, portal.ENTITY, pu.user_name)]
        history = sorted(history + user_events, key=lambda e: e.id)
    return UserRequestDetail(
        **base.model_dump(), updated_at=ur.updated_at, version=ur.version, signup_request=signup_number,
        portal_user=pu, problem=problem_of(session, ur), workflow=wf,
        actions=allowed_actions(session, actor, ur, in_workflow), mails=mails, history=history,
    )


def workflow_history(session: Session, actor: Actor, number: str) -> Any:
    """The engine's history of the request's workflow(s): instances, steps, work items, events."""
    require(actor, "user_request.view")
    ur = get_user_request(session, number)
    return _workflow.history(session, actor, DOC_TYPE, ur.number)
