"""Errors that services raise. Each carries a message fit to show a user as it is."""

from __future__ import annotations


class RegdeskError(Exception):
    """Base of every refusal: bad input, missing permission, wrong state, conflict."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # pragma: no cover - trivial
        return self.message


class ValidationFailed(RegdeskError):
    """Input did not validate. ``errors`` maps each bad field to the reason."""

    exit_code = 2

    def __init__(self, errors: dict[str, str], message: str | None = None) -> None:
        self.errors = dict(errors)
        lines = [f"{field}: {reason}" for field, reason in self.errors.items()]
        super().__init__(message or "invalid input:\n  " + "\n  ".join(lines))


class PermissionDenied(RegdeskError):
    exit_code = 3


class NotFound(RegdeskError):
    exit_code = 4


class InvalidTransition(RegdeskError):
    """The record is not in a state that allows the action; the message says why."""

    exit_code = 5


class Conflict(RegdeskError):
    """Somebody else changed the record first (e.g. another approver)."""

    exit_code = 6


class UnknownOperator(RegdeskError):
    exit_code = 3


class SchemaOutOfDate(RegdeskError):
    exit_code = 7


class DatabaseUnavailable(RegdeskError):
    """No database where one was named, or it stayed busy/unreachable beyond the store's retries."""

    exit_code = 8


class SchemaTooNew(RegdeskError):
    """The database was upgraded by a newer regdesk: this program must not touch it."""

    exit_code = 11
