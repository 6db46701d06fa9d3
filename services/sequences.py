"""Number sequences (registration numbers, customer accounts, user requests...).

Each sequence has a Continuous flag (as AX number sequences do), admins change it:

* continuous (gap-free; the default, e.g. customer accounts): the number is taken by an
  UPDATE of the sequence row inside the transaction that stores the record, as the last step
  before its rows are written: the row stays locked until that transaction ends (a short
  one: everything that reads or checks ran before it), and a rollback gives the number back,
  so no number is skipped or used twice;
* not continuous (the default for registration numbers): on PostgreSQL the number is taken
  in its own tiny transaction, so no sign-up waits for another's transaction; a rolled-back
  record leaves a gap. On SQLite the whole database has one write lock, so both kinds are
  taken inside the (short) write transaction and stay gap-free in practice.

Numbers taken last (``defer_numbers`` / ``settle``): a record whose transaction does more
after its insert (customer create: contact, user request, workflow start, audit, mails)
would hold the sequence row's lock through all of it. With ``defer_numbers(session)`` a
continuous ``next_number`` returns a unique provisional key (``~`` + 12 upper-case hex digits) and
takes nothing; ``settle(session)``, the last statement before commit, takes all the
numbers at once (one ``UPDATE ... RETURNING`` per sequence, in code order: no deadlock)
and swaps them into the string columns that carry a provisional key, of the rows this
session inserted meanwhile (the record, workflow instance, outbox mails ...) and of rows
named with ``carry``; the held audit events go in with the real numbers. On PostgreSQL all
of that is one statement, so the lock is held from there to the commit: one statement and
the COMMIT; with ``settle(session, commit=True)`` both are sent at once (a psycopg pipeline),
so no client round trip falls inside the lock. Still gap-free: nothing that can refuse runs after it. A ``before_commit`` hook
settles whatever a caller forgot, so a provisional key never commits.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Column, ColumnElement, String, Table, Text, event, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, select

from models.base import table_of
from models.core import NumberSequence
from services import audit
from services.errors import NotFound, ValidationFailed
from services.permissions import Actor, require
from services.store import COMMIT_WITH, writes

NON_CONTINUOUS = frozenset({"signup"})  # registration numbers need no gap-free guarantee

DEFAULT_SEQUENCES: dict[str, tuple[str, int, str]] = {
    "signup": ("REG-", 6, "Customer sign-up requests (registration numbers)"),
    "customer": ("C-", 6, "Customer accounts"),
    "userrequest": ("UR-", 6, "User requests"),
    "case": ("CASE-", 6, "Customer request cases"),
    "sample": ("SMP-", 6, "Sample requests on cases"),
    "prospect": ("PRO-", 6, "B2B partner prospects"),
    "lead": ("LEAD-", 6, "Leads from B2B prospects"),
    "opportunity": ("OPP-", 6, "Opportunities from qualified leads"),
}


def ensure_defaults(session: Session, extra: dict[str, tuple[str, int, str]] | None = None) -> None:
    for code, (prefix, width, description) in {**DEFAULT_SEQUENCES, **(extra or {})}.items():
        if session.get(NumberSequence, code) is None:
            session.add(
                NumberSequence(
                    code=code,
                    prefix=prefix,
                    width=width,
                    next_value=1,
                    description=description,
                    continuous=code not in NON_CONTINUOUS,
                )
            )
    session.flush()


def format_number(prefix: str, width: int, value: int) -> str:
    return f"{prefix}{value:0{width}d}"


_TAKE = text(
    "UPDATE numbersequence SET next_value = next_value + 1 WHERE code = :code RETURNING prefix, width, next_value - 1"
)


_FLAGS = text("SELECT code, continuous FROM numbersequence")
_TAKE_NON_CONTINUOUS = text(
    "UPDATE numbersequence SET next_value = next_value + 1 WHERE code = :code AND NOT continuous "
    "RETURNING prefix, width, next_value - 1"
)


_DEFERRED = "regdesk_deferred_numbers"  # = services.audit.DEFERRED_NUMBERS; session.info: {"pending": {placeholder: code}, "new": [objects]}
PLACEHOLDER_PREFIX = "~"


def _track_new(session: Session, _ctx: object) -> None:
    state = session.info.get(_DEFERRED)
    if state is not None:
        state["new"].extend(session.new)


def _settle_before_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint's release fires this hook too: not the commit
        return
    if session.info.get(_DEFERRED, {}).get("pending"):
        settle(session)


def defer_numbers(session: Session) -> None:
    """From here on continuous numbers are provisional keys, taken for real by ``settle``."""
    if _DEFERRED in session.info:
        return
    session.info[_DEFERRED] = {"pending": {}, "new": []}
    if not event.contains(session, "after_flush", _track_new):
        event.listen(session, "after_flush", _track_new)
        event.listen(session, "before_commit", _settle_before_commit)


def carry(session: Session, table: Table, ident: Any, *columns: str) -> None:
    """Row ``ident`` of ``table`` (an existing row, updated meanwhile by a statement) carries a
    provisional key in ``columns``: ``settle`` swaps the number in there too, in its one step."""
    state = session.info.get(_DEFERRED)
    if state is None:
        raise RuntimeError("carry() needs defer_numbers() first")
    state.setdefault("extra", []).append((table, table.primary_key.columns.values()[0], ident, columns))


def is_provisional(value: str) -> bool:
    return value.startswith(PLACEHOLDER_PREFIX)


def settle(session: Session, *, commit: bool = False) -> dict[str, str]:
    """Take the deferred numbers and swap them in: {provisional key: number}. Call it as the
    very last statement before commit (nothing that can refuse may follow).

    ``commit`` (PostgreSQL): the transaction commits with that statement, both sent at once
    (a psycopg pipeline): the sequence rows are then locked for the server's time alone, not
    also for the client's wake-up between the statement's answer and its COMMIT (tens of
    milliseconds on a loaded machine, while every other create waits). The caller then writes
    nothing more; the session's own commit finds nothing left to do.

    Everything that does not need the numbers is prepared first (the flush, which rows and
    columns carry a provisional key, the statements); the sequence rows are locked from the
    take to the commit. On PostgreSQL the take, the swaps and the held audit events are one
    statement (data-modifying CTEs), so the lock is held for that statement and the COMMIT:
    with 20 writers on 2 cores every further round trip or millisecond of Python while a
    sequence row is locked queues every other create behind it."""
    if not session.info.get(_DEFERRED, {}).get("pending"):
        held_only: list[Any] = session.info.pop(_DEFERRED, {}).get("audit", [])
        session.add_all(held_only)  # audit events held while numbers were deferred (services.audit.record)
        return {}
    session.flush()  # the rows added since the last flush are tracked too
    state = session.info.pop(_DEFERRED)
    pending: dict[str, str] = state["pending"]
    by_code: dict[str, list[str]] = {}
    for placeholder, code in pending.items():
        by_code.setdefault(code, []).append(placeholder)
    carriers = _carriers(state["new"], pending)
    for table, pk, ident, names in state.get("extra", []):
        _add_carrier(carriers, table, pk, ident, [table.c[n] for n in names])
    held: list[Any] = state.get("audit", [])
    if session.get_bind().dialect.name == "postgresql":
        mapping = _settle_in_one_statement(session, by_code, carriers, held, commit=commit)
    else:
        mapping = {}
        for code in sorted(by_code):  # always the same order: two settles never deadlock
            placeholders = by_code[code]
            prefix, width, first = reserve_block(session, code, len(placeholders))
            for i, placeholder in enumerate(placeholders):
                mapping[placeholder] = format_number(prefix, width, first + i)
        for table, (pk, ids, cols) in carriers.items():
            values: dict[str, ColumnElement[Any]] = {}
            for c in cols:
                expr: ColumnElement[Any] = c
                for placeholder, number in mapping.items():
                    expr = func_replace(expr, placeholder, number)
                values[c.name] = expr
            session.execute(
                table.update().where(pk.in_(sorted(ids))).values(values).execution_options(synchronize_session=False)
            )
        # the audit events held meanwhile go in now, with the real numbers: the trail is never updated
        for event_ in held:
            for key in _HELD_KEYS:
                value = getattr(event_, key, None)
                if isinstance(value, str) and PLACEHOLDER_PREFIX in value:
                    setattr(event_, key, _swap(value, mapping))
            session.add(event_)
    for obj in state["new"]:  # the loaded objects show the numbers too (no reread)
        loaded = sa_inspect(obj).dict
        for key, value in list(loaded.items()):
            if isinstance(value, str) and PLACEHOLDER_PREFIX in value:
                set_committed_value(obj, key, _swap(value, mapping))
    return mapping


_HELD_KEYS = ("entity_key", "before", "after", "comment", "action")


def _swap(value: str, mapping: dict[str, str]) -> str:
    for placeholder, number in mapping.items():
        value = value.replace(placeholder, number)
    return value


def _carriers(
    objects: list[object], pending: dict[str, str]
) -> dict[Table, tuple[Column[Any], set[Any], list[Column[Any]]]]:
    """{table: (primary key, ids, text columns)} of the rows written meanwhile whose values
    carry a provisional key (read from the objects: no query)."""
    out: dict[Table, tuple[Column[Any], set[Any], list[Column[Any]]]] = {}
    for obj in {id(o): o for o in objects}.values():
        insp = sa_inspect(obj)
        mapper = insp.mapper
        table = mapper.local_table
        if not isinstance(table, Table):  # every regdesk model maps one plain table
            raise TypeError(f"{type(obj).__name__} is not mapped to a table")
        pk = mapper.primary_key[0]
        ident = insp.dict.get(mapper.get_property_by_column(pk).key)
        if ident is None:
            continue
        cols = [
            c
            for c in table.columns
            if _is_text(c)
            and not c.primary_key
            and _carries(insp.dict.get(mapper.get_property_by_column(c).key), pending)
        ]
        if cols:
            _add_carrier(out, table, pk, ident, cols)
    return out


def _add_carrier(
    out: dict[Table, tuple[Column[Any], set[Any], list[Column[Any]]]],
    table: Table,
    pk: Column[Any],
    ident: Any,
    cols: list[Column[Any]],
) -> None:
    """Row ``ident`` of ``table`` carries a provisional key in ``cols`` (added to the table's set)."""
    entry = out.setdefault(table, (pk, set(), []))
    entry[1].add(ident)
    entry[2].extend(c for c in cols if c not in entry[2])


def _carries(value: object, pending: dict[str, Any]) -> bool:
    return isinstance(value, str) and PLACEHOLDER_PREFIX in value and any(p in value for p in pending)


def _settle_in_one_statement(
    session: Session,
    by_code: dict[str, list[str]],
    carriers: dict[Table, tuple[Column[Any], set[Any], list[Column[Any]]]],
    held: list[Any],
    *,
    commit: bool = False,
) -> dict[str, str]:
    """PostgreSQL: one statement takes every number (``UPDATE numbersequence .. RETURNING`` per
    sequence, in code order), swaps them into the carrier rows and inserts the held audit
    events, all built before it runs; it returns the numbers.

    The statement depends only on the settle's shape (how many numbers of which sequence, which
    columns of how many rows of which tables carry them, which columns the held events fill);
    every value is a bound parameter. One statement is built per shape and kept: a create then
    pays neither its construction nor its cache key (a third of a create's client CPU when
    each settle built its own)."""
    placeholders = [p for code in sorted(by_code) for p in by_code[code]]
    params: dict[str, Any] = {f"ph{i}": p for i, p in enumerate(placeholders)}
    tables: list[tuple[Table, Column[Any], int, tuple[str, ...]]] = []
    for k, (table, (pk, ids, cols)) in enumerate(carriers.items()):
        params[f"ids{k}"] = sorted(ids)
        tables.append((table, pk, len(ids), tuple(c.name for c in cols)))
    audit_table = sa_inspect(type(held[0])).mapper.local_table if held else None
    context = SimpleNamespace(dialect=session.get_bind().dialect)  # what a Python column default reads
    rows: list[tuple[tuple[str, ...], frozenset[str]]] = []
    keys = dict.fromkeys(placeholders)
    for k, event_ in enumerate(held):
        assert isinstance(audit_table, Table)
        names: list[str] = []
        swapped: set[str] = set()
        loaded = sa_inspect(event_).dict
        for c in audit_table.columns:
            value = loaded.get(c.name)
            if value is None and c.default is not None:  # as the flush would: the column's Python default
                value = c.default.arg(context) if c.default.is_callable else c.default.arg
            elif value is None:
                continue  # NULL or the server's default; a column with a Python default is always given
            names.append(c.name)
            params[f"h{k}_{c.name}"] = value
            if _carries(value, keys):
                swapped.add(c.name)
        rows.append((tuple(names), frozenset(swapped)))
    shape = (
        tuple((code, len(by_code[code])) for code in sorted(by_code)),
        tuple((table.name, pk.name, n, cols) for table, pk, n, cols in tables),
        audit_table.name if audit_table is not None else None,
        tuple(rows),
    )
    stmt = _SETTLE_STATEMENTS.get(shape)
    if stmt is None:
        stmt = _settle_statement(by_code, tables, audit_table, rows)
        if len(_SETTLE_STATEMENTS) >= _SETTLE_STATEMENTS_MAX:
            _SETTLE_STATEMENTS.clear()  # a handful of shapes in practice: never worth an LRU
        _SETTLE_STATEMENTS[shape] = stmt
    options = {COMMIT_WITH: True} if commit else {}  # sent with the COMMIT (services.store.COMMIT_WITH)
    row_ = session.execute(stmt, params, execution_options=options).one()
    return {p: str(row_[i]) for i, p in enumerate(placeholders)}


_SETTLE_STATEMENTS: dict[tuple[Any, ...], Any] = {}
_SETTLE_STATEMENTS_MAX = 64


def _settle_statement(
    by_code: dict[str, list[str]],
    tables: list[tuple[Table, Column[Any], int, tuple[str, ...]]],
    audit_table: Table | None,
    rows: list[tuple[tuple[str, ...], frozenset[str]]],
) -> Any:
    """The settle statement of one shape, every value a bound parameter: ``ph<i>`` the i-th
    provisional key, ``ids<k>`` the k-th carrier table's ids, ``h<k>_<column>`` the k-th held
    event's values. A carried value gets every number swapped in (replacing a key that is not
    in it changes nothing), so the statement does not depend on which key is where."""
    from sqlalchemy import Integer, bindparam, case, cast, func, insert, literal, select, update

    seq = table_of(NumberSequence)
    numbers: list[tuple[Any, ColumnElement[Any]]] = []  # (its key's parameter, its number)
    for code in sorted(by_code):
        n = len(by_code[code])
        taken = (
            update(seq)
            .where(seq.c.code == code)
            .values(next_value=seq.c.next_value + n)
            .returning(seq.c.prefix, seq.c.width, (seq.c.next_value - n).label("first"))
            .cte(f"take_{code}")
        )
        for i in range(n):
            digits = cast(taken.c.first + literal(i, Integer), Text)
            number = taken.c.prefix + case(
                (func.length(digits) >= taken.c.width, digits), else_=func.lpad(digits, taken.c.width, "0")
            )
            numbers.append((bindparam(f"ph{len(numbers)}", type_=Text()), select(number).scalar_subquery()))

    def swapped(expr: ColumnElement[Any]) -> ColumnElement[Any]:
        for key, number in numbers:
            expr = func.replace(expr, key, number)
        return expr

    writes: list[Any] = []
    for k, (table, pk, _n, cols) in enumerate(tables):
        writes.append(
            table.update()
            .where(pk.in_(bindparam(f"ids{k}", expanding=True)))
            .values({name: swapped(table.c[name]) for name in cols})
            .returning(pk)
            .cte(f"swap_{k}")
        )
    for k, (names, carried) in enumerate(rows):
        assert audit_table is not None
        values: dict[str, Any] = {}
        for name in names:
            value = bindparam(f"h{k}_{name}", type_=audit_table.c[name].type)
            values[name] = swapped(value) if name in carried else value
        writes.append(insert(audit_table).values(values).returning(audit_table.c.id).cte(f"held_{k}"))
    return select(*[number.label(f"n{i}") for i, (_key, number) in enumerate(numbers)]).add_cte(*writes)


def _is_text(column: Column[Any]) -> bool:
    kind = column.type
    return isinstance(kind, (String, Text)) or isinstance(getattr(kind, "impl", None), (String, Text))


def func_replace(expr: ColumnElement[Any], old: str, new: str) -> ColumnElement[Any]:
    from sqlalchemy import func, literal

    return func.replace(expr, literal(old), literal(new))


def next_number(session: Session, code: str) -> str:
    """The next number of sequence ``code``. Call it after every check and read, just before
    inserting the rows that carry it (see the module doc for the two kinds)."""
    bind = session.get_bind()
    row = None
    deferred = session.info.get(_DEFERRED)
    if deferred is not None or bind.dialect.name != "sqlite":
        known = deferred.setdefault("continuous", {}) if deferred is not None else {}
        continuous = known.get(code)
        if continuous is None and deferred is None:
            # PostgreSQL, not deferred: a non-continuous sequence's number in one statement of its
            # own tiny transaction (the row locked for that statement only); no row: continuous
            # (taken below in the caller's transaction) or not set up
            with bind.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                row = conn.execute(_TAKE_NON_CONTINUOUS, {"code": code}).first()
            if row is not None:
                return format_number(*row)
        if continuous is None:
            # every sequence's flag at once (a handful of rows), read once per deferred transaction:
            # a create takes an account and a user-request number
            known.update({c: bool(flag) for c, flag in session.execute(_FLAGS).all()})
            continuous = known.get(code)
        if continuous is None:
            raise NotFound(f"number sequence {code!r} is not set up (run 'regdesk db upgrade' or 'regdesk demo')")
        if deferred is not None and continuous:
            placeholder = PLACEHOLDER_PREFIX + uuid.uuid4().hex[:12].upper()  # keys are looked up upper-cased
            deferred["pending"][placeholder] = code
            return placeholder
        if continuous is False and bind.dialect.name != "sqlite":
            # its own tiny transaction: the sequence row is locked for one statement only
            with bind.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                row = conn.execute(_TAKE, {"code": code}).first()
    if row is None:
        row = session.execute(_TAKE, {"code": code}).first()
    if row is None:
        raise NotFound(f"number sequence {code!r} is not set up (run 'regdesk db upgrade' or 'regdesk demo')")
    prefix, width, value = row
    return format_number(prefix, width, value)


def reserve_block(session: Session, code: str, count: int) -> tuple[str, int, int]:
    """Take ``count`` consecutive numbers at once (bulk loads): (prefix, width, first)."""
    row = session.execute(
        text(
            "UPDATE numbersequence SET next_value = next_value + :n WHERE code = :code "
            "RETURNING prefix, width, next_value - :n"
        ),
        {"code": code, "n": count},
    ).first()
    if row is None:
        raise NotFound(f"number sequence {code!r} is not set up")
    return row[0], row[1], row[2]


def list_sequences(session: Session, actor: Actor) -> list[NumberSequence]:
    require(actor, "signup.view")
    return list(session.exec(select(NumberSequence).order_by(NumberSequence.code)).all())


@writes
def configure(
    session: Session,
    actor: Actor,
    code: str,
    *,
    prefix: str | None = None,
    width: int | None = None,
    continuous: bool | None = None,
) -> NumberSequence:
    """Change the prefix, width or Continuous flag of the numbers still to come (admins; audited)."""
    require(actor, "admin.parameters")
    seq = session.get(NumberSequence, code)
    if seq is None:
        raise NotFound(f"no number sequence {code!r}")
    errors = {}
    if prefix is not None and (len(prefix) > 20 or not prefix.isprintable()):
        errors["prefix"] = "at most 20 printable characters"
    if width is not None and not 1 <= width <= 12:
        errors["width"] = "between 1 and 12 digits"
    if errors:
        raise ValidationFailed(errors)
    before = {"prefix": seq.prefix, "width": seq.width, "continuous": seq.continuous}
    if prefix is not None:
        seq.prefix = prefix
    if width is not None:
        seq.width = width
    if continuous is not None:
        seq.continuous = bool(continuous)
    session.add(seq)
    audit.record(
        session,
        actor,
        "sequence",
        code,
        "configured",
        before=before,
        after={"prefix": seq.prefix, "width": seq.width, "continuous": seq.continuous},
    )
    return seq
