"""Portal users: the logons the user request process provisions for customer contacts."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

import models.customer  # noqa: F401  (foreign keys: loads the tables they point to)
from models.base import LabeledEnum

__all__ = ["PortalUser", "PortalUserStatus"]


class PortalUserStatus(LabeledEnum):
    PENDING_ACTIVATION = "Pending activation"
    ACTIVE = "Active"
    DISABLED = "Disabled"


class PortalUser(SQLModel, table=True):
    """A customer portal logon. The password exists only as an Argon2id hash, set at activation."""

    id: int | None = Field(default=None, primary_key=True)
    user_name: str = Field(max_length=64, unique=True, index=True)
    # lower-cased user name: "ALee" and "alee" are one logon
    user_name_key: str = Field(max_length=64, unique=True)
    email: str = Field(max_length=254)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    contact_id: int = Field(foreign_key="contactperson.id")
    role_id: int = Field(foreign_key="portalrole.id")
    user_request_id: int | None = Field(default=None, foreign_key="userrequest.id", unique=True)
    status: str = Field(default=PortalUserStatus.PENDING_ACTIVATION, max_length=24, index=True)
    password_hash: str | None = Field(default=None, max_length=255)
    created_at: datetime
    created_by: str = Field(max_length=64)
    activated_at: datetime | None = None
    disabled_at: datetime | None = None
    disabled_by: str | None = Field(default=None, max_length=64)
    version: int = Field(default=1)
