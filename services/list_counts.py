"""Counts for the console's list areas ("N of M" and the tab labels) whose services are being
reworked elsewhere: customers and proposed changes. Never a scan of a list.

Without a search they are the kept counters (``statuscount``, services/counters.py); a
customer search is counted over the search's own indexes (bounded by its matches). The other
areas count next to their data: ``user_requests.count_by_status``, ``cases.count_by_status``,
``signup.count_by_status``, ``prospects.pages.counts``.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from models.changes import ProposalState
from models.customer import Customer
from services import counters
from services.keyed_search import matches, search_params
from services.permissions import Actor, require
from services.search import dialect_of, search_term


@lru_cache(maxsize=8)
def _customer_count(dialect: str, shape: str) -> Any:
    """How many customers a search of one shape finds: one statement, built once."""
    from services.customers import _KEYS

    return select(func.count()).select_from(matches(dialect, Customer, _KEYS, shape).subquery())


def customers(session: Session, actor: Actor, *, search: str | None = None) -> int:
    """Customers, or those a search finds (the same matches ``customers.list_customers`` shows)."""
    require(actor, "customer.view")
    term = search_term(search)
    if term is None:
        return counters.total(session, "customer")
    from services.customers import _key_values

    dialect = dialect_of(session)
    shape, params = search_params(dialect, Customer, term, _key_values(term))
    return int(session.connection().execute(_customer_count(dialect, shape), params).scalar_one())


def proposals(session: Session, actor: Actor) -> dict[str, int]:
    """Proposed customer changes per state, with "All" (the Changes area's tabs)."""
    require(actor, "changes.view")
    return counters.by_status(session, "change_proposal", ProposalState)
