"""Proposed customer changes (issue 4): ``params ...``, ``changes ...`` and
``customers edit / import / export``."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from app.cli import output
from app.cli.admin_cmds import customers_app
from app.cli.root import JsonOption, app, obj

params_app = typer.Typer(
    help="Parameters: customer approval, self-service, workflow, mail (admins change them).", no_args_is_help=True
)
changes_app = typer.Typer(help="Proposed customer changes: review, submit, approve, reject.", no_args_is_help=True)
app.add_typer(params_app, name="params")
app.add_typer(changes_app, name="changes")


def _pairs(items: list[str], what: str) -> dict[str, str]:
    from services.errors import ValidationFailed

    values: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ValidationFailed({what: f"{item!r}: expected FIELD=VALUE"})
        key, value = item.split("=", 1)
        values[key.strip()] = value
    return values


# ------------------------------------------------------------------ params


def _show_settings(settings, as_json: bool) -> None:
    if as_json:
        return output.emit_json(settings)
    output.record(
        {
            "Enable customer approvals": settings.enabled,
            "Data entity behavior": f"{settings.entity_behavior_label} ({settings.entity_behavior})",
        },
        title="Customer approval",
    )
    output.table(
        [{"name": f.name, "label": f.label, "enabled": f.enabled} for f in settings.fields],
        [("name", "Field"), ("label", "Label"), ("enabled", "Enable")],
    )


@params_app.command("show")
def params_show(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """The customer approval parameters: the switch, the data entity behavior, the fields."""
    from services import changes

    _show_settings(obj(ctx).call(changes.approval_settings), as_json)


@params_app.command("set")
def params_set(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="approvals|entity-behavior|KEY"),
    value: str = typer.Argument(..., metavar="VALUE"),
    as_json: bool = JsonOption,
) -> None:
    """Set 'approvals on|off', 'entity-behavior allow|reject|propose', or any KEY of 'params list' (admins)."""
    from services import changes, params
    from services.errors import ValidationFailed

    if name.strip() in params.SPECS:
        view = obj(ctx).call(params.set_param, name.strip(), value)
        if as_json:
            return output.emit_json(view)
        return output.message(f"{view.key} = {view.value}")
    key = name.strip().lower().replace("_", "-")
    if key in ("approvals", "enabled", "customer-approvals"):
        settings = obj(ctx).call(changes.set_approvals, value)
    elif key in ("entity-behavior", "behavior", "data-entity-behavior"):
        settings = obj(ctx).call(changes.set_entity_behavior, value)
    else:
        raise ValidationFailed(
            {
                "name": "approvals, entity-behavior or a key of 'regdesk params list' "
                "(fields: 'regdesk params field NAME on|off')"
            }
        )
    if as_json:
        return output.emit_json(settings)
    output.message(
        f"customer approvals {'on' if settings.enabled else 'off'}; data entity behavior: "
        f"{settings.entity_behavior_label}"
    )


@params_app.command("list")
def params_list(
    ctx: typer.Context,
    prefix: str = typer.Option("", "--prefix", help="Only keys starting with this."),
    as_json: bool = JsonOption,
) -> None:
    """Every parameter with its value, default and meaning (self-service, workflow, mail...)."""
    from services import params

    rows = obj(ctx).call(params.list_params, prefix)
    if as_json:
        return output.emit_json(rows)
    output.table(rows, [("key", "Key"), ("value", "Value"), ("default", "Default"), ("description", "Meaning")])


@params_app.command("field")
def params_field(
    ctx: typer.Context,
    name: str = typer.Argument(..., metavar="FIELD"),
    value: str = typer.Argument(..., metavar="on|off"),
    as_json: bool = JsonOption,
) -> None:
    """Whether changes of a customer field need approval (admins)."""
    from services import changes

    settings = obj(ctx).call(changes.set_field_approval, name, value)
    if as_json:
        return output.emit_json(settings)
    field = changes.parse_field(name)
    on = next(f.enabled for f in settings.fields if f.name == field)
    output.message(f"{field}: changes {'need' if on else 'do not need'} approval")


# ------------------------------------------------------------------ customers edit / import / export


@customers_app.command("edit")
def customers_edit(
    ctx: typer.Context,
    account: str,
    values: list[str] = typer.Argument(..., metavar="FIELD=VALUE..."),
    version: Optional[int] = typer.Option(
        None, "--version", help="Refuse if the customer is no longer at this version."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Change customer fields: fields needing approval become proposed changes (not submitted)."""
    from services import changes

    result = obj(ctx).call(changes.edit_customer, account, _pairs(values, "values"), expected_version=version)
    if as_json:
        return output.emit_json(result)
    output.message(f"{result.account}: {result.message}")
    if result.proposal and result.proposal.lines:
        _lines_table(result.proposal)


