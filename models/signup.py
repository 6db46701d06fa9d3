"""Customer self-service sign-up requests and the user requests they lead to (AX 2012)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text, func
from sqlmodel import Field, SQLModel, col

from models.base import LabeledEnum


class SignupStatus(LabeledEnum):
    """AX ECPCustSignUpStatus, plus Rejected (kept with its reason instead of deleted)."""

    REQUESTED = "Requested"
    VERIFIED = "Verified by user"
    APPROVED = "Approved"
    CREATED = "Created"
    REJECTED = "Rejected"


class SignupRequest(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=20, unique=True, index=True)
    created_at: datetime
    status: str = Field(default=SignupStatus.REQUESTED, max_length=20)
    user_name: str = Field(max_length=64)
    email: str = Field(max_length=254)
    email_normalized: str = Field(max_length=254, index=True)
    company: str = Field(max_length=200)
    company_normalized: str = Field(max_length=200, index=True)
    first_name: str = Field(max_length=80)
    last_name: str = Field(max_length=80)
    phone: str = Field(default="", max_length=40)
    fax: str = Field(default="", max_length=40)
    street: str = Field(default="", max_length=200)
    city: str = Field(default="", max_length=80)
    zip: str = Field(default="", max_length=20)
    state: str = Field(default="", max_length=40)
    county: str = Field(default="", max_length=40)
    country: str = Field(default="", max_length=3)
    language: str = Field(default="en-us", max_length=10)
    customer_account: str = Field(default="", max_length=20)  # existing customer, if any
    customer_created: bool = Field(default=False)
    created_customer_account: str = Field(default="", max_length=20)
    submitted_by: str = Field(default="portal", max_length=64)
    verified_at: datetime | None = None
    approved_by: str | None = Field(default=None, max_length=64)
    approved_at: datetime | None = None
    rejected_by: str | None = Field(default=None, max_length=64)
    rejected_at: datetime | None = None
    reject_reason: str | None = Field(default=None, sa_column=Column(Text))
    created_by: str | None = Field(default=None, max_length=64)
    updated_at: datetime
    version: int = Field(default=1)


# Keyset paging of the Registration list: filter by status, order by any sort key then id.
Index("ix_signuprequest_status_id", col(SignupRequest.status), col(SignupRequest.id))
Index(
    "ix_signuprequest_status_created", col(SignupRequest.status), col(SignupRequest.created_at), col(SignupRequest.id)
)
Index("ix_signuprequest_created_id", col(SignupRequest.created_at), col(SignupRequest.id))
# every other sort of the list, with and without a status filter (migration 0007)
Index("ix_signuprequest_company_id", col(SignupRequest.company), col(SignupRequest.id))
Index("ix_signuprequest_status_company", col(SignupRequest.status), col(SignupRequest.company), col(SignupRequest.id))
Index("ix_signuprequest_email_id", col(SignupRequest.email_normalized), col(SignupRequest.id))
Index(
    "ix_signuprequest_status_email",
    col(SignupRequest.status),
    col(SignupRequest.email_normalized),
    col(SignupRequest.id),
)
Index("ix_signuprequest_name_id", col(SignupRequest.last_name), col(SignupRequest.id))
Index("ix_signuprequest_status_name", col(SignupRequest.status), col(SignupRequest.last_name), col(SignupRequest.id))
# an exact user name in the search box
Index("ix_signuprequest_user_name", col(SignupRequest.user_name))


class RequestType(LabeledEnum):
    CUSTOMER = "Customer"
    VENDOR = "Vendor"
    PROSPECTIVE_VENDOR = "Prospective vendor"
    WORKER = "Worker"


class UserRequestStatus(LabeledEnum):
    """AX UserRequestStatus."""

    DRAFT = "Draft"
    SUBMITTED = "Submitted"
    PENDING_APPROVAL = "Pending approval"
    APPROVED = "Approved"
    PENDING_COMPLETION = "Pending completion"
    COMPLETED = "Completed"
    REJECTED = "Rejected"
    CANCELED = "Canceled"


class UserRequest(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=20, unique=True, index=True)
    request_type: str = Field(default=RequestType.CUSTOMER, max_length=24)
    status: str = Field(default=UserRequestStatus.SUBMITTED, max_length=24, index=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    contact_id: int = Field(foreign_key="contactperson.id")
    role_id: int = Field(foreign_key="portalrole.id")
    signup_request_id: int | None = Field(default=None, foreign_key="signuprequest.id")
    user_name: str = Field(max_length=64)
    email: str = Field(max_length=254)
    created_at: datetime
    created_by: str = Field(max_length=64)
    updated_at: datetime
    version: int = Field(default=1)


Index("ix_userrequest_status_id", col(UserRequest.status), col(UserRequest.id))
# My work's search of user requests: the portal user name or e-mail asked for, case-insensitive
# (migration 0015), found by index instead of reading every request in a running workflow
Index("ix_userrequest_user_name_lower", func.lower(col(UserRequest.user_name)))
Index("ix_userrequest_email_lower", func.lower(col(UserRequest.email)))


# foreign keys between customer and signup tables: each module loads the other (at the end: a cycle)
import models.customer  # noqa: E402,F401
