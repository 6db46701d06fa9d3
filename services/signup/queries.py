"""Reads of the sign-up requests: the duplicate search, the Registration list (filtered, sorted
and keyset-paged in SQL), the counts per status and one request's detail."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any, Unpack

from sqlalchemy import Integer, Select, bindparam, func, literal, null, or_, union_all
from sqlalchemy import select as sa_select
from sqlalchemy.orm import Mapped
from sqlalchemy.sql.selectable import CompoundSelect
from sqlmodel import Session, col, select

from models.customer import ContactPerson, Customer
from models.signup import SignupRequest, SignupStatus, UserRequest
from services import audit, counters
from services.errors import ValidationFailed
from services.keyed_search import (
    KEYS_OR_WORDS,
    NOWHERE,
    RARE,
    first_shape,
    matches,
    search_params,
    sqlite_id_page,
    walk_page,
    walk_params,
)
from services.keyset import keyset_page
from services.permissions import Actor, require
from services.search import dialect_of, search_term
from services.signup.table import ENTITY, OPEN_STATUSES, allowed_actions, get_request
from services.signup.views import DuplicateHint, RequestDetail, RequestPage
from services.text import normalize_email


@lru_cache(maxsize=None)
def _duplicate_statement(own: bool) -> Any:
    """find_duplicates' one statement, built once: three searches (open requests with the
    e-mail, contacts with the e-mail, customers with the e-mail or the company name), each
    under its own LIMIT, sent as one UNION ALL (one round trip: a sign-up runs it on every
    submit, and with a team on two cores each statement's client CPU and server wake-up is
    what the office queues for). Each row: (which search, four text columns);
    ``own``: the request was created as (or added to) a customer, which is left out."""
    rid = func.coalesce(bindparam("rid", type_=Integer), -1)  # no id yet (a submit): every row's differs
    email: Any = bindparam("email")
    requests: Any = (
        sa_select(
            literal(0).label("k"),
            col(SignupRequest.number).label("a"),
            col(SignupRequest.company).label("b"),
            col(SignupRequest.status).label("c"),
            null().label("d"),
        )
        .where(
            col(SignupRequest.email_normalized) == email,
            col(SignupRequest.id) != rid,
            col(SignupRequest.status).in_(OPEN_STATUSES),
        )
        .limit(bindparam("limit"))
    )
    contacts: Any = (
        sa_select(
            literal(1).label("k"),
            col(ContactPerson.first_name).label("a"),
            col(ContactPerson.last_name).label("b"),
            col(Customer.account).label("c"),
            col(Customer.name).label("d"),
        )
        .join(Customer, col(ContactPerson.customer_id) == col(Customer.id))
        .where(
            col(ContactPerson.email_normalized) == email,
            or_(col(ContactPerson.signup_request_id).is_(None), col(ContactPerson.signup_request_id) != rid),
        )
        .limit(bindparam("limit"))
    )
    customers: Any = sa_select(
        literal(2).label("k"),
        col(Customer.account).label("a"),
        col(Customer.name).label("b"),
        col(Customer.name_normalized).label("c"),
        col(Customer.email_normalized).label("d"),
    ).where(or_(col(Customer.email_normalized) == email, col(Customer.name_normalized) == bindparam("company")))
    if own:
        customers = customers.where(col(Customer.account) != bindparam("own"))
    arms = [q.subquery() for q in (requests, contacts, customers.limit(bindparam("limit")))]
    return union_all(*(sa_select(*arm.c) for arm in arms))  # a LIMIT per arm: SQLite wants them in subqueries


def find_duplicates(session: Session, req: SignupRequest, limit: int = 20) -> list[DuplicateHint]:
    """Open requests, contacts and customers with the same e-mail; customers with the same name.
    Never what the request itself led to: the contact created from it, and the customer it was
    created as (or added to)."""
    email = req.email_normalized
    own = req.created_customer_account or ""
    values: dict[str, Any] = {"email": email, "rid": req.id, "limit": limit, "company": req.company_normalized}
    if own:
        values["own"] = own
    found: list[list[DuplicateHint]] = [[], [], []]  # per search, in the order each returned its rows
    seen: set[str] = {own} if own else set()
    for k, a, b, c, d in session.execute(_duplicate_statement(bool(own)), values).all():
        if k == 0:
            found[0].append(DuplicateHint(kind="request", key=a, label=f"{b} ({c})", reason="same e-mail"))
        elif k == 1:
            found[1].append(DuplicateHint(kind="contact", key=c, label=f"{a} {b} at {d}", reason="same e-mail"))
        else:
            reasons = []
            if c == req.company_normalized and req.company_normalized:
                reasons.append("same company name")
            if d == email:
                reasons.append("same e-mail")
            seen.add(a)
            found[2].append(DuplicateHint(kind="customer", key=a, label=b, reason=" and ".join(reasons)))
    hints = [hint for rows in found for hint in rows]
    if req.customer_account and req.customer_account not in seen:
        given = session.exec(select(Customer).where(col(Customer.account) == req.customer_account)).first()
        if given is None:
            hints.append(
                DuplicateHint(
                    kind="customer",
                    key=req.customer_account,
                    label="(no such customer)",
                    reason="account given by the requester does not exist",
                )
            )
        else:
            hints.append(
                DuplicateHint(
                    kind="customer", key=given.account, label=given.name, reason="account given by the requester"
                )
            )
    return hints


# ------------------------------------------------------------------------- list / show


SORTS: dict[str, Mapped[Any]] = {
    "number": col(SignupRequest.id),  # numbers come from a gap-free sequence: same order as id
    "created": col(SignupRequest.created_at),
    "company": col(SignupRequest.company),
    "status": col(SignupRequest.status),
    "email": col(SignupRequest.email_normalized),
    "name": col(SignupRequest.last_name),
}
_ID = col(SignupRequest.id)
_ROW_COLUMNS: tuple[Any, ...] = (
    col(SignupRequest.id),
    col(SignupRequest.number),
    col(SignupRequest.created_at),
    col(SignupRequest.status),
    col(SignupRequest.company),
    col(SignupRequest.first_name),
    col(SignupRequest.last_name),
    col(SignupRequest.email),
    col(SignupRequest.user_name),
    col(SignupRequest.country),
)
# the exact keys a search term may equal, each with its own index (see ``_key_values``)
_KEYS = ("number", "email_normalized", "user_name")


def _key_values(term: str) -> list[tuple[str, Any]]:
    """The value ``term`` takes for each of ``_KEYS``."""
    return [("number", term.upper()), ("email_normalized", normalize_email(term)), ("user_name", term)]


def _status_value(status: str) -> str:
    try:
        return SignupStatus.parse(status).value
    except ValueError as exc:
        raise ValidationFailed({"status": str(exc)}) from None


@lru_cache(maxsize=512)
def _page_statement(
    dialect: str, sort: str, descending: bool, by_status: bool, keyed: bool, search: str | None
) -> tuple[Select[Unpack[tuple[Any, ...]]] | CompoundSelect[Any], bool]:
    """The page query of one shape of ``list_requests``, built once (values are parameters:
    ``status``, ``after_value``/``after_id``, ``limit``, the search's ``search_params`` and
    ``walk_params``); and whether the sort key is selected as an extra last column (for the cursor).

    A word search walks the list's order index first (``keyed_search.walk_page``: about a page
    for a common word, the text index for a rare one); SQLite in id order reads FTS5 in its own
    rowid order instead (``sqlite_id_page``). ``RARE`` (SQLite: ``sqlite_first`` found the word on
    less than a page of rows and no key): the text index's matches sorted, no walk."""
    key = SORTS[sort]
    sort_col: Any = key if key is not _ID else None  # a column (its ``type`` types the cursor's value)
    if sort == "status" and by_status:
        sort_col = None  # one status: its rows in id order, the (status, id) index walked from the cursor
    query = select(*_ROW_COLUMNS, *([sort_col] if sort_col is not None else []))
    if by_status:
        query = query.where(col(SignupRequest.status) == bindparam("status"))
    if dialect == "sqlite" and search in (KEYS_OR_WORDS, RARE) and sort_col is None:
        # in id order: the FTS5 lookup read in rowid order up to the page, not every match ranked
        return sqlite_id_page(SignupRequest, _KEYS, query, descending=descending, keyed=keyed), False
    columns = [sort_col, _ID] if sort_col is not None else [_ID]
    after: list[Any] | None = None
    if keyed:
        after = [bindparam("after_value", type_=sort_col.type)] if sort_col is not None else []
        after.append(bindparam("after_id", type_=Integer))
    if search == KEYS_OR_WORDS:  # a word: a bounded walk of the list's order, else the text index
        return walk_page(dialect, SignupRequest, _KEYS, query, columns, after, descending=descending), bool(sort_col)
    if search is not None:
        query = query.where(
            _ID.in_(matches(dialect, SignupRequest, _KEYS, KEYS_OR_WORDS if search == RARE else search))
        )
    # a search's few matches are sorted anyway: one row-value predicate, not an arm (and a read of
    # the search's subquery) per column
    page = keyset_page(
        dialect, query, columns, after, descending=descending, limit=bindparam("limit"), seek_arms=search is None
    )
    return page, sort_col is not None


