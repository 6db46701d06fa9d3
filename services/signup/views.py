"""What the sign-up services hand their callers: plain pydantic rows and results."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel

from services import audit, customers


class SubmitResult(BaseModel):
    number: str
    status: str
    email: str
    duplicates: int


class VerifyResult(BaseModel):
    number: str
    status: str


class DuplicateHint(BaseModel):
    kind: Literal["request", "contact", "customer"]
    key: str  # registration number or customer account
    label: str
    reason: str


class RequestRow(BaseModel):
    id: int
    number: str
    created_at: datetime
    status: str
    company: str
    contact: str
    email: str
    user_name: str
    country: str


class RequestPage(BaseModel):
    rows: list[RequestRow]
    after: tuple[Any, int] | None  # keyset cursor of the next page, None at the end


class RequestDetail(BaseModel):
    number: str
    created_at: datetime
    status: str
    user_name: str
    email: str
    company: str
    first_name: str
    last_name: str
    phone: str
    fax: str
    street: str
    city: str
    zip: str
    state: str
    county: str
    country: str
    language: str
    customer_account: str
    customer_created: bool
    created_customer_account: str
    submitted_by: str
    verified_at: datetime | None
    approved_by: str | None
    approved_at: datetime | None
    rejected_by: str | None
    rejected_at: datetime | None
    reject_reason: str | None
    user_request: str | None
    version: int
    duplicates: list[DuplicateHint]
    history: list[audit.AuditView]
    actions: list[str]


class CreatePreview(BaseModel):
    mode: Literal["new", "existing"]
    account: str | None  # the existing account, or None: a new number is taken on OK
    values: dict[str, Any]  # the customer that will be created (or the existing one)
    contact: dict[str, str]
    role: str | None
    errors: dict[str, str]


class CreateChoices(BaseModel):
    """What the Create new customer dialog offers, and what it preselects (admin-set parameters)."""

    templates: list[customers.TemplateView]
    roles: list[customers.RoleView]
    default_template: str | None  # ``signup.default_template`` when it names an active template
    default_role: str | None  # ``signup.default_role`` when it names an active role


class CreateResult(BaseModel):
    number: str
    status: str
    customer_account: str
    new_customer: bool
    contact_id: int
    user_request: str
    user_request_status: str
