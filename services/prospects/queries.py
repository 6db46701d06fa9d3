"""Reading prospects, leads and opportunities: lookups by number, the three lists (newest first, up
to a limit, by status), the counts per status, the prospect's detail. The lists' queries and rows
are shared with the keyset pages (``pages``)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, TypeVar, TypeVarTuple, Unpack

from sqlalchemy import Integer, Select, bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, SQLModel, col, select

from models.base import LabeledEnum, table_of
from models.customer import Customer
from models.prospects import (
    B2B_LEADS_VIEW,
    Lead,
    LeadStatus,
    Opportunity,
    OpportunityStatus,
    Prospect,
    ProspectStatus,
)
from models.signup import UserRequest
from services import audit, counters, sequences, transitions
from services.errors import NotFound, RegdeskError, ValidationFailed
from services.keyed_search import (
    KEYS_ONLY,
    KEYS_OR_WORDS,
    NOWHERE,
    RARE,
    first_shape,
    found,
    list_rows,
    matches,
    search_params,
    walk_page,
    walk_params,
)
from services.keyset import keyset_page
from services.permissions import Actor, require
from services.search import dialect_of, search_term
from services.text import clean, normalize_email

from .duplicates import email_owners, find_duplicates
from .table import ENTITY, LEAD_ENTITY, LEAD_PROCESS, OPP_ENTITY, OPPORTUNITY_PROCESS, L, O
from .views import EmailOwner, LeadRow, OpportunityRow, ProspectDetail, ProspectRow

M = TypeVar("M", Prospect, Lead, Opportunity)
Ts = TypeVarTuple("Ts")

# ------------------------------------------------------------------ lookups


def _by_number(session: Session, model: type[M], number: str, prefix: str, what: str) -> M:
    key = clean(number).upper()
    if key.isascii() and key.isdigit() and len(key) <= 19:  # "12" -> its number; never a 5000-digit int
        key = sequences.format_number(prefix, 6, int(key))
    row = session.exec(select(model).where(col(model.number) == key)).first()
    if row is None:
        raise NotFound(f"no {what} {number!r}")
    return row


def get_prospect(session: Session, number: str) -> Prospect:
    return _by_number(session, Prospect, number, "PRO-", "prospect")


def get_lead(session: Session, number: str) -> Lead:
    """A lead by its number, or by its prospect's number."""
    key = clean(number).upper()
    if key.startswith("PRO-"):  # the prospect's number finds its lead too
        prospect = get_prospect(session, key)
        lead = session.exec(select(Lead).where(col(Lead.prospect_id) == prospect.id)).first()
        if lead is None:
            raise NotFound(f"prospect {prospect.number} has no lead")
        return lead
    return _by_number(session, Lead, number, "LEAD-", "lead")


def get_opportunity(session: Session, number: str) -> Opportunity:
    return _by_number(session, Opportunity, number, "OPP-", "opportunity")


def prospect_of(session: Session, lead: Lead) -> Prospect:
    prospect = session.get(Prospect, lead.prospect_id)
    assert prospect is not None  # a lead's prospect is a foreign key, never deleted
    return prospect


def lead_of(session: Session, opp: Opportunity) -> Lead:
    lead = session.get(Lead, opp.lead_id)
    assert lead is not None  # an opportunity's lead is a foreign key, never deleted
    return lead


# ------------------------------------------------------------------ the lists' queries and rows (shared with pages)


def matching_prospects(session: Session, term: str) -> Any:
    """Ids of the prospects a search term finds, as one subquery with the term's values bound (the
    list's page or count embeds it: one statement): an exact number or e-mail by its index, else
    company, names and e-mail text by the text index (``services.keyed_search``)."""
    return found(dialect_of(session), Prospect, term, _prospect_keys(term))


# a word search's page of prospects, in core columns (the walk's rows are tested by name)
_PROSPECT_COLUMNS: tuple[Any, ...] = (
    col(Prospect.id),
    col(Prospect.number),
    col(Prospect.status),
    col(Prospect.company),
    col(Prospect.first_name),
    col(Prospect.last_name),
    col(Prospect.email),
    col(Prospect.zip),
    col(Prospect.store_name),
    col(Prospect.created_at),
    col(Prospect.company_normalized),
    col(Prospect.email_normalized),
)
_PROSPECT_KEYS = ("number", "email_normalized")


def _prospect_keys(term: str) -> list[tuple[str, Any]]:
    return [("number", term.upper()), ("email_normalized", normalize_email(term))]


