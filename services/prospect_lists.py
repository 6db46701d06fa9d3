"""The Prospects area's three lists (prospects, leads, opportunities) one keyset page at a time.

``services.prospects`` reads each list newest first up to a limit; the console's record browser
needs pages it can continue from a key, in any offered sort, filtered by a search, with counts
that do not scan. Every sort here walks an index, with the row id as the tie-breaker:

* prospects: ``number`` (unique), ``status`` (``ix_prospect_status_id``), ``company``
  (``company_normalized``), ``email`` (``email_normalized``);
* leads and opportunities: ``number`` (unique). Their status has no index (no sort on it).

A page's ``after`` is ``[sort value, id]`` of its last row (JSON-friendly); pass it back to
continue; ``None`` when the list ends there. A search is the prospects' own (number, e-mail
by b-tree, words by the text index); a lead or opportunity matches by its own number or by
its prospect. Counts without a search are the kept counters (``statuscount``); with one they
count the matches, which the search's indexes bound.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, or_, tuple_
from sqlmodel import Session, col, select

from models.customer import Customer
from models.prospects import B2B_LEADS_VIEW, Lead, Opportunity, Prospect
from services import counters
from services.errors import ValidationFailed
from services.permissions import Actor, require
from services.prospects import LeadRow, OpportunityRow, ProspectRow
from services.search import matching_ids, search_term
from services.text import normalize_email

KINDS = ("prospects", "leads", "opportunities")
SORTS: dict[str, dict[str, Any]] = {
    "prospects": {"number": Prospect.number, "status": Prospect.status, "company": Prospect.company_normalized,
                  "email": Prospect.email_normalized},
    "leads": {"number": Lead.number},
    "opportunities": {"number": Opportunity.number},
}
UNIQUE = {"number"}  # a unique sort column needs no id in its keyset


class ProspectPage(BaseModel):
    rows: list[ProspectRow]
    after: list[Any] | None = None


class LeadPage(BaseModel):
    rows: list[LeadRow]
    after: list[Any] | None = None


class OpportunityPage(BaseModel):
    rows: list[OpportunityRow]
    after: list[Any] | None = None


def _sort_column(kind: str, sort: str):
    try:
        return SORTS[kind][sort or "number"]
    except KeyError:
        raise ValidationFailed({"sort": "one of: " + ", ".join(SORTS[kind])}) from None


def _limit(limit: int) -> int:
    return max(1, min(int(limit), 5000))


def _keyset(query, column, id_column, sort: str, after: Any, descending: bool):
    """``query`` continued after ``after`` ([value, id]) and ordered by (column, id)."""
    unique = (sort or "number") in UNIQUE
    if after is not None:
        try:
            value, last_id = after
        except (TypeError, ValueError):
            raise ValidationFailed({"after": "a page key as returned with the previous page"}) from None
        if unique:
            query = query.where(column < value if descending else column > value)
        else:
            pair = tuple_(column, id_column)
            query = query.where(pair < (value, last_id) if descending else pair > (value, last_id))
    order = [column] if unique else [column, id_column]
    return query.order_by(*[c.desc() if descending else c.asc() for c in order])


def _matching_prospects(session: Session, term: str):
    return matching_ids(session, Prospect, term, [Prospect.number == term.upper(),
                                                 Prospect.email_normalized == normalize_email(term)])


def _prospect_filter(session: Session, search: str | None):
    term = search_term(search)
    if term is None:
        return None
    return col(Prospect.id).in_(_matching_prospects(session, term))


def _lead_filter(session: Session, search: str | None):
    term = search_term(search)
    if term is None:
        return None
    return or_(Lead.number == term.upper(), col(Lead.prospect_id).in_(_matching_prospects(session, term)))


def _opportunity_filter(session: Session, search: str | None):
    term = search_term(search)
    if term is None:
        return None
    leads = select(Lead.id).where(or_(Lead.number == term.upper(),
                                      col(Lead.prospect_id).in_(_matching_prospects(session, term))))
    return or_(Opportunity.number == term.upper(), col(Opportunity.lead_id).in_(leads))


def page_prospects(session: Session, actor: Actor, *, search: str | None = None, sort: str = "number",
                   descending: bool = True, after: Any = None, limit: int = 60) -> ProspectPage:
    """One page of prospects (with their lead), newest first by default."""
    require(actor, "prospects.view")
    limit = _limit(limit)
    column = _sort_column("prospects", sort)
    query = select(Prospect, Lead.number, Lead.status).join(Lead, Lead.prospect_id == Prospect.id, isouter=True)
    cond = _prospect_filter(session, search)
    if cond is not None:
        query = query.where(cond)
    query = _keyset(query, column, Prospect.id, sort, after, descending)
    raw = session.exec(query.limit(limit + 1)).all()
    rows = [ProspectRow(number=p.number, status=p.status, company=p.company, contact=f"{p.first_name} {p.last_name}",
                        email=p.email, zip=p.zip, store_name=p.store_name, created_at=p.created_at, lead=ln,
                        lead_status=ls) for p, ln, ls in raw[:limit]]
    cursor = None
    if len(raw) > limit:
        last = raw[limit - 1][0]
        cursor = [getattr(last, column.key), last.id]
    return ProspectPage(rows=rows, after=cursor)


def page_leads(session: Session, actor: Actor, *, search: str | None = None, sort: str = "number",
               descending: bool = True, after: Any = None, limit: int = 60,
               view: str | None = B2B_LEADS_VIEW) -> LeadPage:
    """One page of the leads of a view (default "All commerce B2B leads"), newest first by default."""
    require(actor, "prospects.view")
    limit = _limit(limit)
    column = _sort_column("leads", sort)
    query = select(Lead, Prospect).join(Prospect, Lead.prospect_id == Prospect.id)
    if view:
        query = query.where(Lead.view == view)
    cond = _lead_filter(session, search)
    if cond is not None:
        query = query.where(cond)
    query = _keyset(query, column, Lead.id, sort, after, descending)
    raw = session.exec(query.limit(limit + 1)).all()
    rows = [LeadRow(number=ld.number, status=ld.status, view=ld.view, topic=ld.topic, prospect=p.number,
                    company=p.company, contact=f"{p.first_name} {p.last_name}", email=p.email,
                    created_at=ld.created_at) for ld, p in raw[:limit]]
    cursor = None
    if len(raw) > limit:
        last = raw[limit - 1][0]
        cursor = [getattr(last, column.key), last.id]
    return LeadPage(rows=rows, after=cursor)


def page_opportunities(session: Session, actor: Actor, *, search: str | None = None, sort: str = "number",
                       descending: bool = True, after: Any = None, limit: int = 60) -> OpportunityPage:
    """One page of opportunities (account, contact, lead and prospect), newest first by default."""
    require(actor, "prospects.view")
    limit = _limit(limit)
    column = _sort_column("opportunities", sort)
    person = Customer.__table__.alias("person")
    query = (select(Opportunity, Lead.number, Prospect.number, Customer.account, Customer.name, person.c.account)
             .join(Lead, Opportunity.lead_id == Lead.id).join(Prospect, Lead.prospect_id == Prospect.id)
             .join(Customer, Opportunity.account_id == Customer.id)
             .join(person, Opportunity.contact_customer_id == person.c.id))
    cond = _opportunity_filter(session, search)
    if cond is not None:
        query = query.where(cond)
    query = _keyset(query, column, Opportunity.id, sort, after, descending)
    raw = session.exec(query.limit(limit + 1)).all()
    rows = [OpportunityRow(number=o.number, status=o.status, topic=o.topic, lead=ln, prospect=pn, account=acc,
                           account_name=name, contact_account=pacc, email_decision=o.email_decision,
                           created_at=o.created_at) for o, ln, pn, acc, name, pacc in raw[:limit]]
    cursor = None
    if len(raw) > limit:
        last = raw[limit - 1][0]
        cursor = [getattr(last, column.key), last.id]
    return OpportunityPage(rows=rows, after=cursor)


def counts(session: Session, actor: Actor, *, search: str | None = None) -> dict[str, int]:
    """Rows of each list (the tabs): the kept counters; with a search, the matches (through its indexes)."""
    require(actor, "prospects.view")
    if search_term(search) is None:
        return {kind: counters.total(session, area)
                for kind, area in zip(KINDS, ("prospect", "lead", "opportunity"))}
    out = {}
    for kind, model, cond in (("prospects", Prospect, _prospect_filter(session, search)),
                              ("leads", Lead, _lead_filter(session, search)),
                              ("opportunities", Opportunity, _opportunity_filter(session, search))):
        out[kind] = session.execute(select(func.count()).select_from(model).where(cond)).scalar_one()
    return out

