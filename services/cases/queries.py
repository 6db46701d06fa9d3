"""Reading cases: one case by its number, the keyset-paged list, counts per status, the detail."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import Integer, bindparam, func, literal_column, or_, union
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from models.cases import Case, CaseCategory, CasePriority, CaseStatus, SampleRequest
from models.customer import Customer
from services import audit, counters, sequences
from services import workflow as wf
from services.errors import NotFound, PermissionDenied, ValidationFailed
from services.keyed_search import (
    KEYS_OR_WORDS,
    NOWHERE,
    RARE,
    first_shape,
    list_rows,
    matches,
    search_params,
    walk_params,
    walk_search_page,
)
from services.keyset import keyset_page
from services.permissions import Actor, require
from services.search import SEARCHABLE, dialect_of, search_term
from services.text import clean

from .table import ACTION_PERMISSIONS, DOC_TYPE, ENTITY, FILTERS, allowed_actions, state_refusal
from .views import CaseDetail, CasePage, CaseRow, sample_view


def get_case(session: Session, number: str) -> Case:
    """The case numbered ``number`` ("CASE-000012", or "12"), or NotFound."""
    key = clean(number).upper()
    if key.isascii() and key.isdigit() and len(key) <= 19:  # "12" -> its number; never a 5000-digit int
        key = sequences.format_number("CASE-", 6, int(key))
    case = session.exec(select(Case).where(col(Case.number) == key)).first()
    if case is None:
        raise NotFound(f"no case {number!r}")
    return case


def _status_value(status: str | None) -> str | None:
    """The status filter's stored value (None: every status)."""
    if not status or status == "All":
        return None
    try:
        return CaseStatus.parse(status).value
    except ValueError as exc:
        raise ValidationFailed({"status": str(exc)}) from None


_CUSTOMER_KEYS = ("account",)
_CASE_KEYS = ("number",)


def _search_params(dialect: str, term: str, rows: int | None = None, page: int = 51) -> tuple[str, dict[str, Any]]:
    """The search's shape and its values for both tables' keys and text indexes (and the walk's,
    its budget sized to ``rows`` cases when given)."""
    shape, params = search_params(dialect, Case, term, [("number", term.upper())])
    params.update(search_params(dialect, Customer, term, [("account", term.upper())])[1])
    if shape == KEYS_OR_WORDS:
        params.update(walk_params(dialect, Customer, term))
        params.update(walk_params(dialect, Case, term, rows=rows, page=page))
    return shape, params


def _found(dialect: str, shape: str) -> ColumnElement[bool]:
    """The cases a search finds: the case's number, title or contact; or its customer's account or
    name (both through indexes, ``services.keyed_search``)."""
    return or_(
        col(Case.id).in_(matches(dialect, Case, _CASE_KEYS, shape)),
        col(Case.customer_id).in_(matches(dialect, Customer, _CUSTOMER_KEYS, shape)),
    )


# the list's columns; the customer's searched ones too (a walked row is tested on them)
_ROW_COLUMNS: tuple[Any, ...] = (
    col(Case.id),
    col(Case.number),
    col(Case.status),
    col(Case.title),
    col(Case.category),
    col(Case.priority),
    col(Customer.account).label("customer_account"),
    col(Customer.name).label("customer_name"),
    col(Case.created_at),
    col(Case.created_by),
    col(Case.contact_name),
    col(Customer.email).label("customer_email"),
    col(Customer.city).label("customer_city"),
)
_CUSTOMER_NAMES = {c: f"customer_{c}" for c in SEARCHABLE["customer"]}  # its columns' names in the rows


@lru_cache(maxsize=64)
def _page_statement(dialect: str, by_status: bool, keyed: bool, search: str | None) -> Any:
    """The page query of one shape of ``list_cases`` (status filter or not, first page or not,
    the search's shape), built once; values are parameters (``status``, ``after``, ``limit``, the
    search's). Newest first: the id index (with a status, ``ix_customercase_status_id``) walked
    from the cursor.

    A word walks that order first (``keyed_search.walk_search_page``): each case is tested on its
    title and contact and its customer's account, name, e-mail and city, as the two text indexes
    would; a word too rare for the walk, or an exact case number or account, is the indexes'
    answer (``_found``) as before."""
    query = select(*_ROW_COLUMNS).join(Customer, col(Case.customer_id) == col(Customer.id))
    counted = select(col(Case.id))  # every case has its customer: the walk's end counted without it
    if by_status:
        query = query.where(col(Case.status) == bindparam("status"))
        counted = counted.where(col(Case.status) == bindparam("status"))
    after = [bindparam("after", type_=Integer)] if keyed else None
    if search == KEYS_OR_WORDS:
        return walk_search_page(
            dialect,
            query,
            [col(Case.id)],
            after,
            descending=True,
            probes=((Case, _CASE_KEYS), (Customer, _CUSTOMER_KEYS)),
            tests=(("customercase", {}), ("customer", _CUSTOMER_NAMES)),
            indexed=query.where(_found(dialect, search)),
            counted=counted,
        )
    if search == RARE:
        # the keys, else the text indexes' few matches (no walk): one arm per table united, each
        # the cases of its table's matches (an OR of the two ``IN`` lists, ``_found``, was planned
        # by PostgreSQL as a walk of the id index testing every case: 18x the key probes at 1M)
        limit = bindparam("limit", type_=Integer)
        arms = [
            keyset_page(
                dialect, query.where(found), [col(Case.id)], after, descending=True, limit=limit, seek_arms=False
            ).subquery(name)
            for name, found in (
                ("by_case", col(Case.id).in_(matches(dialect, Case, _CASE_KEYS, KEYS_OR_WORDS))),
                ("by_customer", col(Case.customer_id).in_(matches(dialect, Customer, _CUSTOMER_KEYS, KEYS_OR_WORDS))),
            )
        ]
        both = union(*[select(*arm.c) for arm in arms])
        return both.order_by(literal_column("1").desc()).limit(limit)
    if search is not None:
        query = query.where(_found(dialect, search))
    return keyset_page(dialect, query, [col(Case.id)], after, descending=True, limit=bindparam("limit"))