def is_word(session: Session, term: str) -> bool:
    """Whether ``term`` is long enough for the text index (its search walks: ``word_page``)."""
    return search_params(dialect_of(session), Prospect, term, _prospect_keys(term))[0] == KEYS_OR_WORDS


@lru_cache(maxsize=64)
def _word_statement(
    dialect: str, sort: str, unique: bool, descending: bool, by_status: bool, keyed: bool, shape: str = KEYS_OR_WORDS
) -> Any:
    """A word search's page of prospects (with their lead) in the order of the column ``sort``
    (and the id unless ``unique``), built once: a bounded walk of that order's index, else the
    text index (``keyed_search.walk_page``); the leads are read for the page's rows only, not for
    every walked row. ``shape`` (``keyed_search.first_shape``): ``KEYS_ONLY`` (an exact number or
    e-mail: the key probes' rows alone, b-tree probes only) or ``RARE`` (the key probes, else the
    text index's few matches sorted), not the walk's statement. Values are
    parameters (``status``, ``after_value`` and ``after_id``, ``limit``, the search's and the walk's)."""
    query = sa_select(*_PROSPECT_COLUMNS)
    if by_status:
        query = query.where(col(Prospect.status) == bindparam("status"))
    key = table_of(Prospect).c[sort]
    columns = [key] if unique else [key, col(Prospect.id)]
    after = None
    if keyed:
        after = [bindparam("after_value", type_=key.type)] + ([] if unique else [bindparam("after_id", type_=Integer)])
    if shape in (KEYS_ONLY, RARE):
        found_by = KEYS_ONLY if shape == KEYS_ONLY else KEYS_OR_WORDS
        probed = query.where(col(Prospect.id).in_(matches(dialect, Prospect, _PROSPECT_KEYS, found_by)))
        page = keyset_page(  # its few rows are sorted anyway: one row-value predicate, not an arm per column
            dialect,
            probed,
            columns,
            after,
            descending=descending,
            limit=bindparam("limit", type_=Integer),
            seek_arms=False,
        ).subquery("page")
    else:
        page = walk_page(dialect, Prospect, _PROSPECT_KEYS, query, columns, after, descending=descending).subquery(
            "page"
        )
    lead = table_of(Lead)
    order = [page.c[sort]] if unique else [page.c[sort], page.c.id]
    return (
        sa_select(*page.c, lead.c.number.label("lead_number"), lead.c.status.label("lead_status"))
        .select_from(page.outerjoin(lead, lead.c.prospect_id == page.c.id))
        .order_by(*[c.desc() if descending else c.asc() for c in order])
    )


def word_page(
    session: Session,
    term: str,
    *,
    sort: str = "id",
    unique: bool = True,
    descending: bool = True,
    after: list[Any] | None = None,
    status: str | None = None,
    limit: int,
) -> list[tuple[ProspectRow, Any, int]]:
    """Up to ``limit`` prospects a word (``is_word``) finds, in the order of the column ``sort``
    (and the id unless ``unique``) after ``after`` ([value, id]): each row with its sort value
    and id (a cursor). About a page of the order's index for a common word, not every match."""
    dialect = dialect_of(session)
    params: dict[str, Any] = {"limit": limit}
    params.update(search_params(dialect, Prospect, term, _prospect_keys(term))[1])
    rows = list_rows(session, "prospect")  # the walk's budget sized to the list
    params.update(walk_params(dialect, Prospect, term, rows=rows, page=limit))
    shape = first_shape(session, term, ((Prospect, _PROSPECT_KEYS),), "prospect", params, limit)
    if shape == NOWHERE:  # no key, no row with the word: nothing to read
        return []
    if status is not None:
        params["status"] = status
    if after is not None:
        params["after_value"] = after[0]
        if not unique:
            params["after_id"] = after[1]
    statement = _word_statement(dialect, sort, unique, descending, status is not None, after is not None, shape)
    out = []
    for r in session.connection().execute(statement, params).mappings():
        row = ProspectRow(
            number=r["number"],
            status=r["status"],
            company=r["company"],
            contact=f"{r['first_name']} {r['last_name']}",
            email=r["email"],
            zip=r["zip"],
            store_name=r["store_name"],
            created_at=r["created_at"],
            lead=r["lead_number"],
            lead_status=r["lead_status"],
        )
        out.append((row, r[sort], r["id"]))
    return out


