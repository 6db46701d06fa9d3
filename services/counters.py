"""Rows per status of each area, kept by the store (triggers of migration 0007), read in O(1).

Every insert, delete and status change of a counted table adds to / subtracts from
``statuscount`` in the same transaction (SQLite triggers; PostgreSQL plpgsql triggers,
plus a TRUNCATE trigger), whichever code path wrote it: services, imports, bulk SQL.
A count is the sum over its slots (migration 0012): on PostgreSQL a transaction adds to a
slot row no other open transaction holds, so writers of one area never queue on a counter;
SQLite keeps slot 0 only. Read through ``read`` (or sum the slots), never one row.
``check`` recounts every area and, with ``repair``, writes the recount
(``regdesk db check-counters [--repair]``).
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel
from sqlalchemy import bindparam, delete, func, literal, select, text
from sqlmodel import Session, col

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


# built once: the counts are read on every list view, and building a statement (and its cache
# key) costs more than the read of these few rows itself
_READ = (
    select(col(StatusCount.status), func.sum(col(StatusCount.n)))
    .where(col(StatusCount.area) == bindparam("area"))
    .group_by(col(StatusCount.status))
)


def read(session: Session, area: str) -> dict[str, int]:
    """The kept counts of one area: status -> rows (statuses with no rows are absent), slots summed."""
    rows = session.connection().execute(_READ, {"area": area}).all()
    return {status: int(n) for status, n in rows if n}


def by_status(session: Session, area: str, statuses: Iterable[str]) -> dict[str, int]:
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


def compare(session: Session, area: str) -> dict[str, tuple[int, int]]:
    """status -> (kept, counted) of one area, both read by one statement (one snapshot), so
    writers committing meanwhile cannot make a correct counter look wrong."""
    table, column = AREAS[area]
    key = column if column else "''"
    rows = session.execute(
        text(
            f"SELECT status, sum(kept), sum(counted) FROM ("
            f"SELECT status, n AS kept, 0 AS counted FROM statuscount WHERE area = :area "
            f"UNION ALL SELECT {key} AS status, 0 AS kept, 1 AS counted FROM {table}) t GROUP BY status"
        ),
        {"area": area},
    ).all()
    return {str(status): (int(kept or 0), int(counted or 0)) for status, kept, counted in rows}


def check(session: Session, actor: Actor, *, repair: bool = False) -> list[CounterCheck]:
    """Every (area, status) whose kept count differs from a recount; ``repair`` (in a write
    transaction) rewrites those areas, their slots folded into slot 0. On PostgreSQL a repair
    first takes a SHARE lock on the area's table: writers of it wait for the few milliseconds
    of the rewrite, and no change committed meanwhile is lost or counted twice."""
    require(actor, "audit.view")  # a recount is a read of what the audit trail vouches for
    if repair:
        require(actor, "admin.parameters")  # rewriting store-kept figures: administrators
    postgres = session.get_bind().dialect.name == "postgresql"
    wrong: list[CounterCheck] = []
    for area, (table, _column) in AREAS.items():
        bad = [
            CounterCheck(area=area, status=s, kept=kept, counted=counted)
            for s, (kept, counted) in sorted(compare(session, area).items())
            if kept != counted
        ]
        if bad and repair:
            if postgres:
                session.execute(text(f"LOCK TABLE {table} IN SHARE MODE"))
                bad = [
                    CounterCheck(area=area, status=s, kept=kept, counted=counted)
                    for s, (kept, counted) in sorted(compare(session, area).items())
                    if kept != counted
                ]
            counted = recount(session, area)
            session.execute(delete(StatusCount).where(col(StatusCount.area) == area))
            for status, n in counted.items():
                session.add(StatusCount(area=area, status=status, slot=0, n=n))
            session.flush()
        wrong += bad
    return wrong
