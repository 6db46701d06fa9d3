"""The case and sample processes: their Transition tables, which sections open in which status,
and the wording of a refusal (services/transitions.py moves the records).

The tables are registered with services.transitions by the package (``services/cases/__init__``):
``regdesk processes`` ranks a process by the module that registers it (``PROCESS_MODULES``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NoReturn

from sqlmodel import Session

from models.cases import CLOSED_CASE_STATUSES, Case, CaseStatus, SampleRequest, SampleStatus
from services import transitions
from services.permissions import Actor

S = CaseStatus
ENTITY = "case"
DOC_TYPE = "case"
SAMPLE_ENTITY = "sample"


# (action, from, to, permission, wording, other targets, offered to operators)
TRANSITIONS = transitions.table(
    "case",
    [
        ("submit", {S.OPEN, S.REJECTED}, S.PENDING_APPROVAL, "cases.edit", "submit"),
        ("auto_approve", {S.OPEN}, S.APPROVED, None, "approve automatically", frozenset(), False),
        ("approve", {S.PENDING_APPROVAL}, S.APPROVED, "cases.decide", "approve"),
        ("reject", {S.PENDING_APPROVAL}, S.REJECTED, "cases.decide", "reject"),
        ("recall", {S.PENDING_APPROVAL}, S.OPEN, None, "recall"),
        ("resolve", {S.APPROVED}, S.RESOLVED, None, "resolve", frozenset(), False),
        ("unresolve", {S.RESOLVED}, S.APPROVED, None, "clear the resolution of", frozenset(), False),
        (
            "close_stopped",
            {S.OPEN, S.APPROVED, S.REJECTED, S.RESOLVED},
            S.CLOSED_STOPPED,
            "cases.edit",
            "close (stopped)",
        ),
        ("close_completed", {S.RESOLVED}, S.CLOSED_COMPLETED, "cases.edit", "close (completed)"),
    ],
)
# which sections may be changed in which status
INFO_FIELDS = ("title", "category", "priority", "contact_name", "contact_email", "contact_phone", "description")
RESOLUTION_FIELDS = ("resolution", "resolution_date")
INFO_EDITABLE = frozenset({S.OPEN, S.REJECTED})
RESOLUTION_EDITABLE = frozenset({S.APPROVED, S.RESOLVED})
FILTERS = ["All", *[s.value for s in CaseStatus]]
CLOSE_KINDS = {"stopped": "close_stopped", "completed": "close_completed"}

SAMPLE_TRANSITIONS = transitions.table(
    "sample",
    [
        ("ship", {SampleStatus.REQUESTED}, SampleStatus.SHIPPED, "cases.edit", "ship"),
        ("cancel", {SampleStatus.REQUESTED}, SampleStatus.CANCELED, "cases.edit", "cancel"),
    ],
)
SAMPLE_PROCESS = transitions.Process(
    name="sample",
    title="Sample request",
    model=SampleRequest,
    states=tuple(SampleStatus),
    transitions=SAMPLE_TRANSITIONS,
    entity=SAMPLE_ENTITY,
    initial=(SampleStatus.REQUESTED,),
)


def allowed_actions(actor: Actor, case: Case | str) -> list[str]:
    status = case.status if isinstance(case, Case) else case
    actions = [
        name
        for name, t in TRANSITIONS.items()
        if t.permission is not None and status in t.sources and actor.can(t.permission)
    ]
    if status in RESOLUTION_EDITABLE and actor.can("cases.edit"):
        actions.append("resolve")
    if status not in CLOSED_CASE_STATUSES and actor.can("cases.edit"):
        actions.append("sample")
    if status in INFO_EDITABLE and actor.can("cases.edit"):
        actions.append("edit")
    return actions


def _at(t: datetime | None) -> str:
    return f"{t:%Y-%m-%d %H:%M}" if t else "?"


def explain(case: Case, action: str) -> str | None:
    """Why ``action`` is not possible on ``case`` in its current state, in the user's words
    (None: the mover's own sentence, services/transitions.py)."""
    n, st = case.number, case.status
    if st in CLOSED_CASE_STATUSES:
        return f"{n} was closed ({st}) by {case.closed_by} on {_at(case.closed_at)}: {case.closure_reason}"
    if action in ("approve", "reject"):
        if st == S.OPEN:
            return f"{n} has not been submitted for approval yet (status Open)"
        if st in (S.APPROVED, S.RESOLVED):
            return f"{n} was already approved by {case.approved_by} on {_at(case.approved_at)} (status {st})"
        if st == S.REJECTED:
            return f"{n} was already rejected by {case.rejected_by} on {_at(case.rejected_at)}: {case.reject_reason}"
    if action == "submit":
        if st == S.PENDING_APPROVAL:
            return f"{n} is already waiting for approval (submitted by {case.submitted_by} on {_at(case.submitted_at)})"
        if st in (S.APPROVED, S.RESOLVED):
            return f"{n} is approved already (status {st}): nothing to submit"
    if action in ("resolve", "unresolve"):
        if st in (S.OPEN, S.REJECTED):
            return f"{n} must be approved before it is resolved (status {st}): submit it for approval first"
        if st == S.PENDING_APPROVAL:
            return f"{n} is waiting for approval: it can be resolved once approved"
    if action == "close_completed" and st != S.RESOLVED:
        return (
            f"{n} cannot be closed as completed while it is {st}: fill Resolution and Resolution date "
            "(status Resolved) first, or close it as stopped"
        )
    if action == "close_stopped" and st == S.PENDING_APPROVAL:
        return f"{n} is waiting for approval: recall it or have it approved or rejected before closing it"
    if action == "edit":
        if st == S.PENDING_APPROVAL:
            return f"{n} is waiting for approval: its case information is locked until it is decided"
        return f"{n} is {st}: its case information is locked once approved (open a new case for a new request)"
    if action == "recall":
        return f"{n} is not waiting for approval (status {st}): nothing to recall"
    return None


# a screen's action (allowed_actions' names, "close" for either kind) -> the permission it needs
ACTION_PERMISSIONS = {
    "edit": "cases.edit",
    "resolve": "cases.edit",
    "sample": "cases.edit",
    "close": "cases.edit",
    "submit": "cases.edit",
    "recall": "cases.edit",
    "approve": "cases.decide",
    "reject": "cases.decide",
}


def sample_refused(case: Case) -> str:
    return f"{case.number} is closed ({case.status}): no sample can be requested on it"


def state_refusal(session: Session, actor: Actor, case: Case, action: str) -> str | None:
    """Why ``action`` (an ``ACTION_PERMISSIONS`` name) cannot apply to ``case`` in its state, in the
    words its command refuses with (None: the state allows it)."""
    st = case.status
    if action == "edit":
        return None if st in INFO_EDITABLE else explain(case, "edit")
    if action == "resolve":
        return None if st in RESOLUTION_EDITABLE else explain(case, "resolve")
    if action == "sample":
        return None if st not in CLOSED_CASE_STATUSES else sample_refused(case)
    if action == "close":
        sources = TRANSITIONS["close_stopped"].sources | TRANSITIONS["close_completed"].sources
        return None if st in sources else explain(case, "close_stopped")
    if st not in TRANSITIONS[action].sources:
        return transitions.refusal(session, PROCESS, case, action).message
    if action == "recall" and case.submitted_by != actor.user_name:
        return f"{case.number} was submitted by {case.submitted_by}: only the submitter may recall it"
    return None


PROCESS = transitions.Process(
    name="case",
    title="Case",
    model=Case,
    states=tuple(CaseStatus),
    transitions=TRANSITIONS,
    entity=ENTITY,
    initial=(S.OPEN,),
    explain=lambda _session, case, action: explain(case, action),
)


def move(session: Session, case: Case, action: str, **values: Any) -> str:
    """Move ``case`` by ``action`` (services/transitions.py); returns the status it left."""
    return transitions.move(session, PROCESS, case, action, **values)


def check(session: Session, case: Case, action: str) -> None:
    """The plan phase's check: refuse before the write lock."""
    transitions.check(session, PROCESS, case, action)


def lost_race(session: Session, case: Case, action: str | None) -> NoReturn:
    """A compare-and-set of ``case`` found another version: the one refusal (always raises)."""
    session.expire(case)
    fresh = session.get(Case, case.id)
    if fresh is not None and action is not None and fresh.status not in TRANSITIONS[action].sources:
        raise transitions.refusal(session, PROCESS, fresh, action, lost_race=True)
    raise transitions.changed_meanwhile(session, PROCESS, case, fresh)