def prospects_query() -> Select[Prospect, str, str]:  # the lead's columns are None without a lead
    """Prospects with their lead's number and status."""
    return sa_select(Prospect, col(Lead.number), col(Lead.status)).join(
        Lead, col(Lead.prospect_id) == col(Prospect.id), isouter=True
    )


def prospect_row(p: Prospect, lead: str | None, lead_status: str | None) -> ProspectRow:
    return ProspectRow(
        number=p.number,
        status=p.status,
        company=p.company,
        contact=f"{p.first_name} {p.last_name}",
        email=p.email,
        zip=p.zip,
        store_name=p.store_name,
        created_at=p.created_at,
        lead=lead,
        lead_status=lead_status,
    )


def leads_query(view: str | None) -> Select[Lead, Prospect]:
    """The leads of a view (all views: None) with their prospect."""
    query = sa_select(Lead, Prospect).join(Prospect, col(Lead.prospect_id) == col(Prospect.id))
    return query.where(col(Lead.view) == view) if view else query


def lead_row(ld: Lead, p: Prospect) -> LeadRow:
    return LeadRow(
        number=ld.number,
        status=ld.status,
        view=ld.view,
        topic=ld.topic,
        prospect=p.number,
        company=p.company,
        contact=f"{p.first_name} {p.last_name}",
        email=p.email,
        created_at=ld.created_at,
    )


def opportunities_query() -> Select[Opportunity, str, str, str, str, Any]:
    """Opportunities with their lead, prospect, account (organization) and contact (person customer)."""
    person = table_of(Customer).alias("person")
    return (
        sa_select(
            Opportunity,
            col(Lead.number),
            col(Prospect.number),
            col(Customer.account),
            col(Customer.name),
            person.c.account,
        )
        .join(Lead, col(Opportunity.lead_id) == col(Lead.id))
        .join(Prospect, col(Lead.prospect_id) == col(Prospect.id))
        .join(Customer, col(Opportunity.account_id) == col(Customer.id))
        .join(person, col(Opportunity.contact_customer_id) == person.c.id)
    )


def opportunity_row(
    o: Opportunity, lead: str, prospect: str, account: str, account_name: str, contact_account: str
) -> OpportunityRow:
    return OpportunityRow(
        number=o.number,
        status=o.status,
        topic=o.topic,
        lead=lead,
        prospect=prospect,
        account=account,
        account_name=account_name,
        contact_account=contact_account,
        email_decision=o.email_decision,
        created_at=o.created_at,
    )


# ------------------------------------------------------------------ lists, counts, detail


def _status_filter(enum: type[LabeledEnum], column: Any, status: str | None) -> ColumnElement[bool] | None:
    if not status or status == "All":
        return None
    try:
        return col(column) == enum.parse(status).value
    except ValueError as exc:
        raise ValidationFailed({"status": str(exc)}) from None


def _newest(
    query: Select[Unpack[Ts]], model: type[SQLModel], cond: ColumnElement[bool] | None, limit: int
) -> Select[Unpack[Ts]]:
    if cond is not None:
        query = query.where(cond)
    return query.order_by(col(getattr(model, "id")).desc()).limit(max(1, min(limit, 5000)))


def list_prospects(
    session: Session, actor: Actor, *, status: str | None = None, search: str | None = None, limit: int = 200
) -> list[ProspectRow]:
    require(actor, "prospects.view")
    query = prospects_query()
    term = search_term(search)
    cond = _status_filter(ProspectStatus, Prospect.status, status)
    if term is not None and is_word(session, term):  # a bounded walk of the id index first
        value = ProspectStatus.parse(status).value if cond is not None and status else None
        return [row for row, _, _ in word_page(session, term, status=value, limit=max(1, min(limit, 5000)))]
    if term is not None:
        query = query.where(col(Prospect.id).in_(matching_prospects(session, term)))
    rows = session.execute(_newest(query, Prospect, cond, limit))
    return [prospect_row(*row) for row in rows.all()]


def list_leads(
    session: Session, actor: Actor, *, status: str | None = None, view: str | None = B2B_LEADS_VIEW, limit: int = 200
) -> list[LeadRow]:
    """The leads of a view (default "All commerce B2B leads"), newest first."""
    require(actor, "prospects.view")
    rows = session.execute(_newest(leads_query(view), Lead, _status_filter(LeadStatus, Lead.status, status), limit))
    return [lead_row(*row) for row in rows.all()]


