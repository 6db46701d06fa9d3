"""The import command: plan the whole file (read transaction, no lock, customers in chunks),
then apply it in one short write transaction that re-checks every version it planned on."""

from __future__ import annotations

from typing import Any, Callable

from sqlmodel import Session, col, select

from models.changes import OPEN_STATES, ChangeLine, ChangeProposal, ProposalState
from services import changes, customers
from services.customer_import.bulk import (
    CUSTOMERS,
    plan_proposals,
    plan_updates,
    prefill,
    write_proposals,
    write_updates,
)
from services.customer_import.files import MAX_NUMBER_CHARS
from services.customer_import.views import STATUSES, ImportReport, ImportRow, Planned, RowReport
from services.errors import Conflict
from services.permissions import Actor, require
from services.store import begin_write, now, writes
from services.text import clean

CHUNK = 2000


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


@writes(phased=True)
def import_rows(
    session: Session,
    actor: Actor,
    rows: list[ImportRow],
    *,
    dry_run: bool = False,
    partial: bool = False,
    progress: Callable[[int, int], None] | None = None,
    chunk: int = CHUNK,
) -> ImportReport:
    """Apply ``rows`` under the Data entity behavior, all or nothing (``partial``: the good rows
    even when some are invalid); ``dry_run``: the report only, nothing written."""
    require(actor, "customer.import")
    behavior = changes.entity_behavior(session)
    enabled = changes.enabled_fields(session)
    gated = frozenset() if behavior == "allow" else enabled
    report: list[RowReport] = []
    all_updates: list[Planned] = []
    all_proposals: list[Planned] = []
    all_open: dict[int, ChangeProposal] = {}
    first_line: dict[str, int] = {}
    total = len(rows)
    at = now(session)
    # the customer columns the plan reads: key, version and the fields the file names (the
    # whole row of 40 columns per customer was most of the plan's reading)
    named = sorted({k for r in rows for k in r.values if k in customers.FIELDS and k in CUSTOMERS.c})
    read_columns = [CUSTOMERS.c.id, CUSTOMERS.c.version, CUSTOMERS.c.account, *(CUSTOMERS.c[k] for k in named)]
    for start in range(0, total, max(1, chunk)):
        part = rows[start : start + chunk]
        accounts = list({r.account for r in part if r.account})
        found = (
            {
                m["account"]: dict(m)
                for m in session.execute(select(*read_columns).where(CUSTOMERS.c.account.in_(accounts))).mappings()
            }
            if accounts
            else {}
        )
        refs = {
            v
            for r in part
            for k in ("invoice_account", "parent_account")
            if k in r.values and (v := clean(r.values[k])) and v not in found
        }
        known = set(found)
        if refs:
            known |= set(
                session.execute(select(CUSTOMERS.c.account).where(CUSTOMERS.c.account.in_(list(refs)))).scalars()
            )
        open_props: dict[int, ChangeProposal] = {}
        ids = [m["id"] for m in found.values()]
        if ids:
            for prop in session.exec(
                select(ChangeProposal).where(
                    col(ChangeProposal.customer_id).in_(ids), col(ChangeProposal.state).in_(OPEN_STATES)
                )
            ).all():
                open_props[prop.customer_id] = prop
        locked_lines: dict[int, set[str]] = {}
        submitted = [p.id for p in open_props.values() if p.state == ProposalState.SUBMITTED]
        if submitted:
            for pid, field in session.execute(
                select(ChangeLine.proposal_id, ChangeLine.field).where(col(ChangeLine.proposal_id).in_(submitted))
            ).all():
                locked_lines.setdefault(pid, set()).add(field)

        updates: list[Planned] = []  # (customer, changed values, report)
        proposals: list[Planned] = []
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
                    notes.append(
                        f"{', '.join(rep.refused)}: "
                        + (
                            f"locked, changes pending approval ({pending.number})"
                            if pending
                            else "changes need approval (Reject changes)"
                        )
                    )
            elif held:
                rep.proposed = sorted(held)
                proposals.append((cust, held, rep))
            rep.applied = sorted(direct)
            rep.unapproved = sorted(set(direct) & enabled) if behavior == "allow" else []
            if rep.unapproved:  # four eyes (issue 11): say so, per row and in the audit trail
                notes.append(
                    f"{', '.join(rep.unapproved)}: applied without approval "
                    f"(Data entity behavior: {changes.BEHAVIORS.get('allow', 'allow')})"
                )
            if behavior == "allow" and pending:
                clash = sorted(set(direct) & pending_fields)
                if clash:
                    notes.append(
                        f"{', '.join(clash)} also pending in {pending.number}: that line will show as a conflict"
                    )
            if direct:
                updates.append((cust, direct, rep))
            rep.status = (
                "refused" if rep.refused else "proposed" if rep.proposed else "applied" if rep.applied else "unchanged"
            )
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
    result = ImportReport(
        behavior=behavior,
        behavior_label=changes.BEHAVIORS.get(behavior, behavior),
        dry_run=dry_run,
        rows=total,
        counts=counts,
        report=report,
        partial=partial,
    )
    good = total - counts["invalid"]
    if dry_run:
        result.note = "dry run: nothing changed"
        return result
    if counts["invalid"] and not partial:
        result.note = (
            f"nothing changed: {counts['invalid']} of {total} rows are invalid (each is listed); "
            "fix them and import again, or use --partial to apply the good rows"
        )
        return result
    if all_updates or all_proposals:
        # the plan is complete: now one short write transaction, if nothing it relied on changed
        planned = plan_updates(session, actor, all_updates, at)
        planned_proposals = plan_proposals(session, actor, all_proposals, all_open, at)
        prefill(session, planned)
        begin_write(session)
        # the updates' version conditions and row counts are the check (the rows are named only
        # when it fails; on PostgreSQL an UPDATE that finds a row changed by a transaction that
        # committed meanwhile re-checks the condition on the new row, so it matches no row);
        # customers that only get a proposal are checked (PostgreSQL: locked) here
        _check_planned_versions(session, [], all_proposals, all_open)
        if not write_updates(session, planned):
            # name the rows that moved, as a fresh read sees them: undo what this transaction's
            # earlier column sets updated first (their versions would look changed too)
            session.rollback()
            _check_planned_versions(session, all_updates, [], {})
            raise Conflict("customers changed while the file was being checked: nothing was imported; run it again")
        write_proposals(session, actor, planned_proposals, all_open)
    result.written = True
    result.note = (
        f"applied the {good} good rows; {counts['invalid']} invalid rows were skipped (--partial)"
        if counts["invalid"]
        else f"applied all {total} rows"
    )
    return result


