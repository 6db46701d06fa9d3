"""Customer request cases and sample requests (seed 002; a CRM module).

A case is a customer's request (a special condition, a product change...). Its sections are
Case information, Customer contact information, Description, Resolution and Closure. The
status rules live in ``services/cases.py``; this module only declares the tables and the
validated input schemas.
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PField
from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel, col

import models.customer  # noqa: F401  (foreign keys: loads the tables they point to)
from models.base import LabeledEnum
from models.schemas import Line, Multi

__all__ = [
    "CaseStatus",
    "CaseCategory",
    "CasePriority",
    "Case",
    "SampleStatus",
    "SampleRequest",
    "CaseIn",
    "SampleIn",
    "CLOSED_CASE_STATUSES",
]


class CaseStatus(LabeledEnum):
    """The statuses of seed 002, with its spelling."""

    OPEN = "Open"
    PENDING_APPROVAL = "Pending Approval"
    APPROVED = "Approved"
    REJECTED = "Rejected"
    RESOLVED = "Resolved"
    CLOSED_STOPPED = "Closed/Stopped"
    CLOSED_COMPLETED = "Closed/Completed"


CLOSED_CASE_STATUSES = (CaseStatus.CLOSED_STOPPED.value, CaseStatus.CLOSED_COMPLETED.value)


class CaseCategory(LabeledEnum):
    SPECIAL_CONDITION = "Special condition"
    PRODUCT_CHANGE = "Product change"
    PRICE_CHANGE = "Price change"
    DELIVERY = "Delivery"
    COMPLAINT = "Complaint"
    OTHER = "Other"


class CasePriority(LabeledEnum):
    LOW = "Low"
    NORMAL = "Normal"
    HIGH = "High"


class Case(SQLModel, table=True):
    # "case" is an SQL keyword: the table gets a plain name of its own
    __tablename__ = "customercase"

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=20, unique=True, index=True)
    status: str = Field(default=CaseStatus.OPEN, max_length=20)
    # Case information
    title: str = Field(max_length=200)
    category: str = Field(default=CaseCategory.OTHER, max_length=40)
    priority: str = Field(default=CasePriority.NORMAL, max_length=10)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    profile: str | None = Field(default=None, max_length=40)  # the creating operator's profile
    # Customer contact information
    contact_name: str = Field(default="", max_length=160)
    contact_email: str = Field(default="", max_length=254)
    contact_phone: str = Field(default="", max_length=40)
    # Description
    description: str = Field(default="", sa_column=Column(Text, nullable=False))
    # Resolution
    resolution: str = Field(default="", sa_column=Column(Text, nullable=False))
    resolution_date: date | None = None
    resolved_at: datetime | None = None
    # Closure
    closure_reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    closed_by: str | None = Field(default=None, max_length=64)
    closed_at: datetime | None = None
    # who and when
    created_by: str = Field(max_length=64)
    created_at: datetime
    updated_at: datetime
    submitted_by: str | None = Field(default=None, max_length=64)
    submitted_at: datetime | None = None
    approved_by: str | None = Field(default=None, max_length=64)
    approved_at: datetime | None = None
    rejected_by: str | None = Field(default=None, max_length=64)
    rejected_at: datetime | None = None
    reject_reason: str | None = Field(default=None, sa_column=Column(Text))
    version: int = Field(default=1)


Index("ix_customercase_status_id", col(Case.status), col(Case.id))


class SampleStatus(LabeledEnum):
    REQUESTED = "Requested"
    SHIPPED = "Shipped"
    CANCELED = "Canceled"


class SampleRequest(SQLModel, table=True):
    """A sample sent for a case: its own small process, never a customer request."""

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=20, unique=True, index=True)
    case_id: int = Field(foreign_key="customercase.id", index=True)
    product: str = Field(max_length=120)
    quantity: int = Field(default=1)
    ship_to: str = Field(default="", sa_column=Column(Text, nullable=False))
    notes: str = Field(default="", sa_column=Column(Text, nullable=False))
    status: str = Field(default=SampleStatus.REQUESTED, max_length=20)
    created_by: str = Field(max_length=64)
    created_at: datetime
    updated_at: datetime
    version: int = Field(default=1)


# ------------------------------------------------------------------ validated input


class CaseIn(BaseModel):
    """What ``cases create FILE`` reads (and the New case form sends)."""

    model_config = ConfigDict(extra="forbid", title="regdesk customer request case")

    title: Line = PField(min_length=1, max_length=200, description="Short summary of the request")
    customer_account: Line = PField(min_length=1, max_length=20, description="The customer's account")
    category: Line = PField(default="Other", max_length=40, description="Special condition, Product change, ...")
    priority: Line = PField(default="Normal", max_length=10, description="Low, Normal or High")
    contact_name: Line = PField(default="", max_length=160)
    contact_email: Line = PField(default="", max_length=254)
    contact_phone: Line = PField(default="", max_length=40, pattern=r"^[0-9 +()./xX-]*$")
    description: Multi = PField(default="", max_length=4000)


class SampleIn(BaseModel):
    """What ``cases sample ID FILE`` reads."""

    model_config = ConfigDict(extra="forbid", title="regdesk sample request")

    product: Line = PField(min_length=1, max_length=120)
    quantity: int = PField(default=1, ge=1, le=100000)
    ship_to: Multi = PField(default="", max_length=1000)
    notes: Multi = PField(default="", max_length=2000)
