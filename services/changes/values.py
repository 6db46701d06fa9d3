"""Customer field values as proposal lines hold them: one canonical JSON form, and back."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from services import customers, params
from services.errors import ValidationFailed
from services.text import clean

APPROVAL_FIELDS: tuple[str, ...] = tuple(name for name, _ in params.CUSTOMER_APPROVAL_FIELDS)
FIELD_LABELS: dict[str, str] = dict(params.CUSTOMER_APPROVAL_FIELDS)


def plain_value(field: str, value: Any) -> Any:
    """A customer field's value as JSON data of one canonical form (for lines and comparisons)."""
    kind = customers.FIELDS[field].kind
    if kind == "decimal":
        return str(Decimal(str(value if value is not None else "0")).quantize(Decimal("0.01")))
    if kind == "bool":
        return bool(value)
    if kind == "int":
        return int(value or 0)
    return "" if value is None else str(value)


def encode(field: str, value: Any) -> str:
    return json.dumps(plain_value(field, value), ensure_ascii=False)


def decode(field: str, raw: str) -> Any:
    """A stored line value back to the customer's column type."""
    return customers._coerce(customers.FIELDS[field], json.loads(raw))


def display(field: str, value: Any) -> str:
    """A value as people read it (text; the UI renders it as data)."""
    plain = plain_value(field, value)
    if isinstance(plain, bool):
        return "Yes" if plain else "No"
    return str(plain)


def display_raw(field: str, raw: str | None) -> str:
    """A stored line value as people read it ("" for none)."""
    return "" if raw is None else display(field, json.loads(raw))


def field_error(field: str, raw: Any) -> str | None:
    """Why ``raw`` is not a valid value of ``field`` (no database checks), or None: for inline form validation."""
    spec = customers.FIELDS.get(field)
    if spec is None:
        return "unknown customer field"
    try:
        customers._coerce(spec, raw)
    except ValueError as exc:
        return str(exc)
    return None


def parse_field(name: str) -> str:
    """A field given as credit_limit, credit-limit or "Credit limit" to its name."""
    key = clean(name).lower().replace("-", "_").replace(" ", "_")
    if key in customers.FIELDS:
        return key
    for field, spec in customers.FIELDS.items():
        if spec.label.lower().replace(" ", "_") == key:
            return field
    raise ValidationFailed({"field": f"no customer field {name!r} (fields: {', '.join(customers.FIELDS)})"})
