"""Rows per status of each area, kept by the store (triggers of migration 0007), read in O(1).

Every insert, delete and status change of a counted table adds to / subtracts from one row
of ``statuscount`` in the same transaction (SQLite triggers; PostgreSQL plpgsql triggers,
plus a TRUNCATE trigger), whichever code path wrote it: services, imports, bulk SQL.
``check`` recounts every area and, with ``repair``, writes the recount
(``regdesk db check-counters [--repair]``).
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import delete, func, literal, select, text
from sqlmodel import Session

from models.core import StatusCount
from services.permissions import Actor, require

# area -> (table, status column or None: every row counts under ""), as migration 0007 set them up
AREAS: dict[str, tuple[str, str | None]] = {
    "signup": ("signuprequest", "status"),
    "user_request": ("userrequest", "status"),
    "customer": ("customer", None),
    "case": ("customercase", "status"),
    "prospect": ("prospect", "status"),
    "lead": ("lead", "status"),
    "opportunity": ("opportunity", "status"),
    "change_proposal": ("changeproposal", "state"),
}


def read(session: Session, area: str) -> dict[str, int]:
    """The kept counts of one area: status -> rows (statuses with no row are absent)."""
    rows = session.execute(select(StatusCount.status, StatusCount.n).where(StatusCount.area == area)).all()
    return {status: n for status, n in rows if n}


def by_status(session: Session, area: str, statuses) -> dict[str, int]:
    """``{"All": total, status: n, ...}`` in the order of ``statuses`` (the tabs' shape)."""
    kept = read(session, area)
    counts = {str(s): kept.get(str(s), 0) for s in statuses}
    return {"All": sum(kept.values()), **counts}


def total(session: Session, area: str) -> int:
    return sum(read(session, area).values())


def recount(session: Session, area: str) -> dict[str, int]:
    table, column = AREAS[area]
    key = text(column) if column else literal("")
    rows = session.execute(select(key, func.count()).select_from(text(table)).group_by(key)).all()
    return {str(status): n for status, n in rows if n}


class CounterCheck(BaseModel):
    area: str
    status: str
    kept: int
    counted: int


def check(session: Session, actor: Actor, *, repair: bool = False) -> list[CounterCheck]:
    """Every (area, status) whose kept count differs from a recount; ``repair`` rewrites those areas."""
    require(actor, "audit.view")  # a recount is a read of what the audit trail vouches for
    if repair:
        require(actor, "admin.parameters")  # rewriting store-kept figures: administrators
    wrong: list[CounterCheck] = []
    for area in AREAS:
        kept, counted = read(session, area), recount(session, area)
        bad = [CounterCheck(area=area, status=s, kept=kept.get(s, 0), counted=counted.get(s, 0))
               for s in sorted(set(kept) | set(counted)) if kept.get(s, 0) != counted.get(s, 0)]
        wrong += bad
        if bad and repair:
            session.execute(delete(StatusCount).where(StatusCount.area == area))
            for status, n in counted.items():
                session.add(StatusCount(area=area, status=status, n=n))
            session.flush()
    return wrong
