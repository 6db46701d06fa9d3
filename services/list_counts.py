"""Counts for the console's list areas ("N of M" and the tab labels), never a scan of a list.

Without a search they are the kept counters (``statuscount``, services/counters.py); a
customer search is counted over the search's own indexes (bounded by its matches). The
lists whose services search in memory (user requests) have no count of a search.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session

from models.changes import ProposalState
from models.customer import Customer
from models.signup import UserRequestStatus
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
    ids = matching_ids(session, Customer, term, [Customer.account == term.upper(),
                                                Customer.email_normalized == normalize_email(term)]).subquery()
    return int(session.execute(select(func.count()).select_from(ids)).scalar_one())


def user_requests(session: Session, actor: Actor) -> dict[str, int]:
    """User requests per status, with "All" (the tabs of the User requests area)."""
    require(actor, "user_request.view")
    return counters.by_status(session, "user_request", UserRequestStatus)


def proposals(session: Session, actor: Actor) -> dict[str, int]:
    """Proposed customer changes per state, with "All" (the Changes area's tabs)."""
    require(actor, "changes.view")
    return counters.by_status(session, "change_proposal", ProposalState)
