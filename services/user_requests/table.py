"""The user request process: its Transition table, the statuses in which the user name may change,
the wording of a refusal, and the one mover with its audit event (services/transitions.py).

The table is registered with services.transitions by the package (``services/user_requests/__init__``):
``regdesk processes`` ranks a process by the module that registers it (``PROCESS_MODULES``).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from models.signup import UserRequest, UserRequestStatus
from services import audit, transitions
from services.permissions import Actor

ENTITY = "user_request"
DOC_TYPE = "user_request"
U = UserRequestStatus


# (action, from, to, permission, wording, other targets, offered to operators)
TRANSITIONS = transitions.table(
    "user_request",
    [
        ("submit", {U.DRAFT}, U.SUBMITTED, "user_request.process", "submit"),
        ("start", {U.DRAFT, U.SUBMITTED}, U.PENDING_APPROVAL, None, "start the workflow of", frozenset(), False),
        ("approve", {U.SUBMITTED, U.PENDING_APPROVAL}, U.APPROVED, "user_request.process", "approve"),
        ("provision", {U.APPROVED}, U.PENDING_COMPLETION, "user_request.process", "provision the portal user of"),
        ("complete", {U.PENDING_COMPLETION}, U.COMPLETED, None, "complete", frozenset(), False),
        ("return", {U.PENDING_APPROVAL}, U.DRAFT, None, "return to draft", frozenset(), False),
        ("reject", {U.SUBMITTED, U.PENDING_APPROVAL, U.APPROVED}, U.REJECTED, "user_request.process", "reject"),
        (
            "cancel",
            {U.DRAFT, U.SUBMITTED, U.APPROVED, U.PENDING_COMPLETION},
            U.CANCELED,
            "user_request.process",
            "cancel",
        ),
    ],
)
# the preferred user name may be corrected until the portal user exists (not while under approval)
USER_NAME_EDITABLE = frozenset({U.DRAFT, U.SUBMITTED, U.APPROVED})
OPEN_STATUSES = frozenset({U.DRAFT, U.SUBMITTED, U.PENDING_APPROVAL, U.APPROVED})
FILTERS = ["All", *[s.value for s in UserRequestStatus]]


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


PROCESS = transitions.Process(
    name="user_request",
    title="User request",
    model=UserRequest,
    states=tuple(UserRequestStatus),
    transitions=TRANSITIONS,
    entity=ENTITY,
    initial=(U.DRAFT, U.SUBMITTED),
    explain=_explain,
)


def move_audited(
    session: Session,
    actor: Actor,
    ur: UserRequest,
    action: str,
    event: str,
    *,
    comment: str | None = None,
    extra: dict[str, Any] | None = None,
    **values: Any,
) -> None:
    """Move ``ur`` by ``action`` (services/transitions.py) and record ``event`` in its audit trail."""
    before = transitions.move(session, PROCESS, ur, action, **values)
    audit.record(
        session,
        actor,
        ENTITY,
        ur.number,
        event,
        before={"status": before},
        after={"status": ur.status, **(extra or {})},
        comment=comment,
    )
