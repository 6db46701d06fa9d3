"""Proposed customer changes (seed 004, D365 "Customer workflow"): a proposal per customer
and its lines, one per customer field whose new value waits for approval."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel, col

import models.customer  # noqa: F401  (foreign keys: loads the tables they point to)
from models.base import LabeledEnum


class ProposalState(LabeledEnum):
    """D365's four states, plus two of ours:

    * Partially approved: the approver approved some lines and rejected (or found in
      conflict) others; D365 approves only as a whole.
    * Discarded: every line of an unsubmitted proposal was discarded (kept for history).
    """

    NOT_SUBMITTED = "Not submitted"
    SUBMITTED = "Submitted"
    APPROVED = "Approved"
    PARTIALLY_APPROVED = "Partially approved"
    REJECTED = "Rejected"
    DISCARDED = "Discarded"


OPEN_STATES = (ProposalState.NOT_SUBMITTED.value, ProposalState.SUBMITTED.value)


class LineDecision(LabeledEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    CONFLICT = "conflict"  # the customer's value changed since the line was proposed: not applied


class ChangeProposal(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=20, unique=True, index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    account: str = Field(max_length=20)
    state: str = Field(default=ProposalState.NOT_SUBMITTED, max_length=20, index=True)
    created_at: datetime
    created_by: str = Field(max_length=64)  # the proposer (who made the first line)
    updated_at: datetime
    submitted_at: datetime | None = None
    submitted_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = None
    decided_by: str | None = Field(default=None, max_length=64)
    reason: str | None = Field(default=None, sa_column=Column(Text))
    workflow_instance_id: int | None = None  # None: decided by any approver (no active workflow)
    source: str = Field(default="edit", max_length=20)  # edit | import
    version: int = Field(default=1)


# one open (Not submitted / Submitted) proposal per customer, enforced by the database
_OPEN = text("state IN ('Not submitted', 'Submitted')")
Index(
    "uq_changeproposal_open_customer",
    col(ChangeProposal.customer_id),
    unique=True,
    sqlite_where=_OPEN,
    postgresql_where=_OPEN,
)


class ChangeLine(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="changeproposal.id", index=True)
    field: str = Field(max_length=40)
    original_value: str = Field(sa_column=Column(Text, nullable=False))  # JSON of the customer's value
    proposed_value: str = Field(sa_column=Column(Text, nullable=False))  # JSON of the new value
    proposed_by: str = Field(max_length=64)
    proposed_at: datetime
    decision: str = Field(default=LineDecision.PENDING, max_length=12)
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = None
    comment: str | None = Field(default=None, sa_column=Column(Text))
    current_at_decision: str | None = Field(default=None, sa_column=Column(Text))  # JSON, set for conflicts

    __table_args__ = (UniqueConstraint("proposal_id", "field"),)


__all__ = ["ChangeLine", "ChangeProposal", "LineDecision", "ProposalState", "OPEN_STATES"]
