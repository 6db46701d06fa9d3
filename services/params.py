"""Parameters (self-service, workflow, customer approval, mail...): declared here, stored as JSON.

Every parameter is declared once with its type, default and meaning; reading one that was
never set gives the default, and setting one validates it and writes an audit event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import BaseModel
from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from models.core import Parameter
from services import audit
from services.errors import NotFound, ValidationFailed
from services.permissions import Actor, require
from services.store import begin_write, now, writes


@dataclass(frozen=True)
class ParamSpec:
    key: str
    default: Any
    kind: type  # bool, int, str
    description: str
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[str, ...] | None = None
    # checks a coerced value against the data (e.g. "is there such a template?"): the value to
    # store (canonical spelling), or ValueError with the reason
    check: Callable[[Session, Any], Any] | None = None


SPECS: dict[str, ParamSpec] = {}


def declare(spec: ParamSpec) -> ParamSpec:
    SPECS[spec.key] = spec
    return spec


# Customer self-service parameters (AX: Customer self-service parameters form)
declare(
    ParamSpec("signup.verification_ttl_hours", 72, int, "Hours a sign-up verification link stays valid", 1, 24 * 90)
)
declare(ParamSpec("portal.url", "https://portal.example.com", str, "Address of the customer self-service portal"))
declare(ParamSpec("portal.activation_ttl_hours", 72, int, "Hours a portal activation link stays valid", 1, 24 * 90))
declare(ParamSpec("mail.from", "regdesk <no-reply@example.com>", str, "Sender of every e-mail"))
declare(
    ParamSpec(
        "mail.max_attempts", 8, int, "Delivery attempts an e-mail the server refuses gets before it is dead", 1, 100
    )
)
declare(ParamSpec("company.name", "Contoso Entertainment", str, "Our company's name in e-mails"))


def _known_template(session: Session, value: str) -> str:
    if not value:
        return ""
    from services import customers
    from services.errors import NotFound as _NotFound

    try:
        return customers.get_template(session, value).name
    except _NotFound as exc:
        raise ValueError(exc.message) from None


def _known_role(session: Session, value: str) -> str:
    if not value:
        return ""
    from services import customers
    from services.errors import NotFound as _NotFound

    try:
        return customers.get_role(session, value).name
    except _NotFound as exc:
        raise ValueError(exc.message) from None


# Create new customer defaults (issue 8): what the Create dialog and 'requests create' preselect
declare(
    ParamSpec(
        "signup.default_template",
        "",
        str,
        "Customer account template used to create a customer when none is chosen (empty: none)",
        check=_known_template,
    )
)
declare(
    ParamSpec(
        "signup.default_role",
        "",
        str,
        "Portal user role a new portal user gets when none is chosen (empty: the operator must choose)",
        check=_known_role,
    )
)
# Workflow (issue 3)
declare(ParamSpec("workflow.disallow_submitter_approval", True, bool, "Refuse approval of a document by its submitter"))
# Four eyes on sign-ups (issue 11): the staff submitter never approves or creates; this adds
# that the approver does not create either
declare(
    ParamSpec(
        "signup.create_needs_second_person",
        False,
        bool,
        "Creating the customer needs an operator other than the one who approved the sign-up request",
    )
)
# Customer approval (issue 4; D365 Accounts receivable parameters > Customer approval)
CUSTOMER_APPROVAL_FIELDS: tuple[tuple[str, str], ...] = (
    ("name", "Name"),
    ("credit_limit", "Credit limit"),
    ("tax_group", "Tax group"),
    ("method_of_payment", "Method of payment"),
    ("payment_specification", "Payment specification"),
    ("customer_group", "Customer group"),
    ("tax_exempt_number", "Tax exempt number"),
    ("bank_account", "Bank account"),
    ("cash_discount", "Cash discount"),
    ("credit_rating", "Credit rating"),
    ("terms_of_payment", "Terms of payment"),
    ("mandatory_credit_limit", "Mandatory credit limit"),
    ("cash_discount_base_days", "Cash discount base days"),
    ("exclude_interest_charges", "Exclude interest charges"),
    ("exclude_collection_fees", "Exclude collection fees"),
    ("invoice_account", "Invoice account"),
)
declare(ParamSpec("customer_approval.enabled", False, bool, "Enable customer approvals"))
declare(
    ParamSpec(
        "customer_approval.entity_behavior",
        "propose",
        str,
        "Data entity behavior of imports: allow (changes without approval), reject (changes), "
        "propose (create change proposals)",
        choices=("allow", "reject", "propose"),
    )
)
for _field, _label in CUSTOMER_APPROVAL_FIELDS:
    declare(ParamSpec(f"customer_approval.field.{_field}", False, bool, f"{_label}: changes need approval"))


def _coerce(spec: ParamSpec, value: Any) -> Any:
    if spec.kind is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in {"1", "true", "yes", "on", "y"}:
            return True
        if text in {"0", "false", "no", "off", "n"}:
            return False
        raise ValueError("expected on/off (yes/no, true/false)")
    if spec.kind is int:
        if isinstance(value, bool):
            raise ValueError("expected a whole number")
        number = int(str(value).strip())
        if spec.minimum is not None and number < spec.minimum:
            raise ValueError(f"at least {spec.minimum}")
        if spec.maximum is not None and number > spec.maximum:
            raise ValueError(f"at most {spec.maximum}")
        return number
    text = str(value).strip()
    if spec.choices is not None and text not in spec.choices:
        raise ValueError("one of: " + ", ".join(spec.choices))
    if len(text) > 2000:
        raise ValueError("at most 2000 characters")
    return text


def spec_of(key: str) -> ParamSpec:
    try:
        return SPECS[key]
    except KeyError:
        raise NotFound(f"no parameter {key!r}") from None


def get(session: Session, key: str) -> Any:
    spec = spec_of(key)
    row = session.get(Parameter, key)
    return spec.default if row is None else json.loads(row.value)


# the stored values of the named keys (primary key probes), without loading Parameter objects;
# built once: a customer edit reads the approval settings with every save
_VALUES_OF = select(col(Parameter.key), col(Parameter.value)).where(
    col(Parameter.key).in_(bindparam("keys", expanding=True))
)


def get_many(session: Session, prefix: str = "") -> dict[str, Any]:
    """Every known parameter whose key starts with ``prefix``: its stored value, else its default.
    Reads those keys' rows only (not the whole table)."""
    values = {k: s.default for k, s in SPECS.items() if k.startswith(prefix)}
    if not values:
        return values
    for key, value in session.connection().execute(_VALUES_OF, {"keys": list(values)}):
        values[key] = json.loads(value)
    return values


