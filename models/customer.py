"""Customer master data: customers, contact persons, account templates, portal roles."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Column, Index, Numeric, Text
from sqlmodel import Field, SQLModel, col

from models.base import LabeledEnum


class PartyType(LabeledEnum):
    ORGANIZATION = "Organization"
    PERSON = "Person"


class Customer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(max_length=20, unique=True, index=True)
    name: str = Field(max_length=200)
    name_normalized: str = Field(max_length=200, index=True)
    party_type: str = Field(default=PartyType.ORGANIZATION, max_length=20)
    customer_group: str = Field(default="", max_length=20)
    currency: str = Field(default="USD", max_length=3)
    terms_of_payment: str = Field(default="", max_length=20)
    method_of_payment: str = Field(default="", max_length=20)
    payment_specification: str = Field(default="", max_length=20)
    credit_limit: Decimal = Field(default=Decimal("0"), sa_column=Column(Numeric(18, 2), nullable=False))
    mandatory_credit_limit: bool = Field(default=False)
    tax_group: str = Field(default="", max_length=20)
    tax_exempt_number: str = Field(default="", max_length=40)
    bank_account: str = Field(default="", max_length=40)
    cash_discount: str = Field(default="", max_length=20)
    cash_discount_base_days: int = Field(default=0)
    credit_rating: str = Field(default="", max_length=20)
    exclude_interest_charges: bool = Field(default=False)
    exclude_collection_fees: bool = Field(default=False)
    invoice_account: str = Field(default="", max_length=20)
    email: str = Field(default="", max_length=254)
    email_normalized: str = Field(default="", max_length=254, index=True)
    phone: str = Field(default="", max_length=40)
    street: str = Field(default="", max_length=200)
    city: str = Field(default="", max_length=80)
    zip: str = Field(default="", max_length=20)
    state: str = Field(default="", max_length=40)
    county: str = Field(default="", max_length=40)
    country: str = Field(default="", max_length=3)
    language: str = Field(default="en-us", max_length=10)
    parent_account: str = Field(default="", max_length=20)
    blocked: bool = Field(default=False)
    created_at: datetime
    created_by: str = Field(default="", max_length=64)
    version: int = Field(default=1)


class ContactPerson(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    customer_id: int = Field(foreign_key="customer.id", index=True)
    first_name: str = Field(max_length=80)
    last_name: str = Field(max_length=80)
    email: str = Field(max_length=254)
    email_normalized: str = Field(max_length=254, index=True)
    phone: str = Field(default="", max_length=40)
    is_admin: bool = Field(default=False)
    signup_request_id: int | None = Field(default=None, foreign_key="signuprequest.id")
    created_at: datetime


class CustomerTemplate(SQLModel, table=True):
    """A named set of customer field values copied into a new customer (AX account template)."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=40, unique=True)
    description: str = Field(default="", max_length=200)
    values_json: str = Field(sa_column=Column(Text, nullable=False))
    active: bool = Field(default=True)


class PortalRole(SQLModel, table=True):
    """The security role a portal user gets."""

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=60, unique=True)
    description: str = Field(default="", max_length=200)
    active: bool = Field(default=True)


Index("ix_customer_name_id", col(Customer.name), col(Customer.id))


# foreign keys between customer and signup tables: each module loads the other (at the end: a cycle)
import models.signup  # noqa: E402,F401
