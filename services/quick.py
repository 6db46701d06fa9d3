"""The console's first view without the heavy stack: plain sqlite3, standard library only.

Importing SQLModel, SQLAlchemy, pydantic and every table costs more than the rest of the
console's start. On a current SQLite file the Registration list's first page, its counts
and the acting operator are read here with three small queries, so the console can paint
at once while the real ``Store`` is built in the background.

``light_start`` answers only when it is sure to give what the services would give; in
every other case (PostgreSQL, a missing file, a schema that needs an upgrade, an unknown,
disabled or unauthorised operator, any database error) it returns ``None`` and the caller
takes the normal path, which upgrades the file or raises the proper refusal.

Keep it in step with ``services.signup.list_requests`` / ``count_by_status`` (default view:
status All, no search, sort by number ascending) and ``services.operators.resolve_actor``;
tests/test_quick_start.py compares them field by field.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from services.permissions import Actor
from services.schema_heads import SCHEMA_HEADS

if TYPE_CHECKING:
    import ctypes

# models.signup.SignupStatus values, in its order (a test checks they agree)
SIGNUP_STATUSES = ("Requested", "Verified by user", "Approved", "Created", "Rejected")
BUSY_TIMEOUT_MS = 2_000
MAX_LIMIT = 5000  # as list_requests
T = TypeVar("T")


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


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL or plain path (as ``services.store.normalize_url`` reads it), else None."""
    target = (url or "").strip()
    if not target:
        return None
    if "://" not in target:
        if target == ":memory:":
            return None
        return Path(target).expanduser().resolve()
    scheme, _, rest = target.partition("://")
    if scheme.lower() not in ("sqlite", "sqlite+pysqlite") or not rest.startswith("/"):
        return None  # PostgreSQL, in-memory ("sqlite://") or anything unusual: the normal path
    database = rest[1:]
    if not database or "?" in database or database == ":memory:":
        return None
    return Path(database)


def light_start(url: str, operator: str | None, *, limit: int) -> LightStart | None:
    """The acting operator and the Registration list's first view, or None (take the normal path)."""
    return light_read(url, operator, lambda conn, actor: _first_view(conn, actor, limit))


def light_read(url: str, operator: str | None, read: Callable[[Any, Actor], T | None]) -> T | None:
    """``read(connection, actor)`` in one read-only snapshot of a current store, as the operator
    ``services.identity`` would establish; None wherever the normal path must answer instead
    (PostgreSQL URL with options, a missing file, a schema that needs an upgrade, an unknown,
    refused or unusual operator, any database error, or ``read`` itself returning None)."""
    conninfo = postgres_conninfo(url)
    if conninfo is not None:
        return _pg_light_read(conninfo, operator, read)
    path = sqlite_path(url)
    if path is None or not path.is_file():
        return None
    try:
        conn = sqlite3.connect(
            f"{path.absolute().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
        )
    except (sqlite3.Error, ValueError):
        return None
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("BEGIN")  # one snapshot for the operator and what is read
        try:
            return _read(conn, operator, read)
        finally:
            conn.execute("COMMIT")
    except (sqlite3.Error, ValueError, TypeError):
        return None
    finally:
        conn.close()


def _read(conn: Any, operator: str | None, read: Callable[[Any, Actor], T | None]) -> T | None:
    if not _schema_current(conn):
        return None
    actor = _identified(conn, operator)
    if actor is None:
        return None
    return read(conn, actor)


def _first_view(conn: Any, actor: Actor, limit: int) -> LightStart | None:
    if not actor.can("signup.view"):
        return None
    return LightStart(actor=actor, view=LightView(page=_first_page(conn, limit), counts=_counts(conn)))


def _schema_current(conn: Any) -> bool:
    if isinstance(conn, _PgConnection):
        if conn.execute("SELECT to_regclass('alembic_version') IS NOT NULL", ()).fetchone() != (True,):
            return False
    elif (
        conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'").fetchone() is None
    ):
        return False
    revisions = frozenset(r[0] for r in conn.execute("SELECT version_num FROM alembic_version", ()).fetchall())
    return revisions == SCHEMA_HEADS