def list_cases(
    session: Session,
    actor: Actor,
    *,
    status: str | None = None,
    search: str | None = None,
    after: int | None = None,
    limit: int = 50,
) -> CasePage:
    """Newest first, one page (keyset on id), filtered in SQL."""
    require(actor, "cases.view")
    limit = max(1, min(int(limit), 5000))
    params: dict[str, Any] = {"limit": limit + 1}
    value = _status_value(status)
    if value is not None:
        params["status"] = value
    if after is not None:
        params["after"] = after
    shape = None
    term = search_term(search)
    dialect = dialect_of(session)
    if term is not None:
        shape, values = _search_params(dialect, term, list_rows(session, "case"), limit + 1)
        params.update(values)
        if shape == KEYS_OR_WORDS:
            probes = ((Case, _CASE_KEYS), (Customer, _CUSTOMER_KEYS))
            shape = first_shape(session, term, probes, "customercase", params, limit + 1)
            if shape == NOWHERE:  # no key, no case or customer with the word: nothing to read
                return CasePage(rows=[], after=None)
    statement = _page_statement(dialect, value is not None, after is not None, shape)
    raw = session.connection().execute(statement, params).all()
    rows = [
        CaseRow(
            id=r[0],
            number=r[1],
            status=r[2],
            title=r[3],
            category=r[4],
            priority=r[5],
            customer_account=r[6],
            customer_name=r[7],
            created_at=r[8],
            created_by=r[9],
        )
        for r in raw[:limit]
    ]
    return CasePage(rows=rows, after=rows[-1].id if len(raw) > limit else None)


def count_by_status(session: Session, actor: Actor, *, search: str | None = None) -> dict[str, int]:
    """Rows per status: the kept counters; with a search, counted over the search's indexes."""
    require(actor, "cases.view")
    term = search_term(search)
    if term is None:
        return counters.by_status(session, "case", CaseStatus)
    dialect = dialect_of(session)
    shape, params = _search_params(dialect, term)
    query = select(Case.status, func.count()).where(_found(dialect, shape)).group_by(col(Case.status))
    counts = {s.value: 0 for s in CaseStatus}
    for st, n in session.connection().execute(query, params).all():
        counts[st] = n
    return {"All": sum(counts.values()), **counts}


def show_case(session: Session, actor: Actor, number: str) -> CaseDetail:
    require(actor, "cases.view")
    case = get_case(session, number)
    customer = session.get(Customer, case.customer_id)
    samples = session.exec(
        select(SampleRequest).where(col(SampleRequest.case_id) == case.id).order_by(col(SampleRequest.id))
    ).all()
    workflow_label = None
    instance = wf.active_instance(session, DOC_TYPE, case.number)
    if instance is not None:
        waiting = ", ".join(instance.assignees) or "nobody"
        workflow_label = (
            f"instance {instance.id} ({instance.definition}, {instance.status}): "
            f"step {instance.current_step or '-'}, waiting for {waiting}"
        )
    data = {name: getattr(case, name) for name in CaseDetail.model_fields if hasattr(case, name)}
    return CaseDetail(
        **data,
        customer_account=customer.account if customer else "",
        customer_name=customer.name if customer else "",
        workflow=workflow_label,
        samples=[sample_view(s) for s in samples],
        history=audit.history(session, ENTITY, case.number),
        actions=allowed_actions(actor, case),
    )


def refusal(session: Session, actor: Actor, number: str, action: str) -> str | None:
    """Why ``actor`` cannot ``action`` case ``number`` as it is now, in the words its command would
    refuse with; None: nothing stands against it (the command checks again when it runs). Asked by
    the console before it opens the action's form, so a form is never filled only to be refused.
    ``action``: edit, resolve, sample, close, submit, recall, approve, reject."""
    require(actor, "cases.view")
    case = get_case(session, number)
    try:
        require(actor, ACTION_PERMISSIONS[action])
    except PermissionDenied as exc:
        return exc.message
    return state_refusal(session, actor, case, action)


def choices() -> dict[str, list[str]]:
    return {"category": [c.value for c in CaseCategory], "priority": [p.value for p in CasePriority], "status": FILTERS}
