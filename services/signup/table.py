"""The sign-up process's table and wording: states, transitions, refusals in the user's words,
and the lookups every command of the process starts from (services/transitions.py moves it).

The process, in one table (``TRANSITIONS``)::

    Requested --verify--> Verified by user --approve--> Approved --create--> Created
        \\________________________\\______________________\\--reject--> Rejected
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from models.signup import SignupRequest, SignupStatus
from services import transitions
from services.errors import NotFound, RegdeskError
from services.permissions import Actor, require
from services.text import clean

S = SignupStatus

TRANSITIONS = transitions.table(
    "signup",
    [
        ("verify", {S.REQUESTED}, S.VERIFIED, None, "verify"),
        ("resend", {S.REQUESTED}, None, "signup.resend", "resend the verification link of"),
        ("approve", {S.VERIFIED}, S.APPROVED, "signup.approve", "approve"),
        ("reject", {S.REQUESTED, S.VERIFIED, S.APPROVED}, S.REJECTED, "signup.reject", "reject"),
        ("create", {S.APPROVED}, S.CREATED, "signup.create", "create a customer from"),
    ],
)
OPEN_STATUSES = (S.REQUESTED.value, S.VERIFIED.value, S.APPROVED.value)
FILTERS = ["All", *[s.value for s in SignupStatus]]
ENTITY = "signup"


def allowed_actions(actor: Actor, status: str) -> list[str]:
    return [
        name
        for name, t in TRANSITIONS.items()
        if t.permission is not None and status in t.sources and actor.can(t.permission)
    ]


def _at(t: datetime | None) -> str:
    return f"{t:%Y-%m-%d %H:%M}" if t else "?"


def _explain(_session: Session, req: SignupRequest, action: str) -> str | None:
    """Why ``action`` is not possible on ``req`` in its current state, in the user's words
    (None: the mover's own sentence, services/transitions.py)."""
    n, st = req.number, req.status
    if st == S.REJECTED:
        return f"{n} was rejected by {req.rejected_by} on {_at(req.rejected_at)}: {req.reject_reason}"
    if st == S.CREATED:
        return f"{n} is done already: customer {req.created_customer_account} was created by {req.created_by}"
    if action == "approve":
        if st == S.REQUESTED:
            return (
                f"{n} cannot be approved: the customer has not verified the request yet "
                "(status Requested); send the activation URL again if the link was lost"
            )
        if st == S.APPROVED:
            return f"{n} was already approved by {req.approved_by} on {_at(req.approved_at)}"
    if action == "create" and st in (S.REQUESTED, S.VERIFIED):
        return f"{n} must be approved before a customer is created (status {st})"
    if action == "resend":
        return f"{n} is verified already (status {st}): no new link is needed"
    if action == "verify":
        return f"{n} is verified already (status {st})"
    return None


# registered by the package (services/signup/__init__.py): transitions ranks the processes by the
# module that files them, ``services.signup`` in PROCESS_MODULES
PROCESS = transitions.Process(
    name="signup",
    title="Sign-up request",
    model=SignupRequest,
    states=tuple(SignupStatus),
    transitions=TRANSITIONS,
    entity="signup",
    initial=(S.REQUESTED,),
    explain=_explain,
)


def precheck(session: Session, req: SignupRequest, action: str) -> None:
    """The plan phase's check: refuse at once (no lock) when the state does not allow ``action``."""
    transitions.check(session, PROCESS, req, action)


def transition(session: Session, req: SignupRequest, action: str, **values: Any) -> None:
    """Move ``req`` by ``action`` (services/transitions.py: check, write lock, compare-and-set)."""
    transitions.move(session, PROCESS, req, action, **values)


_BY_NUMBER = select(SignupRequest).where(col(SignupRequest.number) == bindparam("number"))  # built once


def get_request(session: Session, number: str) -> SignupRequest:
    """The request by its registration number (any case, surrounding blanks ignored), or NotFound."""
    key = clean(number).upper()
    req = session.exec(_BY_NUMBER, params={"number": key}).first()
    if req is None:
        raise NotFound(f"no sign-up request {number!r}")
    return req


def refusal(session: Session, actor: Actor, number: str, action: str) -> str | None:
    """Why ``action`` (approve, reject, create, resend) cannot apply to request ``number`` now, in the
    command's words, or None (the command checks again when it runs). Asked before a dialog opens."""
    require(actor, "signup.view")
    req = get_request(session, number)
    permission = TRANSITIONS[action].permission
    try:
        if permission is not None:
            require(actor, permission)
        precheck(session, req, action)
    except RegdeskError as exc:
        return exc.message
    return None
