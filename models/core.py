"""Tables shared by every process: operators, sequences, parameters, tokens, audit, outbox."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import BigInteger, Column, Index, String, Text
from sqlmodel import Field, SQLModel

from models.base import LabeledEnum

if TYPE_CHECKING:
    from sqlalchemy.engine.default import DefaultExecutionContext


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
    """A number sequence. Continuous (gap-free): the next number is taken as the last step of
    the transaction that stores the record, and a rollback gives it back. Not continuous: it is
    taken in its own tiny transaction (PostgreSQL), so nobody waits for another's record, and a
    rolled-back record leaves a gap (services/sequences.py)."""

    code: str = Field(primary_key=True, max_length=40)
    prefix: str = Field(default="", max_length=20)
    width: int = Field(default=6)
    next_value: int = Field(default=1)
    description: str = Field(default="", max_length=200)
    continuous: bool = Field(default=True)


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


def _login_default(context: DefaultExecutionContext) -> str | None:
    from services.identity import login_default

    return login_default(context)


def _reason_default(context: DefaultExecutionContext) -> str | None:
    from services.identity import current_reason

    return current_reason.get()


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
    # who was connected (issue 11): the database login on PostgreSQL (set by a trigger from
    # session_user, whatever the client sends), the OS login on SQLite; NULL before 0009
    db_login: str | None = Field(default=None, sa_column=Column(String(128), default=_login_default))
    # the reason an admin OS login gave to act as another operator on a non-demo SQLite file
    acting_reason: str | None = Field(default=None, sa_column=Column(Text, default=_reason_default))
    # PostgreSQL: the top-level transaction that wrote the row (set by the same trigger); a status
    # changed by an operator login must have an audit row of its own transaction
    db_xact: int | None = Field(default=None, sa_column=Column(BigInteger))

    __table_args__ = (
        # history of one record is read by (type, key) in time order
        Index("ix_auditevent_entity", "entity_type", "entity_key", "id"),
        # ``audit list --entity KEY`` knows the key, not the type
        Index("ix_auditevent_entity_key", "entity_key", "id"),
    )


class StatusCount(SQLModel, table=True):
    """How many rows of an area (``signup``, ``case``...) are in each status, kept not recounted.

    Database triggers (migrations 0007, 0012) add and subtract in the transaction that inserts,
    deletes or moves a row, so reading the counts is one small index read;
    ``regdesk db check-counters`` recounts and repairs them.

    A count is the sum of its *slots* (0012): on PostgreSQL each transaction adds to a slot no
    other open transaction holds, so concurrent writers never queue on one counter row; SQLite
    uses slot 0 only. Slots may hold negative numbers; only the sum means anything.
    """

    area: str = Field(primary_key=True, max_length=40)
    status: str = Field(primary_key=True, max_length=40)
    slot: int = Field(default=0, primary_key=True, sa_column_kwargs={"server_default": "0", "autoincrement": False})
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


class StoreFlag(SQLModel, table=True):
    """Facts about the database itself: ``demo`` = created by ``regdesk demo`` (issue 11)."""

    name: str = Field(primary_key=True, max_length=40)
    value: str = Field(default="", max_length=200)
    set_at: datetime