@customers_app.command("import")
def customers_import(
    ctx: typer.Context,
    file: str = typer.Argument(
        ..., metavar="FILE", help="CSV (header: account, fields...) or JSON (a list of objects)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would happen; change nothing."),
    partial: bool = typer.Option(
        False, "--partial", help="Apply the good rows even when some rows are invalid (default: all or nothing)."
    ),
    fmt: Optional[str] = typer.Option(None, "--format", help="csv or json (default: from the file name)."),
    raw: bool = typer.Option(
        False,
        "--raw",
        help="CSV cells are exact values (a `customers export --raw` file): "
        "a leading ' is kept, not taken as the export's spreadsheet guard.",
    ),
    show: int = typer.Option(200, "--show", min=0, help="Rows of the report to print (all with --json)."),
    as_json: bool = JsonOption,
) -> None:
    """Import customers by account under the Data entity behavior, all or nothing: when a row is
    invalid, every bad row is listed, nothing changes and the exit code is 2 (--partial: the good
    rows are applied, exit code 2 still says some were not)."""
    from services import customer_import

    c = obj(ctx)
    rows = customer_import.read_file(file, fmt, raw=raw)
    if sys.stdout.isatty() and not as_json and len(rows) > 0:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        with Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=output.out,
            transient=True,
        ) as bar:
            task = bar.add_task("import", total=len(rows))
            report = c.call(
                customer_import.import_rows,
                rows,
                dry_run=dry_run,
                partial=partial,
                progress=lambda done, total: bar.update(task, completed=done),
            )
    else:
        report = c.call(customer_import.import_rows, rows, dry_run=dry_run, partial=partial)
    if as_json:
        output.emit_json(report)
    else:
        notable = [r for r in report.report if r.status != "unchanged"]
        output.table(
            [{**r.model_dump(), "fields": _fields(r)} for r in notable[:show]],
            [
                ("line", "Line"),
                ("account", "Account"),
                ("status", "Result"),
                ("fields", "Fields"),
                ("proposal", "Proposal"),
                ("reason", "Reason"),
            ],
            title=f"Import{' (dry run: nothing changed)' if dry_run else ''}: {report.behavior_label}",
        )
        if len(notable) > show:
            output.message(f"... {len(notable) - show} more rows (raise --show, or use --json)")
        counts = ", ".join(f"{n} {s}" for s, n in report.counts.items())
        output.message(f"{report.rows} rows: {counts}")
        if report.note:
            (output.error if not report.written and not dry_run else output.message)(report.note)
    if report.counts.get("invalid"):
        raise typer.Exit(2)


def _fields(r) -> str:
    parts = []
    for what in ("applied", "proposed", "refused"):
        if getattr(r, what):
            parts.append(f"{what}: {', '.join(getattr(r, what))}")
    return "; ".join(parts)