def list_requests(
    session: Session,
    actor: Actor,
    *,
    status: str | None = None,
    search: str | None = None,
    sort: str = "number",
    descending: bool = False,
    after: tuple[Any, int] | list[Any] | None = None,
    limit: int = 50,
) -> RequestPage:
    """One page of the Registration list, filtered, sorted and paged in SQL (keyset).

    The statement of each shape (sort, direction, status filter or not, first page or not,
    what a search found) is built once and cached; the page is validated in one call."""
    require(actor, "signup.view")
    if sort not in SORTS:
        raise ValidationFailed({"sort": "one of: " + ", ".join(SORTS)})
    limit = max(1, min(int(limit), 5000))
    params: dict[str, Any] = {"limit": limit + 1}
    by_status = bool(status and status != "All")
    if by_status:
        assert status is not None
        params["status"] = _status_value(status)
    shape = None
    term = search_term(search)
    dialect = dialect_of(session)
    if term is not None:
        shape, values = search_params(dialect, SignupRequest, term, _key_values(term))
        params.update(values)
        # (SQLite in id order: ``sqlite_id_page`` reads FTS5 up to the page, nothing to decide)
        if shape == KEYS_OR_WORDS and not (dialect == "sqlite" and SORTS[sort] is _ID):
            shape = first_shape(session, term, ((SignupRequest, _KEYS),), "signuprequest", params, limit + 1)
            if shape == NOWHERE:  # no key, no row with the word: nothing to read
                return RequestPage(rows=[], after=None)
        if shape == KEYS_OR_WORDS:
            params.update(walk_params(dialect, SignupRequest, term, page=limit + 1))
    if after is not None:
        value, last_id = after
        if sort == "created" and isinstance(value, str):
            value = datetime.fromisoformat(value)
        params["after_value"], params["after_id"] = value, last_id
    query, extra_key = _page_statement(dialect, sort, descending, by_status, after is not None, shape)
    if after is not None and not extra_key:
        params.pop("after_value")
    raw = session.connection().execute(query, params).all()
    rows = [
        {
            "id": r[0],
            "number": r[1],
            "created_at": r[2],
            "status": r[3],
            "company": r[4],
            "contact": f"{r[5]} {r[6]}",
            "email": r[7],
            "user_name": r[8],
            "country": r[9],
        }
        for r in raw[:limit]
    ]
    cursor = None
    if len(raw) > limit:
        last = raw[limit - 1]
        cursor = ((last[10] if extra_key else last[0]), last[0])
    # one validation of the whole page (pydantic-core): cheaper than a model per row, and
    # cheaper than model_construct, which runs in Python
    return RequestPage.model_validate({"rows": rows, "after": cursor})


