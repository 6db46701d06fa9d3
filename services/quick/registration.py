"""The Registration list's first view, ``requests list`` pages and a request's detail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from services.permissions import Actor

if TYPE_CHECKING:
    pass

from services.quick.connect import light_read

# models.signup.SignupStatus values, in its order (a test checks they agree)
SIGNUP_STATUSES = ("Requested", "Verified by user", "Approved", "Created", "Rejected")
MAX_LIMIT = 5000  # as list_requests


@dataclass(frozen=True)
class LightRow:
    """The attributes of ``services.signup.RequestRow``."""

    id: int
    number: str
    created_at: datetime
    status: str
    company: str
    contact: str
    email: str
    user_name: str
    country: str


@dataclass(frozen=True)
class LightPage:
    """Like ``services.signup.RequestPage``: the rows and the keyset cursor of the next page."""

    rows: tuple[LightRow, ...]
    after: tuple[Any, int] | None


@dataclass(frozen=True)
class LightView:
    """What the Registration screen shows first: the default page and the counts."""

    page: LightPage
    counts: dict[str, int]


@dataclass(frozen=True)
class LightStart:
    actor: Actor
    view: LightView


def light_start(url: str, operator: str | None, *, limit: int) -> LightStart | None:
    """The acting operator and the Registration list's first view, or None (take the normal path)."""
    return light_read(url, operator, lambda conn, actor: _first_view(conn, actor, limit))


def _first_view(conn: Any, actor: Actor, limit: int) -> LightStart | None:
    if not actor.can("signup.view"):
        return None
    return LightStart(actor=actor, view=LightView(page=_first_page(conn, limit), counts=_counts(conn)))


def _utc(value: Any) -> datetime:
    """A stored timestamp as SQLModel's UTCDateTime returns it (aware, UTC)."""
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value))
    if moment.utcoffset() is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _light_rows(raw: list[Any]) -> tuple[LightRow, ...]:
    """Rows of ``SELECT id, number, created_at, status, company, first_name, last_name, email,
    user_name, country`` as ``RequestRow``s."""
    return tuple(
        LightRow(
            id=r[0],
            number=r[1],
            created_at=_utc(r[2]),
            status=r[3],
            company=r[4],
            contact=f"{r[5]} {r[6]}",
            email=r[7],
            user_name=r[8],
            country=r[9],
        )
        for r in raw
    )


