"""The governed customer import (D365 "data entity") and the export in the same format.

A file is CSV (a header row: ``account`` and customer field names) or JSON (a list of
objects with ``account`` and fields), keyed by account. Each row is validated on its own;
an invalid row changes nothing and does not stop the rest. Valid rows follow the **Data
entity behavior** parameter for the fields that need approval (``customer_approval.*``):

* allow   - every field is updated, approval or not;
* reject  - the changes of approval fields are refused, the other fields are applied;
* propose - the other fields are applied; the approval-field changes become lines of the
  customer's proposal, which is submitted (the customer change workflow starts).

A field locked by a submitted proposal is refused under reject and propose. The report has
a row per line: applied / proposed / refused / invalid / unchanged, the fields and why.

Built for 100k rows: customers are read in chunks by account (one query per chunk), the
updates of a chunk go in one executemany per column set, audit events in one bulk insert;
proposals for customers without an open one are created in bulk too. ``dry_run`` computes
the same report without writing anything.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Callable, Iterator

from pydantic import BaseModel, Field
from sqlalchemy import bindparam, insert, update
from sqlmodel import Session, col, select

from models.changes import OPEN_STATES, ChangeLine, ChangeProposal, ProposalState
from models.core import AuditEvent
from models.customer import Customer
from services import audit, changes, customers, sequences
from services.errors import Conflict, ValidationFailed
from services.permissions import Actor, require
from services.store import now, writes
from services.text import clean, normalize_company, normalize_email

CHUNK = 2000
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


def parse_csv(text: str) -> list[ImportRow]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise ValidationFailed({"file": "empty: expected a header row (account, fields...)"}) from None
    columns = _check_columns(header)
    rows: list[ImportRow] = []
    start = reader.line_num + 1
    for cells in reader:
        line, start = start, reader.line_num + 1
        if not cells or all(not c.strip() for c in cells):
            continue
        if len(cells) != len(columns):
            rows.append(ImportRow(line=line, account=clean(cells[columns.index("account")]) if len(cells) > columns.index("account") else "",
                                  values={}, error=f"{len(cells)} cells, the header has {len(columns)}"))
            continue
        record = {k: un_neutralise(v) for k, v in zip(columns, cells)}
        account = clean(record.pop("account"))
        rows.append(ImportRow(line=line, account=account, values=record))
    return rows


def parse_json(text: str) -> list[ImportRow]:
    decoder = json.JSONDecoder()
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
            bad.append(f"{k}: a single value expected")
        values[str(k)] = "" if v is None else v
    unknown = [k for k in values if k not in customers.FIELDS]
    if unknown:
        bad.append("unknown field " + ", ".join(unknown))
    return ImportRow(line=line, account=clean(account) if isinstance(account, (str, int)) else "", values=values,
                     error="; ".join(bad) or None)


def read_file(path: str | Path, fmt: str | None = None) -> list[ImportRow]:
    fmt = detect_format(path, fmt)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationFailed({"file": f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}"}) from None
    return parse_json(text) if fmt == "json" else parse_csv(text)


# ---------------------------------------------------------------------------- importing


def _typed(row: ImportRow, current: dict[str, Any], known: set[str]) -> tuple[dict[str, Any], dict[str, str]]:
    errors: dict[str, str] = {}
    typed: dict[str, Any] = {}
    for name, raw in row.values.items():
        spec = customers.FIELDS.get(name)
        if spec is None:
            errors[name] = "unknown customer field"
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


@writes
def import_rows(session: Session, actor: Actor, rows: list[ImportRow], *, dry_run: bool = False,
                progress: Callable[[int, int], None] | None = None, chunk: int = CHUNK) -> ImportReport:
    """Apply ``rows`` under the Data entity behavior; ``dry_run``: the report only, nothing written."""
    require(actor, "customer.import")
    behavior = changes.entity_behavior(session)
    enabled = changes.enabled_fields(session)
    gated = frozenset() if behavior == "allow" else enabled
    report: list[RowReport] = []
    first_line: dict[str, int] = {}
    total = len(rows)
    at = now(session)
    for start in range(0, total, max(1, chunk)):
        part = rows[start:start + chunk]
        accounts = list({r.account for r in part if r.account})
        found = {m["account"]: dict(m) for m in session.execute(
            select(_TABLE).where(_TABLE.c.account.in_(accounts)).with_for_update()).mappings()} if accounts else {}
        refs = {v for r in part for k in ("invoice_account", "parent_account")
                if isinstance(v := clean(r.values.get(k, "")), str) and v and v not in found}
        known = set(found)
        if refs:
            known |= set(session.execute(select(_TABLE.c.account).where(_TABLE.c.account.in_(list(refs)))).scalars())
        open_props: dict[int, ChangeProposal] = {}
        ids = [m["id"] for m in found.values()]
        if ids:
            for p in session.exec(select(ChangeProposal).where(col(ChangeProposal.customer_id).in_(ids),
                                                               col(ChangeProposal.state).in_(OPEN_STATES))).all():
                open_props[p.customer_id] = p
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
            pending = p is not None and p.state == ProposalState.SUBMITTED
            locked = (gated | locked_lines.get(p.id, set())) if pending and behavior != "allow" else frozenset()
            held = {k: v for k, v in changed.items() if k in gated or k in locked}
            direct = {k: v for k, v in changed.items() if k not in held}
            notes = []
            if behavior == "reject" or (behavior == "propose" and pending):
                rep.refused = sorted(held)
                if held:
                    notes.append(f"{', '.join(rep.refused)}: " + (
                        f"locked, changes pending approval ({p.number})" if pending else "changes need approval (Reject changes)"))
            elif held:
                rep.proposed = sorted(held)
                proposals.append((cust, held, rep))
            rep.applied = sorted(direct)
            rep.unapproved = sorted(set(direct) & enabled) if behavior == "allow" else []
            if rep.unapproved:  # four eyes (issue 11): say so, per row and in the audit trail
                notes.append(f"{', '.join(rep.unapproved)}: applied without approval "
                             f"(Data entity behavior: {changes.BEHAVIORS.get('allow', 'allow')})")
            if behavior == "allow" and pending:
                clash = sorted(set(direct) & locked_lines.get(p.id, set()))
                if clash:
                    notes.append(f"{', '.join(clash)} also pending in {p.number}: that line will show as a conflict")
            if direct:
                updates.append((cust, direct, rep))
            rep.status = ("refused" if rep.refused else "proposed" if rep.proposed else
                          "applied" if rep.applied else "unchanged")
            if rep.proposed:
                notes.append(f"{', '.join(rep.proposed)}: proposed for approval")
            rep.reason = "; ".join(notes)
        if not dry_run:
            _write_updates(session, actor, updates, at)
            _write_proposals(session, actor, proposals, open_props)
        if progress:
            progress(min(start + chunk, total), total)
    counts = {s: 0 for s in STATUSES}
    for rep in report:
        counts[rep.status] += 1
    return ImportReport(behavior=behavior, behavior_label=changes.BEHAVIORS.get(behavior, behavior), dry_run=dry_run,
                        rows=total, counts=counts, report=report)


def _write_updates(session: Session, actor: Actor, updates: list[tuple[dict, dict, RowReport]], at) -> None:
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
    for keys, params in groups.items():
        stmt = (update(_TABLE).where(_TABLE.c.id == bindparam("_id"), _TABLE.c.version == bindparam("_v"))
                .values({**{k: bindparam(f"v_{k}") for k in keys}, "version": bindparam("_nv")}))
        result = session.execute(stmt, params)
        if session.get_bind().dialect.supports_sane_multi_rowcount and result.rowcount != len(params):  # type: ignore[attr-defined]
            raise Conflict("customers were changed by someone else during the import: run it again")
    if events:
        session.execute(insert(_AUDIT), events)


def _write_proposals(session: Session, actor: Actor, proposals: list[tuple[dict, dict, RowReport]],
                     open_props: dict[int, ChangeProposal]) -> None:
    """Submitted proposals for the approval-field changes; bulk for customers without an open one."""
    if not proposals:
        return
    fresh = [(c, v, r) for c, v, r in proposals if c["id"] not in open_props]
    for cust, values, rep in proposals:  # an unsubmitted proposal exists: add the lines, submit it
        p = open_props.get(cust["id"])
        if p is None:
            continue
        c = session.get(Customer, cust["id"])
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
    ids = session.execute(insert(ChangeProposal).returning(ChangeProposal.id, sort_by_parameter_order=True), rows).scalars().all()
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
        update(ChangeProposal).where(col(ChangeProposal.id).in_(ids), col(ChangeProposal.state).in_([s.value for s in t.sources]),
                                     ChangeProposal.version == 1)
        .values(state=ProposalState.SUBMITTED.value, submitted_by=actor.user_name, submitted_at=at, version=2, updated_at=at)
        .execution_options(synchronize_session=False))
    if result.rowcount != len(ids):  # type: ignore[attr-defined]
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
    if engine is None or not changes.workflow_possible(session):
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
