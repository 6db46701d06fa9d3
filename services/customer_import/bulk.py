"""The write phase of an import, prepared in the plan phase: customer updates as one executemany
per column set (driver-ready rows on SQLite), audit events and new proposals as bulk inserts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import bindparam, func, insert, update
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import UpdateBase
from sqlmodel import Session, select

from models.base import table_of
from models.changes import ChangeLine, ChangeProposal, ProposalState
from models.core import AuditEvent
from models.customer import Customer
from services import audit, changes, sequences
from services.customer_import.views import Planned
from services.permissions import Actor
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


_NUMBER = "\x00number\x00"  # where a proposal's number goes, in the rows planned before it is taken


@dataclass
class PlannedProposals:
    """The proposals of an import, prepared in the plan phase: everything but their numbers and
    ids (taken in the write phase), driver-ready on SQLite (JSON, bind conversions done)."""

    existing: list[Planned]  # customers with an unsubmitted open proposal: lines added, then submitted
    fresh: list[Planned]
    rows: tuple[Any, Any, list[str] | None]  # one proposal per fresh customer: number _NUMBER (and id 0)
    lines: tuple[Any, Any, list[str] | None]  # (statement or SQL, rows, key order) with proposal_id 0
    events: tuple[Any, Any, list[str] | None]  # four per proposal; _NUMBER in entity_key / after


def plan_proposals(
    session: Session, actor: Actor, proposals: list[Planned], open_props: dict[int, ChangeProposal], at: datetime
) -> PlannedProposals:
    """Build the new proposals' rows, lines and audit events before the write transaction
    (JSON encoding and the driver's conversions: seconds at 100k rows, no lock held)."""
    dialect = session.get_bind().dialect
    existing = [p for p in proposals if p[0]["id"] in open_props]
    fresh = [p for p in proposals if p[0]["id"] not in open_props]
    rows, lines, events = [], [], []
    number_json = json.dumps(_NUMBER)[1:-1]
    for cust, values, rep in fresh:
        rows.append(
            {
                **({"id": 0} if dialect.name == "sqlite" else {}),  # SQLite: the next ids, given under the lock
                "number": _NUMBER,
                "customer_id": cust["id"],
                "account": cust["account"],
                # inserted as submitted: created, lines proposed and submitted in one step, audited as three
                "state": ProposalState.SUBMITTED.value,
                "created_at": at,
                "created_by": actor.user_name,
                "updated_at": at,
                "submitted_at": at,
                "submitted_by": actor.user_name,
                "source": "import",
                "version": 2,
            }
        )
        for field, value in values.items():
            lines.append(
                {
                    "proposal_id": 0,
                    "field": field,
                    "original_value": changes.encode(field, cust[field]),
                    "proposed_value": changes.encode(field, value),
                    "proposed_by": actor.user_name,
                    "proposed_at": at,
                    "decision": "pending",
                }
            )
        fields = sorted(values)
        for entity_type, key, action, before, after, comment in (
            (
                changes.ENTITY,
                _NUMBER,
                "created",
                None,
                dump({"customer": cust["account"], "state": ProposalState.NOT_SUBMITTED.value, "source": "import"}),
                None,
            ),
            (
                changes.ENTITY,
                _NUMBER,
                "lines proposed",
                None,
                dump({k: changes.plain_value(k, v) for k, v in values.items()}),
                f"customer {cust['account']}; data entity import, line {rep.line}",
            ),
            (
                changes.ENTITY,
                _NUMBER,
                "submitted",
                dump({"state": ProposalState.NOT_SUBMITTED.value}),
                dump({"state": ProposalState.SUBMITTED.value, "fields": fields}),
                f"data entity import, line {rep.line}",
            ),
            (
                "customer",
                cust["account"],
                "changes submitted",
                None,
                dump({"proposal": _NUMBER, "fields": fields}).replace(number_json, _NUMBER),
                changes.PENDING_STATUS,
            ),
        ):
            events.append(
                {
                    "at": at,
                    "operator": actor.user_name,
                    "entity_type": entity_type,
                    "entity_key": key,
                    "action": action,
                    "before": before,
                    "after": after,
                    "comment": comment,
                }
            )
    return PlannedProposals(
        existing=existing,
        fresh=fresh,
        rows=_prepare_keyed(dialect, insert(PROPOSALS), rows),
        lines=_prepare_keyed(dialect, insert(LINES), lines),
        events=_prepare_keyed(dialect, insert(AUDIT), events),
    )


def _prepare_keyed(dialect: Dialect, stmt: UpdateBase, rows: list[dict[str, Any]]) -> tuple[Any, Any, list[str] | None]:
    """``_prepare_many`` plus the key of each position of the driver-ready rows (SQLite)."""
    sql, prepared = _prepare_many(dialect, stmt, rows)
    if not isinstance(sql, str):
        return sql, prepared, None
    compiled = stmt.compile(dialect=dialect, column_keys=list(rows[0]))
    names = {name: i for i, name in enumerate(compiled.positiontup or [])}
    keys = [
        key
        for _, key in sorted(
            (names[compiled.bind_names[bp]], key)
            for key, bp in compiled.binds.items()
            if compiled.bind_names[bp] in names
        )
    ]
    return sql, prepared, keys


def _patched(
    prepared: tuple[Any, Any, list[str] | None], fill: dict[str, Callable[[int, Any], Any]]
) -> tuple[Any, Any]:
    """The planned rows with the write phase's values in: ``fill[key](i, value)`` gives row i's
    new value at ``key``; on SQLite the driver-ready tuples are patched at those positions."""
    stmt, rows, keys = prepared
    if keys is None:
        return stmt, [{**r, **{k: f(i, r[k]) for k, f in fill.items()}} for i, r in enumerate(rows)]
    at = [(keys.index(k), f) for k, f in fill.items()]
    patched = []
    for i, t in enumerate(rows):
        t = list(t)
        for pos, f in at:
            t[pos] = f(i, t[pos])
        patched.append(tuple(t))
    return stmt, patched


def write_proposals(
    session: Session, actor: Actor, planned: PlannedProposals, open_props: dict[int, ChangeProposal]
) -> None:
    """Submitted proposals for the approval-field changes: the numbers and ids now, then bulk
    inserts of what the plan prepared (customers with an open unsubmitted proposal: one by one)."""
    for cust, values, rep in planned.existing:  # an unsubmitted proposal exists: add the lines, submit it
        p = open_props[cust["id"]]
        c = session.get_one(Customer, cust["id"])
        changes._put_lines(session, actor, p, c, values)
        changes.submit_proposal(session, actor, p, f"data entity import, line {rep.line}")
        rep.proposal = p.number
    fresh = planned.fresh
    if not fresh:
        return
    changes._ensure_sequence(session)
    prefix, width, first = sequences.reserve_block(session, "change", len(fresh))
    numbers = [sequences.format_number(prefix, width, first + i) for i in range(len(fresh))]
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:  # the write lock is ours: the ids are the next ones, no read-back
        top = session.execute(select(func.max(PROPOSALS.c.id))).scalar() or 0
        ids = [top + 1 + i for i in range(len(fresh))]
        execute_many(session, *_patched(planned.rows, {"id": lambda i, _v: ids[i], "number": lambda i, _v: numbers[i]}))
    else:
        # one executemany, then the ids by number (unique, indexed): an INSERT .. RETURNING that
        # keeps the rows' order is a statement per row on some drivers
        execute_many(session, *_patched(planned.rows, {"number": lambda i, _v: numbers[i]}))
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
    line_owner = [pid for pid, (_c, values, _r) in zip(ids, fresh) for _ in values]
    quoted = [json.dumps(n)[1:-1] for n in numbers]
    if line_owner:
        execute_many(session, *_patched(planned.lines, {"proposal_id": lambda i, _v: line_owner[i]}))
    execute_many(
        session,
        *_patched(
            planned.events,
            {
                "entity_key": lambda i, v: numbers[i // 4] if v == _NUMBER else v,
                "after": lambda i, v: v.replace(_NUMBER, quoted[i // 4]) if i % 4 == 3 else v,
            },
        ),
    )
    for number, (_c, _v, rep) in zip(numbers, fresh):
        rep.proposal = number
    engine = changes._engine()
    if not changes.workflow_possible(session):
        return
    started: list[tuple[int, int]] = []
    for pid, number in zip(ids, numbers):
        instance = engine.submit(session, actor, changes.DOC_TYPE, number, "data entity import")
        if instance is not None:
            started.append((pid, instance))
    if started:
        session.execute(
            update(table_of(ChangeProposal))
            .where(table_of(ChangeProposal).c.id == bindparam("_id"))
            .values(workflow_instance_id=bindparam("_wf")),
            [{"_id": p, "_wf": w} for p, w in started],
        )