@lru_cache(maxsize=64)
def _count_statement(dialect: str, shape: str) -> Select[Unpack[tuple[Any, ...]]]:
    """Rows per status of what a search of one shape finds (one statement), built once."""
    found = matches(dialect, SignupRequest, _KEYS, shape, ("status",)).subquery()
    return select(found.c.status, func.count()).group_by(found.c.status)


def count_by_status(session: Session, actor: Actor, *, search: str | None = None) -> dict[str, int]:
    """Rows per status: the kept counters (O(1)); with a search, counted over the search's own index."""
    require(actor, "signup.view")
    term = search_term(search)
    if term is None:
        return counters.by_status(session, "signup", SignupStatus)
    dialect = dialect_of(session)
    shape, params = search_params(dialect, SignupRequest, term, _key_values(term))
    counts = {s.value: 0 for s in SignupStatus}
    for status, n in session.connection().execute(_count_statement(dialect, shape), params):
        counts[status] = n
    return {"All": sum(counts.values()), **counts}


def show_request(session: Session, actor: Actor, number: str) -> RequestDetail:
    require(actor, "signup.view")
    req = get_request(session, number)
    ur = session.exec(select(UserRequest.number).where(col(UserRequest.signup_request_id) == req.id)).first()
    data = {name: getattr(req, name) for name in RequestDetail.model_fields if hasattr(req, name)}
    return RequestDetail(
        **data,
        user_request=ur,
        duplicates=find_duplicates(session, req),
        history=audit.history(session, ENTITY, req.number),
        actions=allowed_actions(actor, req.status),
    )
