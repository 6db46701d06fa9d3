"""The Prospects area's three lists (prospects, leads, opportunities) one keyset page at a time.

``queries`` reads each list newest first up to a limit; the console's record browser needs pages
it can continue from a key, in any offered sort, filtered by a search, with counts that do not
scan. Every sort here walks an index, with the row id as the tie-breaker:

* prospects: ``number`` (unique), ``status`` (``ix_prospect_status_id``), ``company``
  (``ix_prospect_company_id``), ``email`` (``ix_prospect_email_id``), each (column, id);
* leads and opportunities: ``number`` (unique). Their status has no index (no sort on it).

A page's ``after`` is ``[sort value, id]`` of its last row (JSON-friendly); pass it back to
continue; ``None`` when the list ends there. The page after a key seeks both columns of the
sort's index on SQLite too (``services.keyset``). A search is the prospects' own (number, e-mail
by b-tree, words by the text index); a lead or opportunity matches by its own number or by
its prospect. Counts without a search are the kept counters (``statuscount``); with one they
count the matches, which the search's indexes bound.
"""

from __future__ import annotations

from typing import Any, TypeVarTuple, Unpack

from sqlalchemy import Select, func, select, union
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.selectable import CompoundSelect
from sqlmodel import Session, col

from models.prospects import B2B_LEADS_VIEW, Lead, Opportunity, Prospect
from services import counters
from services.errors import ValidationFailed
from services.keyset import keyset_page
from services.permissions import Actor, require
from services.search import dialect_of, search_term

from .queries import (
    is_word,
    lead_row,
    leads_query,
    matching_prospects,
    opportunities_query,
    opportunity_row,
    prospect_row,
    prospects_query,
    word_page,
)
from .views import LeadPage, OpportunityPage, ProspectPage

KINDS = ("prospects", "leads", "opportunities")
SORTS: dict[str, dict[str, Any]] = {
    "prospects": {
        "number": Prospect.number,
        "status": Prospect.status,
        "company": Prospect.company_normalized,
        "email": Prospect.email_normalized,
    },
    "leads": {"number": Lead.number},
    "opportunities": {"number": Opportunity.number},
}
UNIQUE = {"number"}  # a unique sort column needs no id in its keyset
Ts = TypeVarTuple("Ts")


def _sort_column(kind: str, sort: str) -> QueryableAttribute[Any]:
    try:
        column = SORTS[kind][sort or "number"]
    except KeyError:
        raise ValidationFailed({"sort": "one of: " + ", ".join(SORTS[kind])}) from None
    assert isinstance(column, QueryableAttribute)  # a mapped column of the model (SQLModel types it as its value)
    return column


def _limit(limit: int) -> int:
    return max(1, min(int(limit), 5000))


def _keyset(
    dialect: str,
    query: Select[Unpack[Ts]],
    column: QueryableAttribute[Any],
    id_column: Any,
    sort: str,
    after: Any,
    descending: bool,
    limit: int,
) -> Any:
    """``query`` ordered by (column, id) (a unique column alone), continued after ``after``
    ([value, id]) and limited: on SQLite a seek on both columns of the sort's index
    (``services.keyset``), read back into the query's ORM entities."""
    unique = (sort or "number") in UNIQUE
    columns = [col(column)] if unique else [col(column), col(id_column)]
    values = None
    if after is not None:
        try:
            value, last_id = after
        except (TypeError, ValueError):
            raise ValidationFailed({"after": "a page key as returned with the previous page"}) from None
        values = [value] if unique else [value, last_id]
    page = keyset_page(dialect, query, columns, values, descending=descending, limit=limit)
    return query.from_statement(page) if isinstance(page, CompoundSelect) else page


def _cursor(raw: list[Any], limit: int, column: QueryableAttribute[Any]) -> list[Any] | None:
    """The next page's key: [sort value, id] of the page's last record, None when the list ends."""
    if len(raw) <= limit:
        return None
    last = raw[limit - 1][0]
    return [getattr(last, column.key), last.id]


def _prospect_filter(session: Session, search: str | None) -> ColumnElement[bool] | None:
    term = search_term(search)
    if term is None:
        return None
    return col(Prospect.id).in_(matching_prospects(session, term))


def _matching_leads(session: Session, term: str) -> Any:
    """Ids of the leads ``term`` finds: its own number, or its prospect's match. A union of
    two index lookups (``number``, ``prospect_id``); an ``OR`` of them is a scan of every lead
    on PostgreSQL (the subquery is a hashed filter, not an index condition)."""
    return union(
        select(col(Lead.id)).where(col(Lead.number) == term.upper()),
        select(col(Lead.id)).where(col(Lead.prospect_id).in_(matching_prospects(session, term))),
    )


