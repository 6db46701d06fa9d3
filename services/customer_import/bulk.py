"""The write phase of an import, prepared in the plan phase: customer updates as one executemany
per column set (driver-ready rows on SQLite), audit events and new proposals as bulk inserts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, update
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import UpdateBase
from sqlmodel import Session, col, select

from models.base import table_of
from models.changes import ChangeLine, ChangeProposal, ProposalState
from models.core import AuditEvent
from models.customer import Customer
from services import audit, changes, sequences
from services.customer_import.views import Planned
from services.errors import Conflict
from services.permissions import Actor
from services.store import now
from services.text import normalize_company, normalize_email

CUSTOMERS = Customer.__table__  # type: ignore[attr-defined]
# Core tables for bulk inserts: one executemany (the ORM bulk path would run a statement per row here)
AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
LINES = ChangeLine.__table__  # type: ignore[attr-defined]
PROPOSALS = ChangeProposal.__table__  # type: ignore[attr-defined]
_ID_CHUNK = 2000  # numbers per id lookup (bound parameters per statement stay well under the drivers' limits)


def dump(values: dict[str, Any]) -> str:
    return audit._dump(values) or "{}"


@dataclass
class PlannedUpdates:
    """The customer updates and audit rows of an import, ready for the driver (plan phase)."""

    statements: list[tuple[Any, Any, int]]  # (statement or SQL, rows, expected row count or -1)


def plan_updates(session: Session, actor: Actor, updates: list[Planned], at: datetime) -> PlannedUpdates:
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    events = []
    for cust, values, rep in updates:
        extra = {}
        if "name" in values:
            extra["name_normalized"] = normalize_company(values["name"])
        if "email" in values:
            extra["email_normalized"] = normalize_email(values["email"])
        row = {**values, **extra}
        keys = tuple(sorted(row))
        groups.setdefault(keys, []).append(
            {
                "_id": cust["id"],
                "_v": cust["version"],
                "_nv": cust["version"] + 1,
                **{f"v_{k}": v for k, v in row.items()},
            }
        )
        events.append(
            {
                "at": at,
                "operator": actor.user_name,
                "entity_type": "customer",
                "entity_key": cust["account"],
                "action": "imported",
                "before": dump({k: cust[k] for k in values}),
                "after": dump(values),
                "comment": f"data entity import, line {rep.line}"
                + (f"; applied without approval: {', '.join(rep.unapproved)}" if rep.unapproved else ""),
            }
        )
    dialect = session.get_bind().dialect
    statements = []
    for keys, params in groups.items():
        stmt = (
            update(CUSTOMERS)
            .where(CUSTOMERS.c.id == bindparam("_id"), CUSTOMERS.c.version == bindparam("_v"))
            .values({**{k: bindparam(f"v_{k}") for k in keys}, "version": bindparam("_nv")})
        )
        statements.append((*_prepare_many(dialect, stmt, params), len(params)))
    if events:
        statements.append((*_prepare_many(dialect, insert(AUDIT), events), -1))
    return PlannedUpdates(statements=statements)


def _prepare_many(dialect: Dialect, stmt: UpdateBase, rows: list[dict[str, Any]]) -> tuple[Any, Any]:
    """On SQLite: the SQL and the driver-ready rows, converted here with the columns' bind
    processors (in the plan phase: SQLAlchemy's per-row processing inside the write transaction
    would double its length). Elsewhere the statement and rows as they are."""
    if dialect.name != "sqlite" or not rows:
        return stmt, rows
    compiled = stmt.compile(dialect=dialect, column_keys=list(rows[0]))
    names = {name: i for i, name in enumerate(compiled.positiontup or [])}
    position = sorted(
        (names[compiled.bind_names[bp]], key, bp.type._cached_bind_processor(dialect))
        for key, bp in compiled.binds.items()
        if compiled.bind_names[bp] in names
    )
    # columns the rows leave out get their Python-side defaults, as SQLAlchemy would give them
    table = getattr(stmt, "table", None)
    defaults: dict[str, Any] = {}
    for _, key, _ in position:
        column = table.c.get(key) if table is not None and key not in rows[0] else None
        if column is not None and column.default is not None:
            d = column.default
            defaults[key] = d.arg(_DefaultContext(dialect)) if d.is_callable else (d.arg if d.is_scalar else None)
    if defaults:
        rows = [{**defaults, **row} for row in rows]
    return compiled.string, [tuple(proc(row[key]) if proc else row[key] for _, key, proc in position) for row in rows]


@dataclass
class _DefaultContext:
    """What a column default callable may look at (the dialect), for ``_prepare_many``."""

    dialect: Any


def write_updates(session: Session, planned: PlannedUpdates) -> bool:
    """Run the planned statements; False when an update matched fewer rows than planned
    (a customer changed meanwhile: the caller rolls back)."""
    for stmt, rows, expected in planned.statements:
        count = execute_many(session, stmt, rows, expected)
        if expected >= 0 and count != expected:
            return False
    return True


def execute_many(session: Session, stmt: Any, rows: Any, expected: int = -1) -> int:
    """One executemany of what ``_prepare_many`` gave: SQL and driver-ready rows straight on the
    DBAPI cursor (SQLite), else the statement through the session. The rows it matched
    (``expected`` where the driver cannot count an executemany)."""
    if isinstance(stmt, str):
        dbapi = session.connection().connection.dbapi_connection
        assert dbapi is not None  # a checked-out connection always has one
        cursor = dbapi.cursor()
        try:
            cursor.executemany(stmt, rows)
            return int(cursor.rowcount)
        finally:
            cursor.close()
    result = session.execute(stmt, rows)
    return result.rowcount if session.get_bind().dialect.supports_sane_multi_rowcount else expected  # type: ignore[attr-defined]  # sqlmodel types execute() as Result; an UPDATE's is a CursorResult


def _insert_many(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """One bulk INSERT of ``rows`` (no RETURNING: on SQLite that is a statement per row)."""
    if rows:
        execute_many(session, *_prepare_many(session.get_bind().dialect, insert(table), rows))


def write_proposals(
    session: Session, actor: Actor, proposals: list[Planned], open_props: dict[int, ChangeProposal]
) -> None:
    """Submitted proposals for the approval-field changes; bulk for customers without an open one."""
    if not proposals:
        return
    fresh = [(c, v, r) for c, v, r in proposals if c["id"] not in open_props]
    for cust, values, rep in proposals:  # an unsubmitted proposal exists: add the lines, submit it
        p = open_props.get(cust["id"])
        if p is None:
            continue
        c = session.get_one(Customer, cust["id"])
        changes._put_lines(session, actor, p, c, values)
        changes.submit_proposal(session, actor, p, f"data entity import, line {rep.line}")
        rep.proposal = p.number
    if not fresh:
        return
    changes._ensure_sequence(session)
    prefix, width, first = sequences.reserve_block(session, "change", len(fresh))
    at = now(session)
    rows = [
        {
            "number": sequences.format_number(prefix, width, first + i),
            "customer_id": c["id"],
            "account": c["account"],
            "state": ProposalState.NOT_SUBMITTED.value,
            "created_at": at,
            "created_by": actor.user_name,
            "updated_at": at,
            "source": "import",
            "version": 1,
        }
        for i, (c, _, _) in enumerate(fresh)
    ]
    # one executemany, then the ids by number (unique, indexed): an INSERT .. RETURNING that keeps
    # the rows' order runs one statement per row on SQLite, inside the write lock
    _insert_many(session, PROPOSALS, rows)
    numbers = [row["number"] for row in rows]
    by_number: dict[str, int] = {}
    for start in range(0, len(numbers), _ID_CHUNK):
        by_number.update(
            (n, i)
            for n, i in session.execute(
                select(PROPOSALS.c.number, PROPOSALS.c.id).where(
                    PROPOSALS.c.number.in_(numbers[start : start + _ID_CHUNK])
                )
            ).all()
        )
    ids = [by_number[n] for n in numbers]
    lines, events = [], []
    for pid, row, (cust, values, rep) in zip(ids, rows, fresh):
        rep.proposal = row["number"]
        for field, value in values.items():
            lines.append(
                {
                    "proposal_id": pid,
                    "field": field,
                    "original_value": changes.encode(field, cust[field]),
                    "proposed_value": changes.encode(field, value),
                    "proposed_by": actor.user_name,
                    "proposed_at": at,
                    "decision": "pending",
                }
            )
        events.append(
            {
                "at": at,
                "operator": actor.user_name,
                "entity_type": changes.ENTITY,
                "entity_key": row["number"],
                "action": "created",
                "before": None,
                "after": dump({"customer": cust["account"], "state": row["state"], "source": "import"}),
                "comment": None,
            }
        )
        events.append(
            {
                "at": at,
                "operator": actor.user_name,
                "entity_type": changes.ENTITY,
                "entity_key": row["number"],
                "action": "lines proposed",
                "before": None,
                "after": dump({k: changes.plain_value(k, v) for k, v in values.items()}),
                "comment": f"customer {cust['account']}; data entity import, line {rep.line}",
            }
        )
    _insert_many(session, LINES, lines)
    _insert_many(session, AUDIT, events)
    # Not submitted -> Submitted (the "submit" transition), one statement for the chunk, then the workflow
    t = changes.TRANSITIONS["submit"]
    result = session.execute(
        update(ChangeProposal)
        .where(
            col(ChangeProposal.id).in_(ids),
            col(ChangeProposal.state).in_(sorted(t.sources)),
            col(ChangeProposal.version) == 1,
        )
        .values(
            state=ProposalState.SUBMITTED.value, submitted_by=actor.user_name, submitted_at=at, version=2, updated_at=at
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != len(ids):  # type: ignore[attr-defined]  # sqlmodel types execute() as Result; an UPDATE's is a CursorResult
        raise Conflict("proposals were changed by someone else during the import: run it again")
    events = []
    for row, (cust, values, rep) in zip(rows, fresh):
        events.append(
            {
                "at": at,
                "operator": actor.user_name,
                "entity_type": changes.ENTITY,
                "entity_key": row["number"],
                "action": "submitted",
                "before": dump({"state": ProposalState.NOT_SUBMITTED.value}),
                "after": dump({"state": ProposalState.SUBMITTED.value, "fields": sorted(values)}),
                "comment": f"data entity import, line {rep.line}",
            }
        )
        events.append(
            {
                "at": at,
                "operator": actor.user_name,
                "entity_type": "customer",
                "entity_key": cust["account"],
                "action": "changes submitted",
                "before": None,
                "after": dump({"proposal": row["number"], "fields": sorted(values)}),
                "comment": changes.PENDING_STATUS,
            }
        )
    _insert_many(session, AUDIT, events)
    engine = changes._engine()
    if not changes.workflow_possible(session):
        return
    started: list[tuple[int, int]] = []
    for pid, row in zip(ids, rows):
        instance = engine.submit(session, actor, changes.DOC_TYPE, row["number"], "data entity import")
        if instance is not None:
            started.append((pid, instance))
    if started:
        session.execute(
            update(table_of(ChangeProposal))
            .where(table_of(ChangeProposal).c.id == bindparam("_id"))
            .values(workflow_instance_id=bindparam("_wf")),
            [{"_id": p, "_wf": w} for p, w in started],
        )
