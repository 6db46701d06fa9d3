"""What the case services return: pydantic views of cases and samples, and the detail's sections."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel
from sqlmodel import Session

from models.cases import Case, SampleRequest
from services import audit


class CaseResult(BaseModel):
    number: str
    status: str
    version: int
    message: str = ""


class CaseRow(BaseModel):
    id: int
    number: str
    status: str
    title: str
    category: str
    priority: str
    customer_account: str
    customer_name: str
    created_at: datetime
    created_by: str


class CasePage(BaseModel):
    rows: list[CaseRow]
    after: int | None  # keyset cursor (the last id) of the next page, None at the end


class SampleView(BaseModel):
    number: str
    product: str
    quantity: int
    ship_to: str
    notes: str
    status: str
    created_by: str
    created_at: datetime


class CaseDetail(BaseModel):
    number: str
    status: str
    # Case information
    title: str
    category: str
    priority: str
    customer_account: str
    customer_name: str
    profile: str | None
    created_by: str
    created_at: datetime
    # Customer contact information
    contact_name: str
    contact_email: str
    contact_phone: str
    # Description
    description: str
    # Resolution
    resolution: str
    resolution_date: date | None
    resolved_at: datetime | None
    # Closure
    closure_reason: str
    closed_by: str | None
    closed_at: datetime | None
    # approval
    submitted_by: str | None
    submitted_at: datetime | None
    approved_by: str | None
    approved_at: datetime | None
    rejected_by: str | None
    rejected_at: datetime | None
    reject_reason: str | None
    workflow: str | None  # the engine's instance, when one runs it
    version: int
    samples: list[SampleView]
    history: list[audit.AuditView]
    actions: list[str]


SECTIONS: dict[str, tuple[str, ...]] = {
    "Case information": (
        "number",
        "status",
        "title",
        "category",
        "priority",
        "customer_account",
        "customer_name",
        "created_by",
        "created_at",
    ),
    "Customer contact information": ("contact_name", "contact_email", "contact_phone"),
    "Description": ("description",),
    "Resolution": ("resolution", "resolution_date"),
    "Closure": ("closure_reason", "closed_by", "closed_at"),
}


def case_result(session: Session, case: Case, message: str = "") -> CaseResult:
    """The case as it is now (reread: a compare-and-set left it expired)."""
    fresh = session.get(Case, case.id)
    assert fresh is not None
    return CaseResult(number=fresh.number, status=fresh.status, version=fresh.version, message=message)


def sample_view(s: SampleRequest) -> SampleView:
    return SampleView(
        number=s.number,
        product=s.product,
        quantity=s.quantity,
        ship_to=s.ship_to,
        notes=s.notes,
        status=s.status,
        created_by=s.created_by,
        created_at=s.created_at,
    )
