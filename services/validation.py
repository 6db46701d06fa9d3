"""Pydantic validation errors as the per-field messages regdesk shows (CLI, dialogs, JSON)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

UNKNOWN_FIELD = "unknown field"


def field_errors(
    exc: ValidationError, pattern_hints: dict[str, str] | None = None, unknown: str = UNKNOWN_FIELD
) -> dict[str, str]:
    """``{field: reason}`` for every error; ``pattern_hints`` says what a field's pattern allows."""
    hints = pattern_hints or {}
    errors: dict[str, str] = {}
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else "request"
        kind = err["type"]
        if kind == "extra_forbidden":
            errors[field] = unknown
        elif kind == "missing" or (kind == "string_too_short" and not str(err.get("input", "")).strip()):
            errors[field] = "required"
        elif kind == "string_pattern_mismatch":
            errors[field] = hints.get(field, "has characters that are not allowed")
        elif kind == "string_type":
            errors[field] = "must be text"
        else:
            errors[field] = err["msg"][0].lower() + err["msg"][1:]
    return errors


# ------------------------------------------------------------------ values read exactly

MAX_ID = 2**63 - 1  # the largest id either store can hold (BIGINT / SQLite INTEGER)
_ID = re.compile(r"#?([0-9]{1,19})")


def record_id(value: object) -> int | None:
    """A record id given as text or number, or None when it cannot be one (not ASCII digits,
    zero, or beyond what the store holds): callers answer "no such record", never a crash."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 1 <= value <= MAX_ID else None
    match = _ID.fullmatch(str(value).strip())
    if not match:
        return None
    ident = int(match.group(1))
    return ident if 1 <= ident <= MAX_ID else None


DECIMAL_EXAMPLE = "25000.00"
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?")


def parse_decimal(value: object, *, int_digits: int = 16, decimals: int = 2) -> Decimal:
    """One unambiguous format: ASCII digits, a point as the decimal separator, no grouping, no
    sign, no exponent (``1,50`` is refused, not read as 150). Numbers from JSON are read as written.

    Raises ValueError with the reason and an example; the caller names the field.
    """
    if isinstance(value, bool):
        raise ValueError(f"a number, e.g. {DECIMAL_EXAMPLE}")
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"a number, e.g. {DECIMAL_EXAMPLE}")
        text = repr(value)
        if "e" in text or "E" in text:
            text = format(Decimal(text), "f")
    elif isinstance(value, (int, Decimal)):
        if isinstance(value, int) and abs(value).bit_length() > 128:
            raise ValueError(f"at most {int_digits} digits and {decimals} decimals")
        text = format(Decimal(value), "f") if isinstance(value, Decimal) and value.is_finite() else str(value)
    else:
        text = "" if value is None else str(value).strip()
    if not text:
        return Decimal("0")
    if len(text) > int_digits + decimals + 24:
        raise ValueError(f"at most {int_digits} digits and {decimals} decimals, e.g. {DECIMAL_EXAMPLE}")
    if any(ch.isdigit() and not ("0" <= ch <= "9") for ch in text):
        raise ValueError(f"digits 0-9 only, e.g. {DECIMAL_EXAMPLE}")
    if text.startswith("-") and _DECIMAL.fullmatch(text[1:]):
        raise ValueError("zero or more")
    if not _DECIMAL.fullmatch(text):
        if any(ch in text for ch in ",' _\u00a0\u202f") or text.count(".") > 1:
            raise ValueError(f"a number with a point as decimal separator and no grouping, e.g. {DECIMAL_EXAMPLE}")
        raise ValueError(f"a number, e.g. {DECIMAL_EXAMPLE}")
    number = Decimal(text)
    whole = text.split(".")[0].lstrip("0")
    quantum = Decimal(1).scaleb(-decimals)
    if len(whole) > int_digits or number != number.quantize(quantum):
        raise ValueError(f"at most {int_digits} digits and {decimals} decimals, e.g. {DECIMAL_EXAMPLE}")
    return number.quantize(quantum)


MAX_LOCAL_PART = 64  # RFC 5321 4.5.3.1.1


def email_address(text: str) -> str:
    """A normalized e-mail address, or ValueError with the reason.

    email-validator accepts local parts longer than SMTP allows (RFC 5321: 64); they are refused.
    """
    from email_validator import EmailNotValidError, validate_email

    try:
        address = validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(str(exc)) from None
    local = address.rpartition("@")[0]
    if len(local) > MAX_LOCAL_PART:
        raise ValueError(
            f"the part before the @-sign has {len(local)} characters; at most {MAX_LOCAL_PART} are allowed"
        )
    return address


MAX_JSON_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32


def load_json(
    raw: str | bytes, *, what: str = "file", max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH
) -> Any:
    """Parse untrusted JSON within limits; every problem is a ValidationFailed naming ``what``."""
    import json

    from services.errors import ValidationFailed

    size = len(raw.encode("utf-8") if isinstance(raw, str) else raw)
    if size > max_bytes:
        raise ValidationFailed({what: f"too large ({size} bytes); at most {max_bytes // 1024} KiB"})
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed({what: "not UTF-8 text"}) from None
    depth = deepest = 0
    text = raw
    in_string = escaped = False
    for ch in text:  # nesting depth, counted outside strings, before the parser recurses
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > max_depth:
                raise ValidationFailed({what: f"nested too deeply; at most {max_depth} levels"})
        elif ch in "]}":
            depth -= 1
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValidationFailed({what: f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"}) from None
    except (ValueError, RecursionError) as exc:  # e.g. an integer of thousands of digits
        reason = "a number is too long" if "digits" in str(exc) else f"cannot be read: {exc.__class__.__name__}"
        raise ValidationFailed({what: f"not accepted: {reason}"}) from None