def _identified(conn: Any, operator: str | None) -> Actor | None:
    """``services.identity``'s rule; None where it would refuse, needs a reason or is unusual
    (the normal path then says why).

    PostgreSQL: the database login (``session_user``) is the operator; naming anyone else, or a
    login that is the owner (who may name operators), takes the normal path. SQLite: the OS
    login, or the named operator where allowed (a demo database)."""
    from dataclasses import replace

    if isinstance(conn, _PgConnection):
        row = conn.execute(
            "SELECT session_user::text, (SELECT rolsuper FROM pg_roles WHERE rolname = session_user)"
            " OR pg_has_role(session_user, (SELECT tableowner FROM pg_tables"
            " WHERE tablename = 'alembic_version' LIMIT 1), 'MEMBER')",
            (),
        ).fetchone()
        if row is None:
            return None
        login, owner, named = row[0], bool(row[1]), (operator or "").strip()
        if owner and not named:
            return None  # the owner acts as an admin named after its login: the normal path
        if named and named != login and not owner:
            return None  # refused: the normal path says why
        actor = _actor(conn, named or login)
        return replace(actor, login=login) if actor is not None else None

    from services.errors import UnknownOperator
    from services.identity import DEMO_FLAG, os_login, sqlite_choice

    login = os_login()
    flag = conn.execute("SELECT value FROM storeflag WHERE name = ?", (DEMO_FLAG,)).fetchone()
    demo = flag is not None and flag[0] == "yes"
    try:
        name, why = sqlite_choice(operator, login, demo=demo, login_is_admin=False, reason=None)
    except UnknownOperator:
        return None
    actor = _actor(conn, name)
    return replace(actor, login=login, demo=demo) if actor is not None else None


def _actor(conn: Any, operator: str | None) -> Actor | None:
    """As ``services.operators.resolve_actor`` / ``to_actor``; None where it would refuse."""
    name = (operator or "").strip()
    if not name:
        return None
    row = conn.execute(
        "SELECT user_name, display_name, roles, profile, sales_rep, email, active FROM operator WHERE user_name = ?",
        (name,),
    ).fetchone()
    if row is None or not row[6]:
        return None
    user_name, display_name, roles, profile, sales_rep, email, _ = row
    return Actor(
        user_name=user_name,
        display_name=display_name,
        roles=frozenset((roles or "").split()),
        profile=profile,
        sales_rep=bool(sales_rep),
        email=email,
    )


