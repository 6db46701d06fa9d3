"""The governed customer import (D365 "data entity") and the export in the same format.

A file is CSV (a header row: ``account`` and customer field names) or JSON (a list of
objects with ``account`` and fields), keyed by account. Each row is validated on its own and
the report names every bad row. **All or nothing** by default: when any row is invalid,
nothing is changed (exit 2); ``partial=True`` (``--partial``) applies the good rows and says
so. Valid rows follow the **Data entity behavior** parameter for the fields that need
approval (``customer_approval.*``):

* allow   - every field is updated, approval or not;
* reject  - the changes of approval fields are refused, the other fields are applied;
* propose - the other fields are applied; the approval-field changes become lines of the
  customer's proposal, which is submitted (the customer change workflow starts).

A field locked by a submitted proposal is refused under reject and propose. The report has
a row per line: applied / proposed / refused / invalid / unchanged, the fields and why.

Imports do not block the office (issue 9): the whole file is parsed, validated and planned
in a read transaction, without any lock (customers read in chunks by account, one query per
chunk). Then one short write transaction re-checks the version of every customer (and open
proposal) the plan relied on: if any changed meanwhile, nothing is applied and the rows are
named (Conflict, exit 6); else the planned updates go in one executemany per column set,
audit events in one bulk insert, new proposals in bulk too. ``dry_run`` computes the same
report without writing anything.

Limits (a clear refusal, never "unexpected"): file size ``MAX_FILE_BYTES``, cell/field size
``MAX_FIELD_CHARS``, numbers ``MAX_NUMBER_CHARS`` characters, JSON nesting (rows are flat
objects; anything nested deeper than Python can parse is refused). A bare CR (not part of a
CRLF line end) is refused: CSV readers would cut the cell there.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime
import json
import re
from pathlib import Path
from typing import Any, Callable, Iterator

from pydantic import BaseModel, Field
from sqlalchemy import bindparam, insert, update
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import UpdateBase
from sqlmodel import Session, col, select

from models.changes import OPEN_STATES, ChangeLine, ChangeProposal, ProposalState
from models.core import AuditEvent
from models.customer import Customer
from services import audit, changes, customers, sequences
from services.errors import Conflict, ValidationFailed
from services.permissions import Actor, require
from services.store import begin_write, now, writes
from services.text import clean, normalize_company, normalize_email

CHUNK = 2000
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_FIELD_CHARS = 10_000
MAX_NUMBER_CHARS = 40
_BARE_CR = re.compile(r"\r(?!\n)")
STATUSES = ("applied", "proposed", "refused", "invalid", "unchanged")
_TABLE = Customer.__table__  # type: ignore[attr-defined]
# Core tables for bulk inserts: one executemany (the ORM bulk path would run a statement per row here)
_AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
_LINES = ChangeLine.__table__  # type: ignore[attr-defined]


class ImportRow(BaseModel):
    line: int  # CSV: the line the record starts on; JSON: the line its object starts on
    account: str
    values: dict[str, Any]
    error: str | None = None  # a row that could not even be read (wrong number of cells, not an object...)


class RowReport(BaseModel):
    line: int
    account: str
    status: str  # applied | proposed | refused | invalid | unchanged
    applied: list[str] = Field(default_factory=list)
    proposed: list[str] = Field(default_factory=list)
    refused: list[str] = Field(default_factory=list)
    errors: dict[str, str] = Field(default_factory=dict)
    reason: str = ""
    proposal: str | None = None
    unapproved: list[str] = Field(default_factory=list)  # approval fields applied without approval (Allow changes)


class ImportReport(BaseModel):
    behavior: str
    behavior_label: str
    dry_run: bool
    rows: int
    counts: dict[str, int]
    report: list[RowReport]
    written: bool = False  # whether anything was written (False: dry run, or refused as a whole)
    partial: bool = False
    note: str = ""  # what happened to the file as a whole, in the user's words


# ---------------------------------------------------------------------------- reading files


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    if fmt:
        fmt = fmt.lower()
        if fmt not in ("csv", "json"):
            raise ValidationFailed({"format": "csv or json"})
        return fmt
    return "json" if str(path).lower().endswith(".json") else "csv"


def _check_columns(columns: list[str]) -> list[str]:
    errors: dict[str, str] = {}
    names = [clean(c) for c in columns]
    if "account" not in names:
        errors["account"] = "the header must have an 'account' column"
    seen: set[str] = set()
    for name in names:
        if name != "account" and name not in customers.FIELDS:
            errors[name or "(blank)"] = "unknown customer field"
        if name in seen:
            errors[name] = "column appears twice"
        seen.add(name)
    if errors:
        raise ValidationFailed(errors, message="the header is not valid:\n  " +
                               "\n  ".join(f"{k}: {v}" for k, v in errors.items()) +
                               f"\n  (fields: account, {', '.join(customers.FIELDS)})")
    return names


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def parse_csv(text: str, *, raw: bool = False) -> list[ImportRow]:
    """Rows of a CSV file; cells neutralised by an export (``'=...``) are restored unless ``raw``
    (a file written by ``customers export --raw`` holds the exact values)."""
    bare = _BARE_CR.search(text)
    if bare:
        raise ValidationFailed({"file": f"line {_line_of(text, bare.start())}: a carriage return (CR) that does not end a "
                                        "line, inside a cell: remove it (line ends must be LF or CRLF)"})
    limit = csv.field_size_limit()
    csv.field_size_limit(MAX_FIELD_CHARS)
    try:
        return _parse_csv(text, raw)
    finally:
        csv.field_size_limit(limit)


def _parse_csv(text: str, raw: bool = False) -> list[ImportRow]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationFailed({"file": "empty: expected a header row (account, fields...)"}) from None
    except csv.Error as exc:
        raise _csv_error(reader.line_num, exc) from None
    columns = _check_columns(header)
    rows: list[ImportRow] = []
    start = reader.line_num + 1
    try:
        for cells in reader:
            _csv_row(rows, columns, cells, start, reader, raw)
            start = reader.line_num + 1
    except csv.Error as exc:
        raise _csv_error(reader.line_num, exc) from None
    return rows


def _csv_error(line: int, exc: csv.Error) -> ValidationFailed:
    msg = str(exc)
    if "field larger than field limit" in msg:
        msg = f"a cell longer than {MAX_FIELD_CHARS} characters"
    return ValidationFailed({"file": f"line {line}: not valid CSV: {msg}"})


def _csv_row(rows: list[ImportRow], columns: list[str], cells: list[str], line: int, reader: object,
             raw: bool = False) -> None:
    if not cells or all(not c.strip() for c in cells):
        return
    if len(cells) != len(columns):
        at = columns.index("account")
        rows.append(ImportRow(line=line, account=clean(cells[at]) if len(cells) > at else "",
                              values={}, error=f"{len(cells)} cells, the header has {len(columns)}"))
        return
    record = {k: v if raw else un_neutralise(v) for k, v in zip(columns, cells)}
    account = clean(record.pop("account"))
    rows.append(ImportRow(line=line, account=account, values=record))


class _NumberTooLong(ValueError):
    pass


def _bounded(kind: Callable[[str], object]) -> Callable[[str], object]:
    def parse(raw: str) -> object:
        if len(raw) > MAX_NUMBER_CHARS:
            raise _NumberTooLong(raw)
        return kind(raw)
    return parse


def parse_json(text: str) -> list[ImportRow]:
    from decimal import Decimal

    decoder = json.JSONDecoder(parse_int=_bounded(int), parse_float=_bounded(Decimal))
    text = text.lstrip("\ufeff")
    pos, n = 0, len(text)

    def skip(p: int) -> int:
        while p < n and text[p] in " \t\r\n":
            p += 1
        return p

    def fail(p: int, msg: str) -> ValidationFailed:
        return ValidationFailed({"file": f"not valid JSON (line {text.count(chr(10), 0, p) + 1}): {msg}"})

    pos = skip(pos)
    if pos >= n or text[pos] != "[":
        raise fail(pos, "expected a list of objects: [{\"account\": ..., ...}, ...]")
    pos = skip(pos + 1)
    rows: list[ImportRow] = []
    line, counted = 1, 0
    while pos < n and text[pos] != "]":
        line += text.count("\n", counted, pos)
        counted = pos
        try:
            item, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise fail(exc.pos, exc.msg) from None
        except _NumberTooLong:
            raise fail(pos, f"a number longer than {MAX_NUMBER_CHARS} characters in the object that starts here") from None
        except RecursionError:
            raise fail(pos, "nested too deeply: an import file is a list of flat objects "
                            "({\"account\": ..., \"field\": value})") from None
        rows.append(_json_row(line, item))
        pos = skip(end)
        if pos < n and text[pos] == ",":
            pos = skip(pos + 1)
        elif pos < n and text[pos] != "]":
            raise fail(pos, "expected ',' or ']'")
    if pos >= n:
        raise fail(pos, "the list is not closed with ']'")
    if skip(pos + 1) != n:
        raise fail(pos + 1, "extra data after the list")
    return rows


def _json_row(line: int, item: Any) -> ImportRow:
    if not isinstance(item, dict):
        return ImportRow(line=line, account="", values={}, error="not an object")
    account = item.get("account")
    values: dict[str, Any] = {}
    bad = []
    for k, v in item.items():
        if k == "account":
            continue
        if isinstance(v, (dict, list)):
            bad.append(f"{k}: a single value expected, not nested data")
        elif isinstance(v, str) and len(v) > MAX_FIELD_CHARS:
            bad.append(f"{k}: longer than {MAX_FIELD_CHARS} characters")
            v = ""
        values[str(k)] = "" if v is None else v
    unknown = [k for k in values if k not in customers.FIELDS]
    if unknown:
        bad.append("unknown field " + ", ".join(unknown))
    return ImportRow(line=line, account=clean(account) if isinstance(account, (str, int)) else "", values=values,
                     error="; ".join(bad) or None)


def read_file(path: str | Path, fmt: str | None = None, *, raw: bool = False) -> list[ImportRow]:
    fmt = detect_format(path, fmt)
    try:
        size = Path(path).stat().st_size
        if size > MAX_FILE_BYTES:
            raise ValidationFailed({"file": f"{path} is larger than the import's limit ({size:,} bytes, at most "
                                            f"{MAX_FILE_BYTES:,}): split it into several files"})
        with open(path, encoding="utf-8", newline="") as fh:  # newline="": a bare CR stays visible
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationFailed({"file": f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}"}) from None
    return parse_json(text) if fmt == "json" else parse_csv(text, raw=raw)


# ---------------------------------------------------------------------------- importing


def _typed(row: ImportRow, current: dict[str, Any], known: set[str]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    typed: dict[str, Any] = {}
    for name, raw in row.values.items():
        spec = customers.FIELDS.get(name)
        if spec is None:
            errors[name] = "unknown customer field"
            continue
        if spec.kind in ("decimal", "int") and isinstance(raw, str) and len(raw.strip()) > MAX_NUMBER_CHARS:
            errors[name] = f"a number of at most {MAX_NUMBER_CHARS} characters"
            continue
        try:
            typed[name] = customers._coerce(spec, raw)
        except ValueError as exc:
            errors[name] = str(exc)
    for name in ("invoice_account", "parent_account"):
        ref = typed.get(name)
        if ref and name not in errors:
            if ref == row.account and name == "parent_account":
                errors[name] = "a customer cannot be its own parent"
            elif ref != row.account and ref not in known:
                errors[name] = f"no customer {ref}"
    return typed, errors


def _dump(values: dict[str, Any]) -> str:
    return audit._dump(values) or "{}"


@writes(phased=True)
def import_rows(session: Session, actor: Actor, rows: list[ImportRow], *, dry_run: bool = False,
                partial: bool = False, progress: Callable[[int, int], None] | None = None,
                chunk: int = CHUNK) -> ImportReport:
    """Apply ``rows`` under the Data entity behavior, all or nothing (``partial``: the good rows
    even when some are invalid); ``dry_run``: the report only, nothing written."""
    require(actor, "customer.import")
    behavior = changes.entity_behavior(session)
    enabled = changes.enabled_fields(session)
    gated = frozenset() if behavior == "allow" else enabled
    report: list[RowReport] = []
    all_updates: list[tuple[dict[str, Any], dict[str, Any], RowReport]] = []
    all_proposals: list[tuple[dict[str, Any], dict[str, Any], RowReport]] = []
    all_open: dict[int, ChangeProposal] = {}
    first_line: dict[str, int] = {}
    total = len(rows)
    at = now(session)
    for start in range(0, total, max(1, chunk)):
        part = rows[start:start + chunk]
        accounts = list({r.account for r in part if r.account})
        found = {m["account"]: dict(m) for m in session.execute(
            select(_TABLE).where(_TABLE.c.account.in_(accounts))).mappings()} if accounts else {}
        refs = {v for r in part for k in ("invoice_account", "parent_account")
                if isinstance(v := clean(r.values.get(k, "")), str) and v and v not in found}
        known = set(found)
        if refs:
            known |= set(session.execute(select(_TABLE.c.account).where(_TABLE.c.account.in_(list(refs)))).scalars())
        open_props: dict[int, ChangeProposal] = {}
        ids = [m["id"] for m in found.values()]
        if ids:
            for prop in session.exec(select(ChangeProposal).where(col(ChangeProposal.customer_id).in_(ids),
                                                                  col(ChangeProposal.state).in_(OPEN_STATES))).all():
                open_props[prop.customer_id] = prop
        locked_lines: dict[int, set[str]] = {}
        submitted = [p.id for p in open_props.values() if p.state == ProposalState.SUBMITTED]
        if submitted:
            for pid, field in session.execute(select(ChangeLine.proposal_id, ChangeLine.field)
                                              .where(col(ChangeLine.proposal_id).in_(submitted))).all():
                locked_lines.setdefault(pid, set()).add(field)

        updates: list[tuple[dict[str, Any], dict[str, Any], RowReport]] = []  # (customer, changed values, report)
        proposals: list[tuple[dict[str, Any], dict[str, Any], RowReport]] = []
        for row in part:
            rep = RowReport(line=row.line, account=row.account, status="invalid")
            report.append(rep)
            if row.error:
                rep.reason = row.error
                continue
            if not row.account:
                rep.reason = "no account"
                continue
            if row.account in first_line:
                rep.reason = f"account {row.account} appears again (first on line {first_line[row.account]})"
                continue
            first_line[row.account] = row.line
            cust = found.get(row.account)
            if cust is None:
                rep.reason = f"no customer {row.account}"
                continue
            typed, errors = _typed(row, cust, known)
            if errors:
                rep.errors = errors
                rep.reason = "; ".join(f"{k}: {v}" for k, v in errors.items())
                continue
            changed = {k: v for k, v in typed.items() if changes.plain_value(k, v) != changes.plain_value(k, cust[k])}
            p = open_props.get(cust["id"])
            # the customer's proposal awaiting approval, and the fields it holds
            pending = p if p is not None and p.state == ProposalState.SUBMITTED else None
            pending_fields = locked_lines.get(pending.id, set()) if pending is not None and pending.id else set()
            locked = (gated | pending_fields) if pending and behavior != "allow" else frozenset()
            held = {k: v for k, v in changed.items() if k in gated or k in locked}
            direct = {k: v for k, v in changed.items() if k not in held}
            notes = []
            if behavior == "reject" or (behavior == "propose" and pending):
                rep.refused = sorted(held)
                if held:
                    notes.append(f"{', '.join(rep.refused)}: " + (
                        f"locked, changes pending approval ({pending.number})" if pending else "changes need approval (Reject changes)"))
            elif held:
                rep.proposed = sorted(held)
                proposals.append((cust, held, rep))
            rep.applied = sorted(direct)
            rep.unapproved = sorted(set(direct) & enabled) if behavior == "allow" else []
            if rep.unapproved:  # four eyes (issue 11): say so, per row and in the audit trail
                notes.append(f"{', '.join(rep.unapproved)}: applied without approval "
                             f"(Data entity behavior: {changes.BEHAVIORS.get('allow', 'allow')})")
            if behavior == "allow" and pending:
                clash = sorted(set(direct) & pending_fields)
                if clash:
                    notes.append(f"{', '.join(clash)} also pending in {pending.number}: that line will show as a conflict")
            if direct:
                updates.append((cust, direct, rep))
            rep.status = ("refused" if rep.refused else "proposed" if rep.proposed else
                          "applied" if rep.applied else "unchanged")
            if rep.proposed:
                notes.append(f"{', '.join(rep.proposed)}: proposed for approval")
            rep.reason = "; ".join(notes)
        all_updates.extend(updates)
        all_proposals.extend(proposals)
        all_open.update(open_props)
        if progress:
            progress(min(start + chunk, total), total)
    counts = {s: 0 for s in STATUSES}
    for rep in report:
        counts[rep.status] += 1
    result = ImportReport(behavior=behavior, behavior_label=changes.BEHAVIORS.get(behavior, behavior), dry_run=dry_run,
                          rows=total, counts=counts, report=report, partial=partial)
    good = total - counts["invalid"]
    if dry_run:
        result.note = "dry run: nothing changed"
        return result
    if counts["invalid"] and not partial:
        result.note = (f"nothing changed: {counts['invalid']} of {total} rows are invalid (each is listed); "
                       "fix them and import again, or use --partial to apply the good rows")
        return result
    if all_updates or all_proposals:
        # the plan is complete: now one short write transaction, if nothing it relied on changed
        planned = _plan_updates(session, actor, all_updates, at)
        begin_write(session)
        # SQLite: the write lock is ours, the updates' version conditions and row counts are the
        # check (the rows are named only when it fails); PostgreSQL: lock and check first
        sqlite = session.get_bind().dialect.name == "sqlite"
        _check_planned_versions(session, [] if sqlite else all_updates, all_proposals, all_open)
        if not _write_updates(session, planned):
            _check_planned_versions(session, all_updates, [], {})
            raise Conflict("customers changed while the file was being checked: nothing was imported; run it again")
        _write_proposals(session, actor, all_proposals, all_open)
    result.written = True
    result.note = (f"applied the {good} good rows; {counts['invalid']} invalid rows were skipped (--partial)"
                   if counts["invalid"] else f"applied all {total} rows")
    return result


def _check_planned_versions(session: Session, updates: list[tuple[dict[str, Any], dict[str, Any], RowReport]],
                            proposals: list[tuple[dict[str, Any], dict[str, Any], RowReport]], open_props: dict[int, ChangeProposal]) -> None:
    """In the write transaction: every customer (and open proposal) the plan relied on is still
    at the version it read; else nothing is applied and the rows are named."""
    planned: dict[int, tuple[int, RowReport, str]] = {}
    for cust, _values, rep in [*updates, *proposals]:
        planned[cust["id"]] = (cust["version"], rep, cust["account"])
    ids = list(planned)
    changed: list[tuple[int, str]] = []
    lock = session.get_bind().dialect.name != "sqlite"  # SQLite: the write lock covers it already
    for start in range(0, len(ids), CHUNK):
        part = ids[start:start + CHUNK]
        query = select(_TABLE.c.id, _TABLE.c.version).where(_TABLE.c.id.in_(part))
        if lock:
            query = query.with_for_update()
        seen = dict(session.execute(query).all())
        for cid in part:
            version, rep, account = planned[cid]
            if seen.get(cid) != version:
                changed.append((rep.line, account))
    prop_customers = list({cust["id"] for cust, _v, _r in proposals})
    if prop_customers:
        now_open = {p.customer_id: (p.id, p.state, p.version) for p in session.exec(
            select(ChangeProposal).where(col(ChangeProposal.customer_id).in_(prop_customers),
                                         col(ChangeProposal.state).in_(OPEN_STATES))
            .execution_options(populate_existing=False)).all()}
        for cust, _v, rep in proposals:
            p = open_props.get(cust["id"])
            if now_open.get(cust["id"]) != (None if p is None else (p.id, p.state, p.version)):
                changed.append((rep.line, cust["account"]))
    if changed:
        changed = sorted(set(changed))
        shown = ", ".join(f"line {line} {account}" for line, account in changed[:20])
        more = f" and {len(changed) - 20} more" if len(changed) > 20 else ""
        raise Conflict(f"nothing was imported: {len(changed)} customer{'s' if len(changed) != 1 else ''} changed "
                       f"while the file was being checked ({shown}{more}); run the import again to see the new values")


@dataclass
class _PlannedUpdates:
    """The customer updates and audit rows of an import, ready for the driver (plan phase)."""

    statements: list[tuple[Any, Any, int]]  # (statement or SQL, rows, expected row count or -1)


def _plan_updates(session: Session, actor: Actor, updates: list[tuple[dict[str, Any], dict[str, Any], RowReport]],
                  at: datetime) -> _PlannedUpdates:
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
        groups.setdefault(keys, []).append({"_id": cust["id"], "_v": cust["version"], "_nv": cust["version"] + 1,
                                            **{f"v_{k}": v for k, v in row.items()}})
        events.append({"at": at, "operator": actor.user_name, "entity_type": "customer", "entity_key": cust["account"],
                       "action": "imported", "before": _dump({k: cust[k] for k in values}), "after": _dump(values),
                       "comment": f"data entity import, line {rep.line}" + (
                           f"; applied without approval: {', '.join(rep.unapproved)}" if rep.unapproved else "")})
    dialect = session.get_bind().dialect
    statements = []
    for keys, params in groups.items():
        stmt = (update(_TABLE).where(_TABLE.c.id == bindparam("_id"), _TABLE.c.version == bindparam("_v"))
                .values({**{k: bindparam(f"v_{k}") for k in keys}, "version": bindparam("_nv")}))
        statements.append((*_prepare_many(dialect, stmt, params), len(params)))
    if events:
        statements.append((*_prepare_many(dialect, insert(_AUDIT), events), -1))
    return _PlannedUpdates(statements=statements)


def _prepare_many(dialect: Dialect, stmt: UpdateBase, rows: list[dict[str, Any]]) -> tuple[Any, Any]:
    """On SQLite: the SQL and the driver-ready rows, converted here with the columns' bind
    processors (in the plan phase: SQLAlchemy's per-row processing inside the write transaction
    would double its length). Elsewhere the statement and rows as they are."""
    if dialect.name != "sqlite" or not rows:
        return stmt, rows
    compiled = stmt.compile(dialect=dialect, column_keys=list(rows[0]))
    names = {name: i for i, name in enumerate(compiled.positiontup or [])}
    position = sorted((names[compiled.bind_names[bp]], key, bp.type._cached_bind_processor(dialect))
                      for key, bp in compiled.binds.items() if compiled.bind_names[bp] in names)
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


def _write_updates(session: Session, planned: _PlannedUpdates) -> bool:
    """Run the planned statements; False when an update matched fewer rows than planned
    (a customer changed meanwhile: the caller rolls back)."""
    for stmt, rows, expected in planned.statements:
        if isinstance(stmt, str):
            dbapi = session.connection().connection.dbapi_connection
            assert dbapi is not None  # a checked-out connection always has one
            cursor = dbapi.cursor()
            try:
                cursor.executemany(stmt, rows)
                count = cursor.rowcount
            finally:
                cursor.close()
        else:
            result = session.execute(stmt, rows)
            count = result.rowcount if session.get_bind().dialect.supports_sane_multi_rowcount else expected  # type: ignore[attr-defined]
        if expected >= 0 and count != expected:
            return False
    return True


def _write_proposals(session: Session, actor: Actor, proposals: list[tuple[dict[str, Any], dict[str, Any], RowReport]],
                     open_props: dict[int, ChangeProposal]) -> None:
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
    rows = [{"number": sequences.format_number(prefix, width, first + i), "customer_id": c["id"], "account": c["account"],
             "state": ProposalState.NOT_SUBMITTED.value, "created_at": at, "created_by": actor.user_name, "updated_at": at,
             "source": "import", "version": 1} for i, (c, _, _) in enumerate(fresh)]
    ids = session.execute(insert(ChangeProposal).returning(col(ChangeProposal.id), sort_by_parameter_order=True), rows).scalars().all()
    lines, events = [], []
    for pid, row, (cust, values, rep) in zip(ids, rows, fresh):
        rep.proposal = row["number"]
        for field, value in values.items():
            lines.append({"proposal_id": pid, "field": field, "original_value": changes.encode(field, cust[field]),
                          "proposed_value": changes.encode(field, value), "proposed_by": actor.user_name,
                          "proposed_at": at, "decision": "pending"})
        events.append({"at": at, "operator": actor.user_name, "entity_type": changes.ENTITY, "entity_key": row["number"],
                       "action": "created", "before": None,
                       "after": _dump({"customer": cust["account"], "state": row["state"], "source": "import"}),
                       "comment": None})
        events.append({"at": at, "operator": actor.user_name, "entity_type": changes.ENTITY, "entity_key": row["number"],
                       "action": "lines proposed", "before": None,
                       "after": _dump({k: changes.plain_value(k, v) for k, v in values.items()}),
                       "comment": f"customer {cust['account']}; data entity import, line {rep.line}"})
    session.execute(insert(_LINES), lines)
    session.execute(insert(_AUDIT), events)
    # Not submitted -> Submitted (the "submit" transition), one statement for the chunk, then the workflow
    t = changes.TRANSITIONS["submit"]
    result = session.execute(
        update(ChangeProposal).where(col(ChangeProposal.id).in_(ids), col(ChangeProposal.state).in_(sorted(t.sources)),
                                     col(ChangeProposal.version) == 1)
        .values(state=ProposalState.SUBMITTED.value, submitted_by=actor.user_name, submitted_at=at, version=2, updated_at=at)
        .execution_options(synchronize_session=False))
    if result.rowcount != len(ids):  # type: ignore[attr-defined]  # sqlmodel types execute() as Result; an UPDATE's is a CursorResult
        raise Conflict("proposals were changed by someone else during the import: run it again")
    events = []
    for row, (cust, values, rep) in zip(rows, fresh):
        events.append({"at": at, "operator": actor.user_name, "entity_type": changes.ENTITY, "entity_key": row["number"],
                       "action": "submitted", "before": _dump({"state": ProposalState.NOT_SUBMITTED.value}),
                       "after": _dump({"state": ProposalState.SUBMITTED.value, "fields": sorted(values)}),
                       "comment": f"data entity import, line {rep.line}"})
        events.append({"at": at, "operator": actor.user_name, "entity_type": "customer", "entity_key": cust["account"],
                       "action": "changes submitted", "before": None,
                       "after": _dump({"proposal": row["number"], "fields": sorted(values)}), "comment": changes.PENDING_STATUS})
    session.execute(insert(_AUDIT), events)
    engine = changes._engine()
    if not changes.workflow_possible(session):
        return
    started: list[tuple[int, int]] = []
    for pid, row in zip(ids, rows):
        instance = engine.submit(session, actor, changes.DOC_TYPE, row["number"], "data entity import")
        if instance is not None:
            started.append((pid, instance))
    if started:
        session.execute(update(ChangeProposal.__table__).where(ChangeProposal.__table__.c.id == bindparam("_id"))  # type: ignore[attr-defined]
                        .values(workflow_instance_id=bindparam("_wf")), [{"_id": p, "_wf": w} for p, w in started])


# ---------------------------------------------------------------------------- export


# Cells a spreadsheet would run as a formula (OWASP "CSV injection"): the export prefixes them
# with ' (also a value that already starts with quotes before such a character, so the import
# can tell the two apart); ``un_neutralise`` takes exactly one ' off again on import.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _needs_quote(text: str) -> bool:
    rest = text.lstrip("'")
    return bool(rest) and rest[0] in FORMULA_START


def neutralise(text: str) -> str:
    """``=1+1`` -> ``'=1+1``; ``'=x`` -> ``''=x``; anything else unchanged."""
    return "'" + text if _needs_quote(text) else text


def un_neutralise(cell: str) -> str:
    """The inverse of ``neutralise`` for a cell read from a CSV file."""
    if cell.startswith("'") and _needs_quote(cell[1:]):
        return cell[1:]
    return cell


def _export_value(field: str, value: Any, fmt: str, raw: bool = False) -> Any:
    plain = changes.plain_value(field, value)
    if fmt == "csv" and isinstance(plain, bool):
        return "yes" if plain else "no"
    if fmt == "csv":
        return str(plain) if raw else neutralise(str(plain))
    return plain


def iter_export(session: Session, actor: Actor, fmt: str = "csv", chunk: int = 5000,
                raw: bool = False) -> Iterator[dict[str, Any]]:
    """Every customer as a row of the import format, by account (keyset pages); CSV cells that
    a spreadsheet would run are neutralised unless ``raw``."""
    require(actor, "customer.view")
    fields = list(customers.FIELDS)
    after = ""
    while True:
        page = session.execute(select(_TABLE).where(_TABLE.c.account > after).order_by(_TABLE.c.account)
                               .limit(chunk)).mappings().all()
        if not page:
            return
        for m in page:
            yield {"account": m["account"], **{f: _export_value(f, m[f], fmt, raw) for f in fields}}
        after = page[-1]["account"]


def export_customers(session: Session, actor: Actor, path: str | Path, fmt: str | None = None,
                     raw: bool = False) -> int:
    """Write every customer to ``path`` (CSV or JSON, the import format); returns the count.

    CSV cells starting with = + - @ tab or CR get a leading ' (OWASP) unless ``raw``; the import
    takes it off again, so an export imports back unchanged either way."""
    fmt = detect_format(path, fmt)
    count = 0
    try:
        with open(path, "w", encoding="utf-8", newline="") as fh:
            if fmt == "csv":
                writer = csv.DictWriter(fh, fieldnames=["account", *customers.FIELDS], lineterminator="\n")
                writer.writeheader()
                for row in iter_export(session, actor, fmt, raw=raw):
                    writer.writerow(row)
                    count += 1
            else:
                fh.write("[")
                for row in iter_export(session, actor, fmt):
                    fh.write(("\n  " if count == 0 else ",\n  ") + json.dumps(row, ensure_ascii=False, default=str))
                    count += 1
                fh.write("\n]\n")
    except OSError as exc:
        raise ValidationFailed({"file": f"cannot write {path}: {exc.strerror or exc}"}) from None
    return count


__all__ = ["ImportReport", "ImportRow", "RowReport", "export_customers", "import_rows", "iter_export", "parse_csv",
           "parse_json", "read_file"]