def checked_value(session: Session, actor: Actor, key: str, value: Any, *, permission: str = "admin.parameters") -> Any:
    """The refusals of ``set_value`` (permission, unknown key, bad value), reads only; the value to store."""
    require(actor, permission)
    spec = spec_of(key)
    try:
        coerced = _coerce(spec, value)
        if spec.check is not None:
            coerced = spec.check(session, coerced)
    except (TypeError, ValueError) as exc:
        raise ValidationFailed({key: str(exc)}) from None
    return coerced


def set_value(session: Session, actor: Actor, key: str, value: Any, *, permission: str = "admin.parameters") -> Any:
    coerced = checked_value(session, actor, key, value, permission=permission)
    before = get(session, key)
    row = session.get(Parameter, key) or Parameter(key=key, value="null", updated_at=now(session))
    row.value = json.dumps(coerced)
    row.updated_at = now(session)
    row.updated_by = actor.user_name
    session.add(row)
    if before != coerced:
        audit.record(session, actor, "parameter", key, "set", before={"value": before}, after={"value": coerced})
    return coerced


class ParamView(BaseModel):
    key: str
    value: Any
    default: Any
    description: str


def list_params(session: Session, actor: Actor, prefix: str = "") -> list[ParamView]:
    """Every declared parameter (but e-mail texts: see mail templates) with its current value."""
    require(actor, "signup.view")
    values = get_many(session, prefix)
    return [
        ParamView(key=k, value=values[k], default=SPECS[k].default, description=SPECS[k].description)
        for k in sorted(values)
    ]


@writes(phased=True)
def set_param(session: Session, actor: Actor, key: str, value: Any) -> ParamView:
    """Set one declared parameter (admins; validated and audited). Phased: refusals read only."""
    checked_value(session, actor, key.strip(), value)
    begin_write(session)
    coerced = set_value(session, actor, key.strip(), value)
    spec = SPECS[key.strip()]
    return ParamView(key=spec.key, value=coerced, default=spec.default, description=spec.description)