def _check_planned_versions(
    session: Session, updates: list[Planned], proposals: list[Planned], open_props: dict[int, ChangeProposal]
) -> None:
    """In the write transaction: every customer (and open proposal) the plan relied on is still
    at the version it read; else nothing is applied and the rows are named."""
    planned: dict[int, tuple[int, RowReport, str]] = {}
    for cust, _values, rep in [*updates, *proposals]:
        planned[cust["id"]] = (cust["version"], rep, cust["account"])
    ids = list(planned)
    changed: list[tuple[int, str]] = []
    lock = session.get_bind().dialect.name != "sqlite"  # SQLite: the write lock covers it already
    for start in range(0, len(ids), CHUNK):
        part = ids[start : start + CHUNK]
        query = select(CUSTOMERS.c.id, CUSTOMERS.c.version).where(CUSTOMERS.c.id.in_(part))
        if lock:
            query = query.with_for_update()
        seen = dict(session.execute(query).all())
        for cid in part:
            version, rep, account = planned[cid]
            if seen.get(cid) != version:
                changed.append((rep.line, account))
    prop_customers = list({cust["id"] for cust, _v, _r in proposals})
    if prop_customers:
        now_open = {
            p.customer_id: (p.id, p.state, p.version)
            for p in session.exec(
                select(ChangeProposal)
                .where(col(ChangeProposal.customer_id).in_(prop_customers), col(ChangeProposal.state).in_(OPEN_STATES))
                .execution_options(populate_existing=False)
            ).all()
        }
        for cust, _v, rep in proposals:
            p = open_props.get(cust["id"])
            if now_open.get(cust["id"]) != (None if p is None else (p.id, p.state, p.version)):
                changed.append((rep.line, cust["account"]))
    if changed:
        changed = sorted(set(changed))
        shown = ", ".join(f"line {line} {account}" for line, account in changed[:20])
        more = f" and {len(changed) - 20} more" if len(changed) > 20 else ""
        raise Conflict(
            f"nothing was imported: {len(changed)} customer{'s' if len(changed) != 1 else ''} changed "
            f"while the file was being checked ({shown}{more}); run the import again to see the new values"
        )