def list_opportunities(
    session: Session, actor: Actor, *, status: str | None = None, limit: int = 200
) -> list[OpportunityRow]:
    require(actor, "prospects.view")
    rows = session.execute(
        _newest(
            opportunities_query(), Opportunity, _status_filter(OpportunityStatus, Opportunity.status, status), limit
        )
    )
    return [opportunity_row(*row) for row in rows.all()]


def counts(session: Session, actor: Actor) -> dict[str, dict[str, int]]:
    """Rows per status of prospects, leads (B2B view) and opportunities, for the tabs: the kept counters."""
    require(actor, "prospects.view")
    return {
        name: counters.by_status(session, area, enum)
        for name, area, enum in (
            ("prospects", "prospect", ProspectStatus),
            ("leads", "lead", LeadStatus),
            ("opportunities", "opportunity", OpportunityStatus),
        )
    }


def _account(session: Session, customer_id: int) -> str | None:
    return session.exec(select(Customer.account).where(col(Customer.id) == customer_id)).first()


def show_prospect(session: Session, actor: Actor, number: str) -> ProspectDetail:
    require(actor, "prospects.view")
    key = clean(number).upper()
    if key.startswith("LEAD-"):
        prospect = prospect_of(session, get_lead(session, key))
    elif key.startswith("OPP-"):
        prospect = prospect_of(session, lead_of(session, get_opportunity(session, key)))
    else:
        prospect = get_prospect(session, key)
    lead = session.exec(select(Lead).where(col(Lead.prospect_id) == prospect.id)).first()
    opp = session.exec(select(Opportunity).where(col(Opportunity.lead_id) == lead.id)).first() if lead else None
    account = contact_account = ur_number = None
    if opp is not None:
        account = _account(session, opp.account_id)
        contact_account = _account(session, opp.contact_customer_id)
        if opp.user_request_id:
            ur_number = session.exec(
                select(UserRequest.number).where(col(UserRequest.id) == opp.user_request_id)
            ).first()
    actions: list[str] = []
    if actor.can("prospects.process"):
        if lead is not None and lead.status == L.OPEN:
            actions += ["qualify", "disqualify"]
        if opp is not None and opp.status == O.OPEN:
            actions += ["won", "lost"]
    history = audit.history(session, ENTITY, prospect.number)
    if lead is not None:
        history += audit.history(session, LEAD_ENTITY, lead.number)
    if opp is not None:
        history += audit.history(session, OPP_ENTITY, opp.number)
    history.sort(key=lambda e: e.id)
    data = {name: getattr(prospect, name) for name in ProspectDetail.model_fields if hasattr(prospect, name)}
    return ProspectDetail(
        **data,
        lead=lead.number if lead else None,
        lead_status=lead.status if lead else None,
        opportunity=opp.number if opp else None,
        opportunity_status=opp.status if opp else None,
        account=account,
        contact_account=contact_account,
        user_request=ur_number,
        duplicates=find_duplicates(session, prospect),
        history=history,
        actions=actions,
    )


def refusal(session: Session, actor: Actor, number: str, action: str) -> str | None:
    """Why ``actor`` cannot ``action`` the record ``number`` (a prospect's, lead's or opportunity's
    number) as it is now, in the words its command would refuse with; None: nothing stands against
    it (the command checks again). Asked by the console before it opens the action's form.
    ``action``: qualify or disqualify (its lead), won or lost (its opportunity)."""
    require(actor, "prospects.view")
    key = clean(number).upper()
    try:
        require(actor, "prospects.process")
        if action in ("qualify", "disqualify"):
            lead = lead_of(session, get_opportunity(session, key)) if key.startswith("OPP-") else get_lead(session, key)
            transitions.check(session, LEAD_PROCESS, lead, action)
            return None
        if key.startswith("OPP-"):
            opp = get_opportunity(session, key)
        else:
            lead = get_lead(session, key)
            found = session.exec(select(Opportunity).where(col(Opportunity.lead_id) == lead.id)).first()
            if found is None:
                return f"{lead.number} has no opportunity yet ({lead.status}): qualify the lead first"
            opp = found
        transitions.check(session, OPPORTUNITY_PROCESS, opp, action)
    except RegdeskError as exc:
        return exc.message
    return None


def qualify_preview(session: Session, actor: Actor, lead_number: str) -> list[EmailOwner]:
    """Who already uses the requester's e-mail (empty: qualification needs no choice)."""
    require(actor, "prospects.view")
    return email_owners(session, prospect_of(session, get_lead(session, lead_number)).email)
