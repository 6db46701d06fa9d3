"""The proposal's process table (``TRANSITIONS``), its wording of refusals, and its mover."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from models.changes import ChangeProposal, ProposalState
from services import customers, transitions

P = ProposalState
ENTITY = "change_proposal"
DOC_TYPE = "customer_change"
SEQUENCE = ("CHG-", 6, "Proposed customer changes")
PENDING_STATUS = customers.PENDING_STATUS
UNSUBMITTED_STATUS = customers.UNSUBMITTED_STATUS

# (action, from, to, permission, wording, other targets, offered to operators)
TRANSITIONS = transitions.table(
    "change_proposal",
    [
        ("submit", {P.NOT_SUBMITTED}, P.SUBMITTED, "changes.submit", "submit"),
        ("discard", {P.NOT_SUBMITTED}, P.DISCARDED, "changes.submit", "discard"),
        ("approve", {P.SUBMITTED}, P.APPROVED, "changes.decide", "approve", frozenset({P.PARTIALLY_APPROVED})),
        ("reject", {P.SUBMITTED}, P.REJECTED, "changes.decide", "reject"),
        # recalled by the submitter, or a change requested in the workflow
        ("return", {P.SUBMITTED}, P.NOT_SUBMITTED, None, "return to the proposer"),
    ],
)
LINE_EDIT_STATES = frozenset({P.NOT_SUBMITTED})  # lines are added, replaced, discarded only here


def _at(t: datetime | None) -> str:
    return f"{t:%Y-%m-%d %H:%M}" if t else "?"


def explain(p: ChangeProposal, action: str) -> str | None:
    """The process's own words for a refusal (None: the mover's sentence, services/transitions.py)."""
    n, st = f"{p.number} ({p.account})", p.state
    if st == P.SUBMITTED and action in ("submit", "discard"):
        return (
            f"{n} was submitted by {p.submitted_by} on {_at(p.submitted_at)} and is pending approval: "
            "it cannot be changed until it is decided (the submitter may recall it)"
        )
    if st == P.NOT_SUBMITTED and action == "return":
        return f"{n} is not submitted (recalled or sent back already?): nothing to recall"
    if st == P.NOT_SUBMITTED and action in ("approve", "reject"):
        return f"{n} has not been submitted yet: nothing to decide"
    if st in (P.APPROVED, P.PARTIALLY_APPROVED):
        return f"{n} was {st.lower()} by {p.decided_by} on {_at(p.decided_at)}"
    if st == P.REJECTED:
        return f"{n} was rejected by {p.decided_by} on {_at(p.decided_at)}: {p.reason}"
    if st == P.DISCARDED:
        return f"{n} was discarded"
    return None


# filed with services.transitions by the package (services/changes/__init__.py), whose module
# name places it in ``regdesk processes``
PROCESS = transitions.Process(
    name="change_proposal",
    title="Proposed customer change",
    model=ChangeProposal,
    states=tuple(ProposalState),
    transitions=TRANSITIONS,
    entity=ENTITY,
    initial=(P.NOT_SUBMITTED,),
    field="state",
    explain=lambda _session, p, action: explain(p, action),
    label=lambda p: f"{p.number} ({p.account})",
)


def transition(session: Session, p: ChangeProposal, action: str, target: ProposalState, **values: Any) -> None:
    """Move ``p`` by ``action`` (services/transitions.py: check, write lock, compare-and-set)."""
    transitions.move(session, PROCESS, p, action, to=target, **values)
