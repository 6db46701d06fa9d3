"""The write phase of an import, prepared in the plan phase: customer updates and their audit
rows through a temporary table (one fill, one UPDATE .. FROM per column set, one INSERT ..
SELECT), new proposals as bulk inserts (driver-ready rows on SQLite)."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, bindparam, func, insert, literal, update
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


PLANNED_PREFIX = "regdesk_import_"  # the temporary table of an import's customer updates: this + a random part


@dataclass
class PlannedUpdates:
    """The customer updates and their audit rows, ready before the write phase: one row per
    customer for a temporary table (driver-ready on SQLite), then per column set one
    ``UPDATE customer .. FROM`` that table, and one ``INSERT INTO auditevent .. SELECT``.

    Set-based instead of an executemany per row: on SQLite a statement that writes an FTS5 table
    (the customer search triggers) makes it flush its pending index data at the statement's end,
    so 100k one-row UPDATEs flushed 100k times; one UPDATE over all rows flushes once. On
    PostgreSQL the server runs a handful of statements instead of 200k executions."""

    table: Table | None  # the temporary table (None: nothing to update)
    filled: bool  # SQLite: filled on this process's connection while planning (``prefill``)
    fill: tuple[Any, Any]  # (statement or SQL, rows) that fill it
    updates: list[tuple[Any, int]]  # (UPDATE .. FROM statement, expected row count) per column set
    audit: Any  # INSERT INTO auditevent .. SELECT from the table, in file order


def _temp_table(columns: list[str]) -> Table:
    cols = [
        Column("seq", Integer, primary_key=True, autoincrement=False),  # file order (the audit rows' order)
        Column("grp", Integer, nullable=False),  # which column set (UPDATE statement) the row belongs to
        Column("cid", Integer, nullable=False),
        Column("cver", Integer, nullable=False),
        *[Column(f"v_{c}", CUSTOMERS.c[c].type) for c in columns],
        Column("a_key", String),
        Column("a_before", Text),
        Column("a_after", Text),
        Column("a_comment", Text),
    ]
    name = PLANNED_PREFIX + uuid.uuid4().hex[:12]
    return Table(name, MetaData(), *cols, prefixes=["TEMPORARY"], postgresql_on_commit="DROP")


def plan_updates(session: Session, actor: Actor, updates: list[Planned], at: datetime) -> PlannedUpdates:
    dialect = session.get_bind().dialect
    groups: dict[tuple[str, ...], int] = {}
    rows: list[dict[str, Any]] = []
    for cust, values, rep in updates:
        extra = {}
        if "name" in values:
            extra["name_normalized"] = normalize_company(values["name"])
        if "email" in values:
            extra["email_normalized"] = normalize_email(values["email"])
        row = {**values, **extra}
        grp = groups.setdefault(tuple(sorted(row)), len(groups))
        rows.append(
            {
                "seq": len(rows),
                "grp": grp,
                "cid": cust["id"],
                "cver": cust["version"],
                **{f"v_{k}": v for k, v in row.items()},
                "a_key": cust["account"],
                "a_before": dump({k: cust[k] for k in values}),
                "a_after": dump(values),
                "a_comment": f"data entity import, line {rep.line}"
                + (f"; applied without approval: {', '.join(rep.unapproved)}" if rep.unapproved else ""),
            }
        )
    if not rows:
        return PlannedUpdates(table=None, filled=False, fill=(None, []), updates=[], audit=None)
    columns = sorted({k for keys in groups for k in keys})
    table = _temp_table(columns)
    blank = {f"v_{c}": None for c in columns}
    rows = [{**blank, **r} for r in rows]  # every row the same keys (one executemany)
    counts = [0] * len(groups)
    for r in rows:
        counts[r["grp"]] += 1
    p = table.c
    statements = []
    for keys, grp in groups.items():
        stmt = (
            update(CUSTOMERS)
            .where(p.grp == grp, CUSTOMERS.c.id == p.cid, CUSTOMERS.c.version == p.cver)
            .values({**{k: p[f"v_{k}"] for k in keys}, "version": CUSTOMERS.c.version + 1})
        )
        statements.append((stmt, counts[grp]))
    constant = {
        "at": bindparam("a_at", at, type_=AUDIT.c.at.type),
        "operator": bindparam("a_operator", actor.user_name, type_=AUDIT.c.operator.type),
        "entity_type": literal("customer", AUDIT.c.entity_type.type),
        "action": literal("imported", AUDIT.c.action.type),
        **{
            name: bindparam(f"a_{name}", _default(dialect, AUDIT.c[name]), type_=AUDIT.c[name].type)
            for name in ("db_login", "acting_reason")
        },
    }
    picked = {"entity_key": p.a_key, "before": p.a_before, "after": p.a_after, "comment": p.a_comment}
    names = [*constant, *picked]
    audit_rows = insert(AUDIT).from_select(
        names, select(*[{**constant, **picked}[n] for n in names]).select_from(table).order_by(p.seq)
    )
    if dialect.name == "sqlite":
        fill = _prepare_many(dialect, insert(table), rows)
    else:  # COPY: no statement text of 100k parameter sets to build, send and parse
        names = [c.name for c in table.columns]
        fill = (_copy_sql(table), [tuple(r[n] for n in names) for r in rows])
    return PlannedUpdates(table=table, filled=False, fill=fill, updates=statements, audit=audit_rows)


def _copy_sql(table: Table) -> str:
    return f"COPY {table.name} ({', '.join(c.name for c in table.columns)}) FROM STDIN"


def _copy(session: Session, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """PostgreSQL: the rows through psycopg's COPY (its adapters type the values)."""
    dbapi = session.connection().connection.dbapi_connection
    assert dbapi is not None  # a checked-out connection always has one
    with dbapi.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[attr-defined]  # psycopg's cursor
        for row in rows:
            copy.write_row(row)


