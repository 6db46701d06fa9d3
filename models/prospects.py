"""B2B business partner onboarding (seed 003; Dynamics 365 Commerce + Sales).

A prospect is what the B2B site's onboarding form sends; it becomes a lead in the view
"All commerce B2B leads"; qualifying the lead makes an opportunity (plus a contact and an
account customer); the opportunity is closed as Won or Lost. The rules live in
``services/prospects.py``.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField
from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel, col

import models.customer  # noqa: F401  (foreign keys: loads the tables they point to)
from models.base import LabeledEnum
from models.schemas import Line, Multi

__all__ = [
    "ProspectStatus",
    "LeadStatus",
    "OpportunityStatus",
    "Prospect",
    "Lead",
    "Opportunity",
    "ProspectIn",
    "B2B_LEADS_VIEW",
]

B2B_LEADS_VIEW = "All commerce B2B leads"


class ProspectStatus(LabeledEnum):
    """RetailB2BProspectStatus."""

    PENDING = "Pending"
    APPROVED = "Approved"
    REJECTED = "Rejected"


class LeadStatus(LabeledEnum):
    OPEN = "Open"
    QUALIFIED = "Qualified"
    DISQUALIFIED = "Disqualified"


class OpportunityStatus(LabeledEnum):
    OPEN = "Open"
    WON = "Won"
    LOST = "Lost"


class Prospect(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=20, unique=True, index=True)
    status: str = Field(default=ProspectStatus.PENDING, max_length=12)
    company: str = Field(max_length=200)
    company_normalized: str = Field(max_length=200)
    first_name: str = Field(max_length=80)
    last_name: str = Field(max_length=80)
    email: str = Field(max_length=254)
    email_normalized: str = Field(max_length=254)
    phone: str = Field(default="", max_length=40)
    zip: str = Field(default="", max_length=20)
    comments: str = Field(default="", sa_column=Column(Text, nullable=False))
    store_name: str = Field(default="", max_length=120)
    store_url: str = Field(default="", max_length=300)
    submitted_by: str = Field(default="portal", max_length=64)
    created_at: datetime
    updated_at: datetime
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = None
    decision_reason: str | None = Field(default=None, sa_column=Column(Text))
    version: int = Field(default=1)


Index("ix_prospect_status_id", col(Prospect.status), col(Prospect.id))
# the pages' company and e-mail sorts, id the tie-breaker (migration 0014); also the e-mail key
Index("ix_prospect_company_id", col(Prospect.company_normalized), col(Prospect.id))
Index("ix_prospect_email_id", col(Prospect.email_normalized), col(Prospect.id))


class Lead(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=20, unique=True, index=True)
    prospect_id: int = Field(foreign_key="prospect.id", unique=True)
    status: str = Field(default=LeadStatus.OPEN, max_length=14)
    view: str = Field(default=B2B_LEADS_VIEW, max_length=60)
    topic: str = Field(max_length=250)
    origin: str = Field(default="", max_length=120)
    created_at: datetime
    updated_at: datetime
    qualified_by: str | None = Field(default=None, max_length=64)
    qualified_at: datetime | None = None
    disqualified_by: str | None = Field(default=None, max_length=64)
    disqualified_at: datetime | None = None
    disqualify_reason: str | None = Field(default=None, sa_column=Column(Text))
    version: int = Field(default=1)


class Opportunity(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=20, unique=True, index=True)
    lead_id: int = Field(foreign_key="lead.id", unique=True)
    status: str = Field(default=OpportunityStatus.OPEN, max_length=10)
    topic: str = Field(max_length=250)
    account_id: int = Field(foreign_key="customer.id")  # organization customer
    contact_customer_id: int = Field(foreign_key="customer.id")  # person customer
    # how a shared primary e-mail was settled at qualification: "", "linked", "shared"
    email_decision: str = Field(default="", max_length=10)
    created_at: datetime
    updated_at: datetime
    closed_by: str | None = Field(default=None, max_length=64)
    closed_at: datetime | None = None
    close_reason: str | None = Field(default=None, sa_column=Column(Text))
    contact_person_id: int | None = Field(default=None, foreign_key="contactperson.id")
    user_request_id: int | None = Field(default=None, foreign_key="userrequest.id")
    version: int = Field(default=1)


# ------------------------------------------------------------------ validated input


class ProspectIn(BaseModel):
    """What the B2B site's onboarding form sends (``regdesk prospects submit FILE|-``)."""

    model_config = ConfigDict(extra="forbid", title="regdesk B2B onboarding request")

    company: Line = PField(min_length=1, max_length=200, description="Company name")
    first_name: Line = PField(min_length=1, max_length=80)
    last_name: Line = PField(min_length=1, max_length=80)
    email: Line = PField(min_length=3, max_length=254, description="The requester's e-mail (their B2B sign-in)")
    phone: Line = PField(default="", max_length=40, pattern=r"^[0-9 +()./xX-]*$")
    zip: Line = PField(default="", max_length=20, pattern=r"^[A-Za-z0-9 -]*$", description="ZIP/postal code")
    comments: Multi = PField(default="", max_length=2000)
    store_name: Line = PField(default="", max_length=120)
    store_url: Line = PField(
        default="", max_length=300, pattern=r"^(|https?://\S+)$", description="http(s) address of the partner's store"
    )