def _utc(value: Any) -> datetime:
    """A stored timestamp as SQLModel's UTCDateTime returns it (aware, UTC)."""
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(str(value))
    if moment.utcoffset() is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _first_page(conn: Any, limit: int) -> LightPage:
    """``list_requests`` with its defaults: every status, no search, by number (= id) ascending."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    raw = conn.execute(
        "SELECT id, number, created_at, status, company, first_name, last_name, email, user_name, country "
        "FROM signuprequest ORDER BY id ASC LIMIT ?",
        (limit + 1,),
    ).fetchall()
    rows = tuple(
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
        for r in raw[:limit]
    )
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
# services.customers._STATUS_OF_STATE (open change proposals)
PROPOSAL_STATUS = {"Submitted": "Changes pending approval", "Not submitted": "Changes not submitted"}


@dataclass(frozen=True)
class LightCustomerRow:
    """The attributes of ``services.customers.CustomerRow``."""

    account: str
    name: str
    party_type: str
    customer_group: str
    city: str
    country: str
    email: str
    blocked: bool
    approval_status: str = ""


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
    rows = tuple(
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
        for r in raw[:limit]
    )
    after = None
    if len(raw) > limit:
        last = raw[limit - 1]
        after = ((last[10] if sort_col else last[0]), last[0])
    return LightPage(rows=rows, after=after)


def customer_rows(conn: Any, actor: Actor, *, limit: int) -> tuple[LightCustomerRow, ...] | None:
    """``list_customers(limit=)`` without a search or cursor; None where the services would refuse."""
    if not actor.can("customer.view"):
        return None
    raw = conn.execute(
        "SELECT id, account, name, party_type, customer_group, city, country, email, blocked "
        "FROM customer ORDER BY account ASC LIMIT ?",
        (max(1, min(int(limit), 1000)),),
    ).fetchall()
    statuses: dict[int, str] = {}
    if raw:
        ids = [r[0] for r in raw]
        marks = ", ".join("?" * len(ids))
        for cid, state in conn.execute(
            f"SELECT customer_id, state FROM changeproposal WHERE customer_id IN ({marks}) AND state IN (?, ?)",
            (*ids, *PROPOSAL_STATUS),
        ).fetchall():
            statuses[cid] = PROPOSAL_STATUS[state]
    return tuple(
        LightCustomerRow(
            account=r[1],
            name=r[2],
            party_type=r[3],
            customer_group=r[4],
            city=r[5],
            country=r[6],
            email=r[7],
            blocked=bool(r[8]),
            approval_status=statuses.get(r[0], ""),
        )
        for r in raw
    )


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
    """``services.signup.find_duplicates``: the same statements (the same plans, the same order)."""
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


# ----------------------------------------------------------------------------- PostgreSQL: libpq itself

# Importing psycopg costs about as much as Textual itself, so the light start talks to the
# server through libpq (the library psycopg wraps) with ctypes: a handful of calls, text
# results converted by column type. Anything unexpected -> None and the normal path.

_OID_INT = {20, 21, 23}  # int8, int2, int4
_OID_BOOL = 16
_OID_TIME = {1114, 1184}  # timestamp, timestamptz


def postgres_conninfo(url: str) -> str | None:
    """A libpq connection URI for a PostgreSQL URL regdesk accepts, or None (not PostgreSQL, or unusual)."""
    target = (url or "").strip()
    scheme, sep, rest = target.partition("://")
    if not sep or scheme.lower() not in ("postgres", "postgresql", "postgresql+psycopg"):
        return None
    if "?" in rest or "#" in rest:
        return None  # options meant for SQLAlchemy/psycopg: let the normal path read them
    return f"postgresql://{rest}?connect_timeout=5&application_name=regdesk"


def _libpq() -> ctypes.CDLL:
    import ctypes
    import ctypes.util
    import glob
    import os
    import sys

    candidates = [ctypes.util.find_library("pq")]
    for base in sys.path:
        candidates += glob.glob(os.path.join(base, "psycopg_binary.libs", "libpq-*.so*"))
    lib = None
    for name in filter(None, candidates):
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if lib is None:
        raise OSError("no libpq")
    c = ctypes
    lib.PQconnectdb.restype, lib.PQconnectdb.argtypes = c.c_void_p, [c.c_char_p]
    lib.PQstatus.restype, lib.PQstatus.argtypes = c.c_int, [c.c_void_p]
    lib.PQfinish.restype, lib.PQfinish.argtypes = None, [c.c_void_p]
    lib.PQexecParams.restype = c.c_void_p
    lib.PQexecParams.argtypes = [
        c.c_void_p,
        c.c_char_p,
        c.c_int,
        c.c_void_p,
        c.POINTER(c.c_char_p),
        c.c_void_p,
        c.c_void_p,
        c.c_int,
    ]
    lib.PQresultStatus.restype, lib.PQresultStatus.argtypes = c.c_int, [c.c_void_p]
    lib.PQntuples.restype, lib.PQntuples.argtypes = c.c_int, [c.c_void_p]
    lib.PQnfields.restype, lib.PQnfields.argtypes = c.c_int, [c.c_void_p]
    lib.PQftype.restype, lib.PQftype.argtypes = c.c_uint, [c.c_void_p, c.c_int]
    lib.PQgetvalue.restype, lib.PQgetvalue.argtypes = c.c_char_p, [c.c_void_p, c.c_int, c.c_int]
    lib.PQgetisnull.restype, lib.PQgetisnull.argtypes = c.c_int, [c.c_void_p, c.c_int, c.c_int]
    lib.PQclear.restype, lib.PQclear.argtypes = None, [c.c_void_p]
    return lib


class _PgResult:
    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows

    def fetchone(self) -> tuple[Any, ...] | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self.rows


class _PgConnection:
    """Just enough of a DB-API connection for ``_read``: ``execute(sql with ?, params)``."""

    def __init__(self, conninfo: str) -> None:
        self.lib = _libpq()
        self.conn = self.lib.PQconnectdb(conninfo.encode())
        if not self.conn or self.lib.PQstatus(self.conn) != 0:  # CONNECTION_OK
            self.close()
            raise OSError("cannot connect")

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> _PgResult:
        import ctypes

        parts = sql.split("?")
        if len(parts) - 1 != len(params):
            raise ValueError("placeholders")
        sql = "".join(p + (f"${i + 1}" if i < len(params) else "") for i, p in enumerate(parts))
        values = (ctypes.c_char_p * max(1, len(params)))(*[str(v).encode() for v in params])
        res = self.lib.PQexecParams(self.conn, sql.encode(), len(params), None, values, None, None, 0)
        if not res:
            raise OSError("no result")
        try:
            status = self.lib.PQresultStatus(res)
            if status not in (1, 2):  # PGRES_COMMAND_OK, PGRES_TUPLES_OK
                raise OSError(f"query failed ({status})")
            fields = self.lib.PQnfields(res)
            types = [self.lib.PQftype(res, j) for j in range(fields)]
            rows: list[tuple[Any, ...]] = []
            for i in range(self.lib.PQntuples(res)):
                row: list[Any] = []
                for j, oid in enumerate(types):
                    if self.lib.PQgetisnull(res, i, j):
                        row.append(None)
                        continue
                    text = self.lib.PQgetvalue(res, i, j).decode()
                    if oid in _OID_INT:
                        row.append(int(text))
                    elif oid == _OID_BOOL:
                        row.append(text == "t")
                    elif oid in _OID_TIME:
                        row.append(datetime.fromisoformat(text))
                    else:
                        row.append(text)
                rows.append(tuple(row))
            return _PgResult(rows)
        finally:
            self.lib.PQclear(res)

    def close(self) -> None:
        if self.conn:
            self.lib.PQfinish(self.conn)
            self.conn = None


def _pg_light_read(conninfo: str, operator: str | None, read: Callable[[Any, Actor], T | None]) -> T | None:
    try:
        conn = _PgConnection(conninfo)
    except (OSError, ValueError, AttributeError):
        return None
    try:
        # one snapshot for the operator and what is read
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            return _read(conn, operator, read)
        finally:
            conn.execute("COMMIT")
    except (OSError, ValueError, TypeError, UnicodeDecodeError):
        return None
    finally:
        conn.close()