def _lead_filter(session: Session, search: str | None) -> ColumnElement[bool] | None:
    term = search_term(search)
    if term is None:
        return None
    return col(Lead.id).in_(_matching_leads(session, term))


def _opportunity_filter(session: Session, search: str | None) -> ColumnElement[bool] | None:
    term = search_term(search)
    if term is None:
        return None
    found = union(
        select(col(Opportunity.id)).where(col(Opportunity.number) == term.upper()),
        select(col(Opportunity.id)).where(col(Opportunity.lead_id).in_(_matching_leads(session, term))),
    )
    return col(Opportunity.id).in_(found)


def _page(
    session: Session,
    query: Select[Unpack[Ts]],
    cond: ColumnElement[bool] | None,
    kind: str,
    id_column: Any,
    sort: str,
    after: Any,
    descending: bool,
    limit: int,
) -> tuple[list[Any], list[Any] | None]:
    """One page of ``query`` (up to ``limit`` rows) and the key of the next."""
    column = _sort_column(kind, sort)
    if cond is not None:
        query = query.where(cond)
    statement = _keyset(dialect_of(session), query, column, id_column, sort, after, descending, limit + 1)
    raw = list(session.execute(statement).all())
    return raw[:limit], _cursor(raw, limit, column)


def page_prospects(
    session: Session,
    actor: Actor,
    *,
    search: str | None = None,
    sort: str = "number",
    descending: bool = True,
    after: Any = None,
    limit: int = 60,
) -> ProspectPage:
    """One page of prospects (with their lead), newest first by default."""
    require(actor, "prospects.view")
    term = search_term(search)
    if term is not None and is_word(session, term):  # a bounded walk of the sort's index first
        column, unique = _sort_column("prospects", sort), (sort or "number") in UNIQUE
        if after is not None and (not isinstance(after, (list, tuple)) or len(after) != 2):
            raise ValidationFailed({"after": "a page key as returned with the previous page"})
        found = word_page(
            session,
            term,
            sort=column.key,
            unique=unique,
            descending=descending,
            after=list(after) if after is not None else None,
            limit=_limit(limit) + 1,
        )
        more = len(found) > _limit(limit)
        found = found[: _limit(limit)]
        return ProspectPage(rows=[r for r, _, _ in found], after=[found[-1][1], found[-1][2]] if more else None)
    rows, cursor = _page(
        session,
        prospects_query(),
        _prospect_filter(session, search),
        "prospects",
        Prospect.id,
        sort,
        after,
        descending,
        _limit(limit),
    )
    return ProspectPage(rows=[prospect_row(*row) for row in rows], after=cursor)


def page_leads(
    session: Session,
    actor: Actor,
    *,
    search: str | None = None,
    sort: str = "number",
    descending: bool = True,
    after: Any = None,
    limit: int = 60,
    view: str | None = B2B_LEADS_VIEW,
) -> LeadPage:
    """One page of the leads of a view (default "All commerce B2B leads"), newest first by default."""
    require(actor, "prospects.view")
    rows, cursor = _page(
        session,
        leads_query(view),
        _lead_filter(session, search),
        "leads",
        Lead.id,
        sort,
        after,
        descending,
        _limit(limit),
    )
    return LeadPage(rows=[lead_row(*row) for row in rows], after=cursor)


def page_opportunities(
    session: Session,
    actor: Actor,
    *,
    search: str | None = None,
    sort: str = "number",
    descending: bool = True,
    after: Any = None,
    limit: int = 60,
) -> OpportunityPage:
    """One page of opportunities (account, contact, lead and prospect), newest first by default."""
    require(actor, "prospects.view")
    rows, cursor = _page(
        session,
        opportunities_query(),
        _opportunity_filter(session, search),
        "opportunities",
        Opportunity.id,
        sort,
        after,
        descending,
        _limit(limit),
    )
    return OpportunityPage(rows=[opportunity_row(*row) for row in rows], after=cursor)


def counts(session: Session, actor: Actor, *, search: str | None = None) -> dict[str, int]:
    """Rows of each list (the tabs): the kept counters; with a search, the matches (through its indexes)."""
    require(actor, "prospects.view")
    if search_term(search) is None:
        return {kind: counters.total(session, area) for kind, area in zip(KINDS, ("prospect", "lead", "opportunity"))}
    out: dict[str, int] = {}
    for kind, model, cond in (
        ("prospects", Prospect, _prospect_filter(session, search)),
        ("leads", Lead, _lead_filter(session, search)),
        ("opportunities", Opportunity, _opportunity_filter(session, search)),
    ):
        assert cond is not None  # a search term makes every filter
        out[kind] = session.execute(select(func.count()).select_from(model).where(cond)).scalar_one()
    return out