def prefill(session: Session, planned: PlannedUpdates) -> None:
    """Plan phase: create and fill the temporary table of planned rows now, before the write
    phase (a temporary table is the connection's own: writing it locks nothing the office needs).

    SQLite: without the write lock. The write phase uses the table when it runs on the same
    connection (it is in the same pool, and a process importing has that one connection idle),
    else fills its own under the lock. Earlier imports' tables left on this connection (a
    conflict rolled back) are dropped.
    PostgreSQL: by COPY, in the import's transaction (ON COMMIT DROP), so the write phase is the
    bulk statements alone, not also 100k rows of Python feeding the COPY."""
    if planned.table is None:
        return
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        for (name,) in conn.exec_driver_sql(
            "SELECT name FROM sqlite_temp_master WHERE type = 'table' AND name LIKE ?", (PLANNED_PREFIX + "%",)
        ).all():
            conn.exec_driver_sql(f'DROP TABLE temp."{name}"')
        planned.table.create(conn)
        execute_many(session, *planned.fill)
    else:
        planned.table.create(conn)
        _copy(session, *planned.fill)
    planned.filled = True


def _filled_here(session: Session, planned: PlannedUpdates) -> bool:
    """Whether this connection still has the table ``prefill`` filled (SQLite: another pooled
    connection may run the write phase; PostgreSQL: a commit in between would have dropped it)."""
    if not planned.filled or planned.table is None:
        return False
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        sql, args = "SELECT 1 FROM sqlite_temp_master WHERE type = 'table' AND name = ?", (planned.table.name,)
    else:
        sql, args = "SELECT to_regclass(%s)", (f"pg_temp.{planned.table.name}",)
    row = conn.exec_driver_sql(sql, args).first()
    return row is not None and row[0] is not None


def _default(dialect: Dialect, column: Any) -> Any:
    """A column's Python-side default, as SQLAlchemy would give it to an INSERT."""
    d = column.default
    if d is None:
        return None
    return d.arg(_DefaultContext(dialect)) if d.is_callable else (d.arg if d.is_scalar else None)


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
            defaults[key] = _default(dialect, column)
    if defaults:
        rows = [{**defaults, **row} for row in rows]
    return compiled.string, [tuple(proc(row[key]) if proc else row[key] for _, key, proc in position) for row in rows]


@dataclass
class _DefaultContext:
    """What a column default callable may look at (the dialect), for ``_prepare_many``."""

    dialect: Any


def write_updates(session: Session, planned: PlannedUpdates) -> bool:
    """Run the planned statements; False when an update matched fewer rows than planned
    (a customer changed meanwhile: the caller rolls back, which also drops the table)."""
    if planned.table is None:
        return True
    conn = session.connection()
    sqlite = conn.dialect.name == "sqlite"
    if not _filled_here(session, planned):
        planned.table.create(conn)  # in the transaction: a rollback takes it away again
        if sqlite:
            execute_many(session, *planned.fill)
        else:
            _copy(session, *planned.fill)
    if not sqlite:
        conn.exec_driver_sql(f"ANALYZE {planned.table.name}")  # its row count, for the join's plan
    for stmt, expected in planned.updates:
        if conn.execute(stmt).rowcount != expected:
            return False
    conn.execute(planned.audit)
    if sqlite:  # PostgreSQL drops it at the commit (ON COMMIT DROP)
        planned.table.drop(conn)
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
