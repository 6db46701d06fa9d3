"""The console's first view without the heavy stack: plain sqlite3, standard library only.

Importing SQLModel, SQLAlchemy, pydantic and every table costs more than the rest of the
console's start. On a current SQLite file the Registration list's first page, its counts
and the acting operator are read here with three small queries, so the console can paint
at once while the real ``Store`` is built in the background.

``light_start`` answers only when it is sure to give what the services would give; in
every other case (PostgreSQL, a missing file, a schema that needs an upgrade, an unknown,
disabled or unauthorised operator, any database error) it returns ``None`` and the caller
takes the normal path, which upgrades the file or raises the proper refusal.

The package: ``connect`` (the snapshot: sqlite3 or ``pg``, libpq through ctypes), ``identity``
(the acting operator), ``registration`` (first view, request page and detail), ``customers``.

Keep it in step with ``services.signup.list_requests`` / ``count_by_status`` (default view:
status All, no search, sort by number ascending) and ``services.operators.resolve_actor``;
tests/test_quick_start.py compares them field by field.
"""

from services.quick.connect import BUSY_TIMEOUT_MS, light_read, sqlite_path
from services.quick.customers import PROPOSAL_STATUS, LightCustomerRow, customer_rows
from services.quick.pg import postgres_conninfo
from services.quick.registration import (
    AUDIT_COLUMNS,
    DETAIL_COLUMNS,
    MAX_LIMIT,
    OPEN_REQUEST_STATUSES,
    REQUEST_ACTIONS,
    REQUEST_SORTS,
    SIGNUP_STATUSES,
    LightPage,
    LightRow,
    LightStart,
    LightView,
    light_start,
    request_detail,
    request_page,
)

__all__ = [
    "AUDIT_COLUMNS",
    "BUSY_TIMEOUT_MS",
    "DETAIL_COLUMNS",
    "MAX_LIMIT",
    "OPEN_REQUEST_STATUSES",
    "PROPOSAL_STATUS",
    "REQUEST_ACTIONS",
    "REQUEST_SORTS",
    "SIGNUP_STATUSES",
    "LightCustomerRow",
    "LightPage",
    "LightRow",
    "LightStart",
    "LightView",
    "customer_rows",
    "light_read",
    "light_start",
    "postgres_conninfo",
    "request_detail",
    "request_page",
    "sqlite_path",
]
