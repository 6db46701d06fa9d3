"""What proposals look like to the front ends (pydantic views), and the customer's status line."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from models.changes import ChangeLine, ChangeProposal, LineDecision
from services import audit, customers
from services.changes.table import PENDING_STATUS, UNSUBMITTED_STATUS, P


class LineView(BaseModel):
    field: str
    label: str
    original: str
    proposed: str
    current: str
    conflict: bool  # the customer's value is no longer the original one
    decision: str
    proposed_by: str
    proposed_at: datetime
    decided_by: str | None
    comment: str | None


class ProposalView(BaseModel):
    number: str
    account: str
    customer_name: str
    state: str
    status: str  # what the customer shows: "Changes pending approval", "Changes not submitted" or ""
    source: str
    created_by: str
    created_at: datetime
    submitted_by: str | None
    submitted_at: datetime | None
    decided_by: str | None
    decided_at: datetime | None
    reason: str | None
    workflow_instance_id: int | None
    version: int
    lines: list[LineView]
    conflicts: int
    message: str


class ProposalRow(BaseModel):
    number: str
    account: str
    customer_name: str
    state: str
    lines: int
    fields: str
    created_by: str
    submitted_by: str | None
    submitted_at: datetime | None
    decided_by: str | None
    source: str


class EditResult(BaseModel):
    account: str
    saved: dict[str, str]  # field -> new value, saved at once
    proposed: dict[str, str]  # field -> proposed value, now a line of the proposal
    unchanged: list[str]
    version: int
    proposal: ProposalView | None
    message: str


class DecisionResult(BaseModel):
    number: str
    account: str
    state: str
    applied: dict[str, str]
    rejected: list[str]
    conflicts: list[str]
    message: str
    proposal: ProposalView


class FieldState(BaseModel):
    name: str
    label: str
    kind: str
    max_length: int
    choices: list[str]
    value: str  # the customer's value now, as text for the form
    needs_approval: bool
    locked: bool
    proposed: str | None  # the value of this field's proposal line


class EditContext(BaseModel):
    customer: customers.CustomerView
    status: str
    fields: list[FieldState]
    proposal: ProposalView | None
    history: list[audit.AuditView]
    can_edit: bool
    can_submit: bool
    waiting_for_me: bool


def status(state: str) -> str:
    """What the customer shows while a proposal is in ``state``."""
    if state == P.SUBMITTED:
        return PENDING_STATUS
    if state == P.NOT_SUBMITTED:
        return UNSUBMITTED_STATUS
    return ""


def message(p: ChangeProposal, lines: list[ChangeLine]) -> str:
    n = len(lines)
    what = f"{n} proposed change{'s' if n != 1 else ''}"
    if p.state == P.NOT_SUBMITTED:
        return f"{what} not submitted: submit them for approval (or discard them)"
    if p.state == P.SUBMITTED:
        return f"{what} pending approval since {p.submitted_at:%Y-%m-%d %H:%M} (submitted by {p.submitted_by})"
    if p.state == P.REJECTED:
        return f"rejected by {p.decided_by}: {p.reason}"
    if p.state in (P.APPROVED, P.PARTIALLY_APPROVED):
        applied = sum(1 for x in lines if x.decision == LineDecision.APPROVED)
        return f"{p.state.lower()} by {p.decided_by}: {applied} of {n} applied"
    return f"{p.state.lower()}"
