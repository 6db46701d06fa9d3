"""Tables shared by every process: operators, sequences, parameters, tokens, audit, outbox."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from models.base import LabeledEnum


class Role(LabeledEnum):
    SUPPORT = "support"
    APPROVER = "approver"
    ADMIN = "admin"


class Profile(LabeledEnum):
    """CRM profile of an operator (seed 002)."""

    SALES = "Sales"
    CUSTOMER_SERVICE = "Customer Service"
    SUPPLY_CHAIN = "Supply Chain & Production"


class Operator(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    user_name: str = Field(max_length=64, unique=True, index=True)
    display_name: str = Field(max_length=120)
    email: str | None = Field(default=None, max_length=254)
    # space-separated Role values; a handful per operator, read with every action
    roles: str = Field(default="", max_length=200)
    profile: str | None = Field(default=None, max_length=40)
    sales_rep: bool = Field(default=False)
    active: bool = Field(default=True)
    created_at: datetime
    version: int = Field(default=1)


class NumberSequence(SQLModel, table=True):
    """Gap-free counter: the next number is taken in the transaction that stores the record."""

    code: str = Field(primary_key=True, max_length=40)
    prefix: str = Field(default="", max_length=20)
    width: int = Field(default=6)
    next_value: int = Field(default=1)
    description: str = Field(default="", max_length=200)


class Parameter(SQLModel, table=True):
    """One setting (self-service, workflow, customer approval...), its value as JSON text."""

    key: str = Field(primary_key=True, max_length=80)
    value: str = Field(sa_column=Column(Text, nullable=False))
    updated_at: datetime
    updated_by: str | None = Field(default=None, max_length=64)


class Token(SQLModel, table=True):
    """A single-use secret sent by e-mail. Only its SHA-256 is stored."""

    id: int | None = Field(default=None, primary_key=True)
    purpose: str = Field(max_length=40, index=True)
    entity_type: str = Field(max_length=40)
    entity_key: str = Field(max_length=64, index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created_at: datetime
    expires_at: datetime
    used_at: datetime | None = None
    voided_at: datetime | None = None


class AuditEvent(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(index=True)
    operator: str = Field(max_length=64)
    entity_type: str = Field(max_length=40)
    entity_key: str = Field(max_length=64)
    action: str = Field(max_length=60)
    before: str | None = Field(default=None, sa_column=Column(Text))  # JSON object
    after: str | None = Field(default=None, sa_column=Column(Text))  # JSON object
    comment: str | None = Field(default=None, sa_column=Column(Text))

    __table_args__ = (
        # history of one record is read by (type, key) in time order
        Index("ix_auditevent_entity", "entity_type", "entity_key", "id"),
        # ``audit list --entity KEY`` knows the key, not the type
        Index("ix_auditevent_entity_key", "entity_key", "id"),
    )


class StatusCount(SQLModel, table=True):
    """How many rows of an area (``signup``, ``case``...) are in each status, kept not recounted.

    Database triggers (migration 0007) add and subtract in the transaction that inserts,
    deletes or moves a row, so reading the counts is one small index read;
    ``regdesk db check-counters`` recounts and repairs them.
    """

    area: str = Field(primary_key=True, max_length=40)
    status: str = Field(primary_key=True, max_length=40)
    n: int = Field(default=0)


class OutboxStatus(LabeledEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"


class OutboxEmail(SQLModel, table=True):
    """An e-mail written in the same transaction as the state change that causes it."""

    id: int | None = Field(default=None, primary_key=True)
    created_at: datetime
    recipient: str = Field(max_length=254)
    subject: str = Field(max_length=300)
    body: str = Field(sa_column=Column(Text, nullable=False))
    template: str = Field(max_length=60)
    entity_type: str = Field(default="", max_length=40)
    entity_key: str = Field(default="", max_length=64)
    status: str = Field(default=OutboxStatus.PENDING, max_length=12, index=True)
    message_id: str = Field(max_length=200, unique=True)
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    sent_at: datetime | None = None
    # secrets (tokens) embedded in the body, scrubbed once delivered
    secrets_scrubbed: bool = Field(default=False)
    # a sender's claim on the row while it sends (services/delivery.py): due again after lease_until
    lease_id: str | None = Field(default=None, max_length=32)
    lease_until: datetime | None = None