def _first_page(conn: Any, limit: int) -> LightPage:
    """``list_requests`` with its defaults: every status, no search, by number (= id) ascending."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    raw = conn.execute(
        "SELECT id, number, created_at, status, company, first_name, last_name, email, user_name, country "
        "FROM signuprequest ORDER BY id ASC LIMIT ?",
        (limit + 1,),
    ).fetchall()
    rows = _light_rows(raw[:limit])
    after = None
    if len(raw) > limit:
        last_id = raw[limit - 1][0]
        after = (last_id, last_id)
    return LightPage(rows=rows, after=after)


def _counts(conn: Any) -> dict[str, int]:
    """``count_by_status`` without a search: the kept counters (``services.counters.by_status``),
    each the sum of its slots (migration 0012)."""
    kept = {
        status: int(n)
        for status, n in conn.execute(
            "SELECT status, sum(n) FROM statuscount WHERE area = 'signup' GROUP BY status", ()
        ).fetchall()
        if n
    }
    return {"All": sum(kept.values()), **{status: kept.get(status, 0) for status in SIGNUP_STATUSES}}


# ----------------------------------------------------------------------------- CLI read commands

# ``regdesk requests list`` and ``customers list`` without a search (app/cli/light.py): the same
# queries as ``services.signup.list_requests`` / ``services.customers.list_customers``; the
# tests in tests/test_cli_light.py compare the printed output of both paths byte for byte.

# services.signup.SORTS: sort name -> column (number: the id, numbers follow it)
REQUEST_SORTS = {
    "number": "id",
    "created": "created_at",
    "company": "company",
    "status": "status",
    "email": "email_normalized",
    "name": "last_name",
}


def request_page(
    conn: Any, actor: Actor, *, status: str | None, sort: str, descending: bool, limit: int
) -> LightPage | None:
    """``list_requests(status=, sort=, descending=, limit=)`` without a search or cursor; None
    where the services would refuse (permission, unknown status or sort)."""
    if not actor.can("signup.view") or sort not in REQUEST_SORTS:
        return None
    if status not in (None, "All", *SIGNUP_STATUSES):
        return None  # SignupStatus.parse's other spellings or a refusal: the normal path
    limit = max(1, min(int(limit), MAX_LIMIT))
    one_status = status not in (None, "All")
    sort_col = None if sort == "number" or (sort == "status" and one_status) else REQUEST_SORTS[sort]
    direction = "DESC" if descending else "ASC"
    order = f"{sort_col} {direction}, id {direction}" if sort_col else f"id {direction}"
    where = "WHERE status = ? " if one_status else ""
    raw = conn.execute(
        "SELECT id, number, created_at, status, company, first_name, last_name, email, user_name, country"
        + (f", {sort_col}" if sort_col else "")
        + f" FROM signuprequest {where}ORDER BY {order} LIMIT ?",
        ((status,) if one_status else ()) + (limit + 1,),
    ).fetchall()
    rows = _light_rows(raw[:limit])
    after = None
    if len(raw) > limit:
        last = raw[limit - 1]
        after = ((last[10] if sort_col else last[0]), last[0])
    return LightPage(rows=rows, after=after)


# services.signup.RequestDetail's fields read from the request row, in its order
DETAIL_COLUMNS = (
    "number",
    "created_at",
    "status",
    "user_name",
    "email",
    "company",
    "first_name",
    "last_name",
    "phone",
    "fax",
    "street",
    "city",
    "zip",
    "state",
    "county",
    "country",
    "language",
    "customer_account",
    "customer_created",
    "created_customer_account",
    "submitted_by",
    "verified_at",
    "approved_by",
    "approved_at",
    "rejected_by",
    "rejected_at",
    "reject_reason",
)
_DETAIL_TIMES = {"created_at", "verified_at", "approved_at", "rejected_at"}
# services.signup.TRANSITIONS an operator may take (not the portal's verify): name, permission, from
REQUEST_ACTIONS = (
    ("resend", "signup.resend", ("Requested",)),
    ("approve", "signup.approve", ("Verified by user",)),
    ("reject", "signup.reject", ("Requested", "Verified by user", "Approved")),
    ("create", "signup.create", ("Approved",)),
)
OPEN_REQUEST_STATUSES = ("Requested", "Verified by user", "Approved")
AUDIT_COLUMNS = (
    "id",
    "at",
    "operator",
    "entity_type",
    "entity_key",
    "action",
    "before",
    "after",
    "comment",
    "db_login",
    "acting_reason",
)


def request_detail(conn: Any, actor: Actor, number: str) -> dict[str, Any] | None:
    """``show_request(number)`` as the dict ``RequestDetail.model_dump()`` gives (field order kept);
    None where the services would refuse (permission, no such request)."""
    import json

    from services.text import clean

    if not actor.can("signup.view"):
        return None
    # every column, as the ORM reads the row (the same plan); the named ones first
    names = ("id", "email_normalized", "company_normalized", "version", *DETAIL_COLUMNS)
    row = conn.execute(
        f"SELECT {', '.join(names)}, signuprequest.* FROM signuprequest WHERE number = ?", (clean(number).upper(),)
    ).fetchone()
    if row is None:
        return None
    req = dict(zip(names, row))
    for name in _DETAIL_TIMES:
        if req[name] is not None:
            req[name] = _utc(req[name])
    req["customer_created"] = bool(req["customer_created"])
    ur = conn.execute(
        "SELECT number, userrequest.* FROM userrequest WHERE signup_request_id = ?", (req["id"],)
    ).fetchone()
    history = []
    for event in conn.execute(
        f"SELECT {', '.join(AUDIT_COLUMNS)}, auditevent.* FROM auditevent "
        "WHERE entity_type = ? AND entity_key = ? ORDER BY id ASC",
        ("signup", req["number"]),
    ).fetchall():
        view = dict(zip(AUDIT_COLUMNS, event))
        view["at"] = _utc(view["at"])
        view["id"] = view["id"] or 0
        view["before"] = json.loads(view["before"]) if view["before"] else None
        view["after"] = json.loads(view["after"]) if view["after"] else None
        history.append(view)
    return {
        **{name: req[name] for name in DETAIL_COLUMNS},
        "user_request": ur[0] if ur else None,
        "version": req["version"],
        "duplicates": _duplicates(conn, req),
        "history": history,
        "actions": [
            name for name, permission, sources in REQUEST_ACTIONS if req["status"] in sources and actor.can(permission)
        ],
    }


def _duplicates(conn: Any, req: dict[str, Any], limit: int = 20) -> list[dict[str, str]]:
    """``services.signup.find_duplicates``: the same three searches (the same plans, the hints in the
    same order), sent one by one (SQLite in-process: no round trip to save)."""
    hints: list[dict[str, str]] = []
    email = req["email_normalized"]
    marks = ", ".join("?" * len(OPEN_REQUEST_STATUSES))
    for number, company, status, *_ in conn.execute(
        f"SELECT number, company, status, signuprequest.* FROM signuprequest WHERE email_normalized = ? "
        f"AND id != ? AND status IN ({marks}) LIMIT ?",
        (email, req["id"], *OPEN_REQUEST_STATUSES, limit),
    ).fetchall():
        hints.append({"kind": "request", "key": number, "label": f"{company} ({status})", "reason": "same e-mail"})
    for first, last, account, cname, *_ in conn.execute(
        "SELECT contactperson.first_name, contactperson.last_name, customer.account, customer.name, contactperson.* "
        "FROM contactperson JOIN customer ON contactperson.customer_id = customer.id "
        "WHERE contactperson.email_normalized = ? AND (contactperson.signup_request_id IS NULL "
        "OR contactperson.signup_request_id != ?) LIMIT ?",
        (email, req["id"], limit),
    ).fetchall():
        hints.append(
            {"kind": "contact", "key": account, "label": f"{first} {last} at {cname}", "reason": "same e-mail"}
        )
    own = req["created_customer_account"] or ""
    seen: set[str] = {own} if own else set()
    sql = (
        "SELECT account, name, name_normalized, email_normalized, customer.* FROM customer "
        "WHERE (email_normalized = ? OR name_normalized = ?)"
    )
    params: tuple[Any, ...] = (email, req["company_normalized"])
    if own:
        sql += " AND account != ?"
        params += (own,)
    for account, name, name_normalized, email_normalized, *_ in conn.execute(
        sql + " LIMIT ?", (*params, limit)
    ).fetchall():
        reasons = []
        if name_normalized == req["company_normalized"] and req["company_normalized"]:
            reasons.append("same company name")
        if email_normalized == email:
            reasons.append("same e-mail")
        seen.add(account)
        hints.append({"kind": "customer", "key": account, "label": name, "reason": " and ".join(reasons)})
    wanted = req["customer_account"]
    if wanted and wanted not in seen:
        found = conn.execute("SELECT account, name, customer.* FROM customer WHERE account = ?", (wanted,)).fetchone()
        if found is None:
            hints.append(
                {
                    "kind": "customer",
                    "key": wanted,
                    "label": "(no such customer)",
                    "reason": "account given by the requester does not exist",
                }
            )
        else:
            hints.append(
                {"kind": "customer", "key": found[0], "label": found[1], "reason": "account given by the requester"}
            )
    return hints
