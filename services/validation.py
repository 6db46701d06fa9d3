"""Pydantic validation errors as the per-field messages regdesk shows (CLI, dialogs, JSON)."""

from __future__ import annotations

from pydantic import ValidationError

UNKNOWN_FIELD = "unknown field"


def field_errors(exc: ValidationError, pattern_hints: dict[str, str] | None = None,
                 unknown: str = UNKNOWN_FIELD) -> dict[str, str]:
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
