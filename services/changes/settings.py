"""Which customer fields need approval, and what imports do with changes (``customer_approval.*``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlmodel import Session

from services import params
from services.changes.values import APPROVAL_FIELDS, FIELD_LABELS, parse_field
from services.errors import ValidationFailed
from services.permissions import Actor, require
from services.store import writes
from services.text import clean

BEHAVIORS: dict[str, str] = {
    "allow": "Allow changes without approval",
    "reject": "Reject changes",
    "propose": "Create change proposals",
}


class ApprovalField(BaseModel):
    name: str
    label: str
    enabled: bool


class ApprovalSettings(BaseModel):
    enabled: bool
    entity_behavior: str
    entity_behavior_label: str
    fields: list[ApprovalField]


def enabled_fields(session: Session) -> frozenset[str]:
    """The fields whose changes need approval now (none while approvals are off)."""
    values = params.get_many(session, "customer_approval.")
    if not values["customer_approval.enabled"]:
        return frozenset()
    return frozenset(f for f in APPROVAL_FIELDS if values[f"customer_approval.field.{f}"])


def entity_behavior(session: Session) -> str:
    return str(params.get(session, "customer_approval.entity_behavior"))


def _settings(session: Session) -> ApprovalSettings:
    values = params.get_many(session, "customer_approval.")
    behavior = values["customer_approval.entity_behavior"]
    return ApprovalSettings(
        enabled=values["customer_approval.enabled"],
        entity_behavior=behavior,
        entity_behavior_label=BEHAVIORS.get(behavior, behavior),
        fields=[
            ApprovalField(name=f, label=FIELD_LABELS[f], enabled=values[f"customer_approval.field.{f}"])
            for f in APPROVAL_FIELDS
        ],
    )


def approval_settings(session: Session, actor: Actor) -> ApprovalSettings:
    require(actor, "changes.view")
    return _settings(session)


def parse_behavior(value: str) -> str:
    text = clean(value).lower()
    for key, label in BEHAVIORS.items():
        if text in (key, label.lower()) or (key == "propose" and text in ("proposals", "create")):
            return key
    raise ValidationFailed(
        {
            "entity_behavior": "one of: allow (Allow changes without approval), reject (Reject changes), "
            "propose (Create change proposals)"
        }
    )


@writes
def set_approvals(session: Session, actor: Actor, enabled: Any) -> ApprovalSettings:
    """Enable customer approvals: on / off (admins)."""
    params.set_value(session, actor, "customer_approval.enabled", enabled)
    return _settings(session)


@writes
def set_entity_behavior(session: Session, actor: Actor, behavior: str) -> ApprovalSettings:
    """Data entity behavior of imports: allow / reject / propose (admins)."""
    require(actor, "admin.parameters")
    params.set_value(session, actor, "customer_approval.entity_behavior", parse_behavior(behavior))
    return _settings(session)


@writes
def set_field_approval(session: Session, actor: Actor, field: str, enabled: Any) -> ApprovalSettings:
    """The Enable check box of one customer field (admins)."""
    require(actor, "admin.parameters")
    name = parse_field(field)
    if name not in APPROVAL_FIELDS:
        raise ValidationFailed({"field": f"{name} cannot need approval (fields: {', '.join(APPROVAL_FIELDS)})"})
    params.set_value(session, actor, f"customer_approval.field.{name}", enabled)
    return _settings(session)
