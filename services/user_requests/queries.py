"""Reading user requests: one by its number, the list (newest first, by status), the counts per
status, what keeps a request from being provisioned, the detail and its workflow history."""

from __future__ import annotations

from sqlmodel import Session, col, select
from sqlmodel.sql.expression import Select

from models.core import OutboxEmail
from models.customer import ContactPerson, Customer, PortalRole
from models.signup import SignupRequest, UserRequest, UserRequestStatus
from services import audit, counters, portal, transitions
from services import workflow as wf
from services.errors import NotFound, PermissionDenied, ValidationFailed
from services.permissions import Actor, require
from services.text import clean

from .table import DOC_TYPE, ENTITY, OPEN_STATUSES, PROCESS, TRANSITIONS, USER_NAME_EDITABLE, U
from .views import MailView, UserRequestDetail, UserRequestView, WorkflowStatus, instance_label, user_request_view


def get_user_request(session: Session, number: str) -> UserRequest:
    ur = session.exec(select(UserRequest).where(col(UserRequest.number) == clean(number).upper())).first()
    if ur is None:
        raise NotFound(f"no user request {number!r}")
    return ur


def _joined() -> Select[UserRequest, Customer, ContactPerson, PortalRole]:
    return (
        select(UserRequest, Customer, ContactPerson, PortalRole)
        .join(Customer, col(UserRequest.customer_id) == col(Customer.id))
        .join(ContactPerson, col(UserRequest.contact_id) == col(ContactPerson.id))
        .join(PortalRole, col(UserRequest.role_id) == col(PortalRole.id))
    )


def list_user_requests(
    session: Session, actor: Actor, *, status: str | None = None, limit: int = 200, before_id: int | None = None
) -> list[UserRequestView]:
    """Newest first; ``status`` filters (``All`` or None: every status)."""
    require(actor, "user_request.view")
    query = _joined()
    if status and status.strip().lower() != "all":
        try:
            query = query.where(col(UserRequest.status) == U.parse(status).value)
        except ValueError as exc:
            raise ValidationFailed({"status": str(exc)}) from None
    if before_id is not None:
        query = query.where(col(UserRequest.id) < before_id)
    rows = session.exec(query.order_by(col(UserRequest.id).desc()).limit(max(1, min(limit, 10_000)))).all()
    return [user_request_view(*r) for r in rows]


def count_by_status(session: Session, actor: Actor) -> dict[str, int]:
    """User requests per status, with "All" (the tabs of the User requests area): the kept counters.
    The list's search is done in memory over its pages, so there is no count of a search."""
    require(actor, "user_request.view")
    return counters.by_status(session, "user_request", UserRequestStatus)


def problem_of(session: Session, ur: UserRequest) -> str | None:
    """What keeps an open request from being provisioned, as the approver should read it."""
    if ur.status not in OPEN_STATUSES:
        return None
    problem = portal.user_name_problem(session, ur.user_name, user_request_id=ur.id)
    if problem:
        if ur.status == U.APPROVED:
            return (
                f"{problem}. Choose another user name ('set user name') and provision again; "
                "nothing is renamed automatically"
            )
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
    inst = wf.active_instance(session, DOC_TYPE, ur.number)
    if inst is None:
        return None, False
    step = f", step {inst.current_step}" if inst.current_step else ""
    return WorkflowStatus(instance_id=inst.id, summary=f"workflow {instance_label(inst)}{step}"), True


def show_user_request(session: Session, actor: Actor, number: str) -> UserRequestDetail:
    require(actor, "user_request.view")
    row = session.exec(_joined().where(col(UserRequest.number) == clean(number).upper())).first()
    if row is None:
        raise NotFound(f"no user request {number!r}")
    ur = row[0]
    base = user_request_view(*row)
    signup_number = None
    if ur.signup_request_id:
        signup_number = session.exec(
            select(SignupRequest.number).where(SignupRequest.id == ur.signup_request_id)
        ).first()
    pu = portal.view_for_request(session, ur.id or 0)
    mails = []
    if pu is not None:
        rows = session.exec(
            select(OutboxEmail)
            .where(OutboxEmail.entity_type == portal.ENTITY, OutboxEmail.entity_key == pu.user_name)
            .order_by(col(OutboxEmail.id))
        ).all()
        mails = [
            MailView(
                id=m.id or 0,
                template=m.template,
                recipient=m.recipient,
                status=m.status,
                attempts=m.attempts,
                created_at=m.created_at,
                sent_at=m.sent_at,
                last_error=m.last_error,
            )
            for m in rows
        ]
    flow, in_workflow = _workflow_status(session, ur)
    history = audit.history(session, ENTITY, ur.number)
    if pu is not None:
        user_events = [
            e.model_copy(update={"action": f"portal user {e.action}"})
            for e in audit.history(session, portal.ENTITY, pu.user_name)
        ]
        history = sorted(history + user_events, key=lambda e: e.id)
    return UserRequestDetail(
        **base.model_dump(),
        updated_at=ur.updated_at,
        version=ur.version,
        signup_request=signup_number,
        portal_user=pu,
        problem=problem_of(session, ur),
        workflow=flow,
        actions=allowed_actions(session, actor, ur, in_workflow),
        mails=mails,
        history=history,
    )


def refusal(session: Session, actor: Actor, number: str, action: str) -> str | None:
    """Why ``actor`` cannot ``action`` user request ``number`` as it is now (None: it is among the
    actions its detail offers; the command checks again when it runs). Asked by the console before
    it opens the action's form. ``action``: one of ``allowed_actions``' names."""
    require(actor, "user_request.view")
    ur = get_user_request(session, number)
    flow, in_workflow = _workflow_status(session, ur)
    possible = allowed_actions(session, actor, ur, in_workflow)
    if action in possible:
        return None
    try:
        require(actor, "user_request.process")
    except PermissionDenied as exc:
        return exc.message
    if flow is not None and action in ("approve", "reject", "cancel", "submit"):
        return f"{ur.number} is in {flow.summary}: act on its work item (My work / 'regdesk work list') instead"
    if action in TRANSITIONS and ur.status not in TRANSITIONS[action].sources:
        return transitions.refusal(session, PROCESS, ur, action).message
    label = action.replace("_", " ")
    if not possible:
        return f"{ur.number} is {ur.status}: nothing you may do on it here"
    return (
        f"{ur.number} is {ur.status}: cannot {label} it (possible: {', '.join(a.replace('_', ' ') for a in possible)})"
    )


def workflow_history(session: Session, actor: Actor, number: str) -> wf.WorkflowHistory:
    """The engine's history of the request's workflow(s): instances, steps, work items, events."""
    require(actor, "user_request.view")
    ur = get_user_request(session, number)
    return wf.history(session, actor, DOC_TYPE, ur.number)