@customers_app.command("export")
def customers_export(
    ctx: typer.Context,
    file: str = typer.Argument(..., metavar="FILE"),
    fmt: Optional[str] = typer.Option(None, "--format", help="csv or json (default: from the file name)."),
    raw: bool = typer.Option(
        False, "--raw", help="CSV: exact values, cells a spreadsheet would run as formulas are not prefixed with '."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Write every customer in the import format (CSV or JSON). CSV cells starting with = + - @ tab
    or CR get a leading ' so a spreadsheet shows them as text (the import removes it again)."""
    from services import customer_import

    count = obj(ctx).call(customer_import.export_customers, file, fmt, raw=raw)
    if as_json:
        return output.emit_json({"file": file, "customers": count})
    output.message(f"{count} customers written to {file}")


# ------------------------------------------------------------------ changes


def _lines_table(view) -> None:
    output.table(
        [{**x.model_dump(), "flag": "CONFLICT" if x.conflict else ""} for x in view.lines],
        [
            ("field", "Field"),
            ("original", "Original"),
            ("proposed", "Proposed"),
            ("current", "Current"),
            ("flag", "Conflict"),
            ("decision", "Decision"),
            ("proposed_by", "Proposed by"),
            ("comment", "Comment"),
        ],
        title="Proposed changes",
    )


@changes_app.command("list")
def changes_list(
    ctx: typer.Context,
    status: Optional[str] = typer.Option(
        None, "--status", help="Not submitted, Submitted, Approved, Partially approved, Rejected, Discarded or All."
    ),
    mine: bool = typer.Option(False, "--mine", help="Only proposals waiting for my decision."),
    limit: int = typer.Option(200, "--limit", min=1, max=10000),
    as_json: bool = JsonOption,
) -> None:
    """Proposed customer changes, newest first."""
    from services import changes

    rows = obj(ctx).call(changes.list_proposals, state=status, waiting_for_me=mine, limit=limit)
    if as_json:
        return output.emit_json(rows)
    output.table(
        rows,
        [
            ("number", "Proposal"),
            ("account", "Account"),
            ("customer_name", "Customer"),
            ("state", "State"),
            ("fields", "Fields"),
            ("created_by", "Proposed by"),
            ("submitted_at", "Submitted"),
            ("decided_by", "Decided by"),
        ],
    )


@changes_app.command("show")
def changes_show(
    ctx: typer.Context, account: str = typer.Argument(..., metavar="ACCOUNT|CHG-NUMBER"), as_json: bool = JsonOption
) -> None:
    """A customer's proposal: each line with original, proposed and current value."""
    from services import changes

    view = obj(ctx).call(changes.show_proposal, account)
    if as_json:
        return output.emit_json(view)
    output.record(view, title=f"Proposal {view.number}", skip=("lines", "version", "workflow_instance_id"))
    _lines_table(view)


@changes_app.command("discard")
def changes_discard(
    ctx: typer.Context,
    account: str,
    field: Optional[str] = typer.Argument(None, metavar="[FIELD]"),
    as_json: bool = JsonOption,
) -> None:
    """Discard one proposed change (FIELD), or all of them."""
    from services import changes

    view = obj(ctx).call(changes.discard, account, field)
    if as_json:
        return output.emit_json(view or {"account": account, "state": "Discarded"})
    if view is None:
        output.message(f"{account}: every proposed change discarded")
    else:
        output.message(f"{view.number}: {field} discarded; {view.message}")


@changes_app.command("submit")
def changes_submit(
    ctx: typer.Context,
    account: str,
    comment: Optional[str] = typer.Option(None, "--comment"),
    as_json: bool = JsonOption,
) -> None:
    """Workflow > Submit: send the customer's proposed changes for approval."""
    from services import changes

    view = obj(ctx).call(changes.submit, account, comment)
    if as_json:
        return output.emit_json(view)
    how = "customer change workflow started" if view.workflow_instance_id else "waiting for any approver"
    output.message(f"{view.number} submitted: {view.status} ({how})")


@changes_app.command("recall")
def changes_recall(
    ctx: typer.Context,
    account: str,
    comment: Optional[str] = typer.Option(None, "--comment"),
    as_json: bool = JsonOption,
) -> None:
    """Take a submitted proposal back (its submitter only)."""
    from services import changes

    view = obj(ctx).call(changes.recall, account, comment)
    if as_json:
        return output.emit_json(view)
    output.message(f"{view.number} recalled: {view.state}")


@changes_app.command("approve")
def changes_approve(
    ctx: typer.Context,
    account: str,
    only: list[str] = typer.Option(
        [], "--only", metavar="FIELD", help="Approve only this line (repeatable); the others are rejected."
    ),
    line_comment: list[str] = typer.Option(
        [], "--line-comment", metavar="FIELD=TEXT", help="A comment on one line (repeatable)."
    ),
    comment: Optional[str] = typer.Option(None, "--comment"),
    as_json: bool = JsonOption,
) -> None:
    """Approve the proposed changes (all, or --only some lines) and apply them."""
    from services import changes

    result = obj(ctx).call(
        changes.approve, account, only=only or None, comments=_pairs(line_comment, "--line-comment"), comment=comment
    )
    if as_json:
        return output.emit_json(result)
    output.message(result.message)


@changes_app.command("reject")
def changes_reject(
    ctx: typer.Context,
    account: str,
    reason: str = typer.Option(..., "--reason", help="Why (required)."),
    as_json: bool = JsonOption,
) -> None:
    """Reject the proposed changes: the customer stays as it is."""
    from services import changes

    result = obj(ctx).call(changes.reject, account, reason)
    if as_json:
        return output.emit_json(result)
    output.message(result.message)
