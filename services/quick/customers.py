"""``regdesk customers list`` without a search: the same rows as ``services.customers.list_customers``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from services.permissions import Actor

if TYPE_CHECKING:
    pass


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
