"""Counts for the console's list areas ("N of M" and the tab labels) whose services are being
reworked elsewhere: customers and proposed changes. Never a scan of a list.

Without a search they are the kept counters (``statuscount``, services/counters.py); a
customer search is counted over the search's own indexes (bounded by its matches). The other
areas count next to their data: ``user_requests.count_by_status``, ``cases.count_by_status``,
``signup.count_by_status``, ``prospects.pages.counts``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session, col

from models.changes import ProposalState
from models.customer import Customer
from services import counters
from services.permissions import Actor, require
from services.search import matching_ids, search_term
from services.text import normalize_email


def customers(session: Session, actor: Actor, *, search: str | None = None) -> int:
    """Customers, or those a search finds (the same matches ``customers.list_customers`` shows)."""
    require(actor, "customer.view")
    term = search_term(search)
    if term is None:
        return counters.total(session, "customer")
    # ``Any``: services.search types its subquery as ``object`` until its own typing lands
    ids: Any = matching_ids(
        session,
        Customer,
        term,
        [col(Customer.account) == term.upper(), col(Customer.email_normalized) == normalize_email(term)],
    )
    return int(session.execute(select(func.count()).select_from(ids.subquery())).scalar_one())


def proposals(session: Session, actor: Actor) -> dict[str, int]:
    """Proposed customer changes per state, with "All" (the Changes area's tabs)."""
    require(actor, "changes.view")
    return counters.by_status(session, "change_proposal", ProposalState)
