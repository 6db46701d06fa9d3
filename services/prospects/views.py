"""What the prospect services return: results of the commands, rows of the three lists and their
keyset pages, the prospect's detail and its duplicate hints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from services import audit


class SubmitResult(BaseModel):
    number: str
    status: str
    lead: str
    email: str
    duplicates: int


class EmailOwner(BaseModel):
    kind: Literal["person customer", "contact"]
    account: str
    name: str
    customer_name: str


class DuplicateHint(BaseModel):
    kind: str
    key: str
    label: str
    reason: str


class QualifyResult(BaseModel):
    lead: str
    status: str
    prospect: str
    opportunity: str
    account: str  # organization customer
    contact_account: str  # person customer
    new_account: bool
    email_decision: str


class DecisionResult(BaseModel):
    number: str  # the lead or opportunity
    status: str
    prospect: str
    prospect_status: str
    email_sent_to: str | None = None


class WonResult(BaseModel):
    number: str
    status: str
    prospect: str
    prospect_status: str
    account: str
    contact_account: str
    parent_account: str
    admin_contact_id: int
    admins: int
    user_request: str
    user_request_status: str
    email_sent_to: str


class ProspectRow(BaseModel):
    number: str
    status: str
    company: str
    contact: str
    email: str
    zip: str
    store_name: str
    created_at: datetime
    lead: str | None
    lead_status: str | None


class LeadRow(BaseModel):
    number: str
    status: str
    view: str
    topic: str
    prospect: str
    company: str
    contact: str
    email: str
    created_at: datetime


class OpportunityRow(BaseModel):
    number: str
    status: str
    topic: str
    lead: str
    prospect: str
    account: str
    account_name: str
    contact_account: str
    email_decision: str
    created_at: datetime


class ProspectDetail(BaseModel):
    number: str
    status: str
    company: str
    first_name: str
    last_name: str
    email: str
    phone: str
    zip: str
    comments: str
    store_name: str
    store_url: str
    submitted_by: str
    created_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None
    lead: str | None
    lead_status: str | None
    opportunity: str | None
    opportunity_status: str | None
    account: str | None
    contact_account: str | None
    user_request: str | None
    duplicates: list[DuplicateHint]
    history: list[audit.AuditView]
    actions: list[str]


class ProspectPage(BaseModel):
    rows: list[ProspectRow]
    after: list[Any] | None = None


class LeadPage(BaseModel):
    rows: list[LeadRow]
    after: list[Any] | None = None


class OpportunityPage(BaseModel):
    rows: list[OpportunityRow]
    after: list[Any] | None = None
