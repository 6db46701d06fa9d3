"""The workflow engine from the command line: ``workflow ...`` (definitions, tick) and ``work ...``
(work items: list, approve, reject, request change, delegate; recall and resubmit documents)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from app.cli import output
from app.cli.root import JsonOption, app, obj

workflow_app = typer.Typer(help="Workflow definitions (TOML), and the time-limit tick for cron.", no_args_is_help=True)
work_app = typer.Typer(help="Work items: approvals assigned to operators.", no_args_is_help=True)
app.add_typer(workflow_app, name="workflow")
app.add_typer(work_app, name="work")

DEFINITION_COLUMNS = [
    ("id", "Id"),
    ("doc_type", "Document type"),
    ("name", "Name"),
    ("version", "Version"),
    ("active", "Active"),
    ("condition", "Condition"),
    ("steps", "Steps"),
    ("running", "Running"),
    ("created_at", "Imported"),
    ("created_by", "By"),
]
STEP_COLUMNS = [
    ("sequence", "#"),
    ("name", "Step"),
    ("kind", "Kind"),
    ("assignee", "Assignee"),
    ("policy", "Policy"),
    ("condition", "Condition"),
    ("time_limit_hours", "Limit h"),
    ("reminder_hours", "Remind h"),
    ("escalation", "Escalation"),
    ("final_action", "Finally"),
    ("action", "Action"),
]
ITEM_COLUMNS = [
    ("id", "Item"),
    ("document", "Document"),
    ("summary", "Summary"),
    ("step", "Step"),
    ("assigned_to", "Assigned to"),
    ("age", "Age"),
    ("due_at", "Due"),
    ("overdue", "Overdue"),
    ("yours", "Submitted by you"),
]


def _age(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h {minutes % 60:02d}m"
    return f"{minutes // (24 * 60)}d {minutes % (24 * 60) // 60}h"


def _steps_rows(steps):
    return [{**s.model_dump(), "escalation": ", ".join(s.escalation)} for s in steps]


# ------------------------------------------------------------------ workflow


@workflow_app.command("list")
def workflow_list(
    ctx: typer.Context,
    doc_type: Optional[str] = typer.Option(None, "--type", help="Only this document type."),
    active: bool = typer.Option(False, "--active", help="Only active definitions."),
    as_json: bool = JsonOption,
) -> None:
    """Workflow definitions, every version, newest first."""
    from services import workflow_defs

    rows = obj(ctx).call(workflow_defs.list_definitions, doc_type, active_only=active)
    if as_json:
        return output.emit_json(rows)
    output.table(rows, DEFINITION_COLUMNS)


@workflow_app.command("show")
def workflow_show(
    ctx: typer.Context,
    ref: str = typer.Argument(
        ..., metavar="ID|TYPE", help="Definition id, or a document type (its active definition)."
    ),
    as_json: bool = JsonOption,
) -> None:
    """A definition and its steps."""
    from services import workflow_defs

    d = obj(ctx).call(workflow_defs.show_definition, ref)
    if as_json:
        return output.emit_json(d)
    output.record(d, title=f"Workflow {d.name} v{d.version} ({d.doc_type})")
    output.table(_steps_rows(d.step_list), STEP_COLUMNS, title="Steps")


@workflow_app.command("export")
def workflow_export(
    ctx: typer.Context,
    doc_type: str = typer.Argument(..., metavar="TYPE", help="Document type, e.g. user_request."),
    name: Optional[str] = typer.Option(None, "--name", help="Definition name (default: the active one)."),
    version: Optional[int] = typer.Option(None, "--version", help="A given version."),
    out: Optional[str] = typer.Option(None, "--output", "-o", metavar="FILE", help="Write to FILE instead of stdout."),
) -> None:
    """Print (or write) a definition as TOML, ready to edit and import."""
    from services import workflow_defs
    from services.errors import ValidationFailed

    text = obj(ctx).call(workflow_defs.export_definition, doc_type, name, version)
    if out:
        try:
            Path(out).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise ValidationFailed({"output": f"cannot write {out}: {exc.strerror or exc}"}) from None
        output.message(f"written to {out}")
    else:
        typer.echo(text, nl=not text.endswith("\n"))


@workflow_app.command("import")
def workflow_import(
    ctx: typer.Context,
    path: str = typer.Argument(..., metavar="FILE", help="A definition file (TOML)."),
    activate: bool = typer.Option(False, "--activate", help="Activate the new version at once."),
    as_json: bool = JsonOption,
) -> None:
    """Import a definition as a new version (inactive unless --activate). A bad file changes nothing."""
    from services import workflow_defs

    d = obj(ctx).call(workflow_defs.import_file, path, activate)
    if as_json:
        return output.emit_json(d)
    state = "active" if d.active else "inactive: 'regdesk workflow activate " + str(d.id) + "' to use it"
    output.message(f"imported {d.doc_type} workflow '{d.name}' as version {d.version} (id {d.id}, {state})")


def _flip(ctx: typer.Context, ref: str, on: bool, as_json: bool) -> None:
    from services import workflow_defs

    d = obj(ctx).call(workflow_defs.activate if on else workflow_defs.deactivate, ref)
    if as_json:
        return output.emit_json(d)
    output.message(
        f"{d.doc_type} workflow '{d.name}' version {d.version} (id {d.id}) is "
        + ("active" if d.active else "inactive")
        + (f"; {d.running} running instance(s) finish on it" if not d.active and d.running else "")
    )


@workflow_app.command("activate")
def workflow_activate(
    ctx: typer.Context, ref: str = typer.Argument(..., metavar="ID"), as_json: bool = JsonOption
) -> None:
    """Make a version the active one of its (type, name): new documents start on it."""
    _flip(ctx, ref, True, as_json)


@workflow_app.command("deactivate")
def workflow_deactivate(
    ctx: typer.Context, ref: str = typer.Argument(..., metavar="ID"), as_json: bool = JsonOption
) -> None:
    """New documents no longer start on it (running ones finish on it)."""
    _flip(ctx, ref, False, as_json)


@workflow_app.command("tick")
def workflow_tick(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """Apply time limits, escalations and reminders (safe to run from cron, as often as you like)."""
    from services import workflow

    report = obj(ctx).call(workflow.tick)
    if as_json:
        return output.emit_json(report)
    for line in report.events:
        output.message(line)
    output.message(
        f"tick at {report.at:%Y-%m-%d %H:%M} UTC: {report.escalations} escalation(s), "
        f"{report.automatic_approvals} automatic approval(s), {report.automatic_rejections} automatic "
        f"rejection(s), {report.reminders} reminder(s)"
    )


@workflow_app.command("history")
def workflow_history(
    ctx: typer.Context,
    doc_type: str = typer.Argument(..., metavar="TYPE"),
    key: str = typer.Argument(..., metavar="KEY"),
    as_json: bool = JsonOption,
) -> None:
    """The workflows a document went through: steps, work items, decisions and comments."""
    from services import workflow

    h = obj(ctx).call(workflow.history, doc_type, key)
    if as_json:
        return output.emit_json(h)
    for inst in h.instances:
        output.message(f"workflow {inst.id}: {inst.definition}, {inst.status}, submitted by {inst.submitter}")
        output.table(
            inst.items,
            [
                ("id", "Item"),
                ("step", "Step"),
                ("assignee", "Assignee"),
                ("status", "Status"),
                ("decided_by", "By"),
                ("decided_at", "At"),
                ("comment", "Comment"),
            ],
        )
    output.table(
        h.events, [("at", "When"), ("operator", "Who"), ("action", "What"), ("comment", "Comment")], title="History"
    )


# ------------------------------------------------------------------ work


@work_app.command("list")
def work_list(
    ctx: typer.Context,
    mine: bool = typer.Option(False, "--mine", help="Only items assigned to me."),
    doc_type: Optional[str] = typer.Option(None, "--type", help="Only this document type."),
    limit: int = typer.Option(500, "--limit", min=1, max=10_000, help="At most this many items."),
    search: Optional[str] = typer.Option(
        None,
        "--search",
        help="Only items whose document this finds (its number, its customer's account or name, a "
        "case's title or contact) or whose assignee or submitter it names.",
    ),
    view: Optional[str] = typer.Option(
        None, "--view", help="One of My work's tabs: All, Overdue, Waiting for me, My submissions."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Open work items, overdue first ("Submitted by you": you may not approve those while
    'Disallow approval by submitter' is on)."""
    from services import workflow

    rows = obj(ctx).call(workflow.list_work, mine, doc_type, limit=limit, search=search, view=view)
    if as_json:
        return output.emit_json(rows)
    output.table(
        [
            {
                **r.model_dump(),
                "age": _age(r.age_minutes),
                "document": f"{r.doc_title} {r.doc_key}",
                "assigned_to": f"{r.assignee_name} ({r.assignee})" if r.assignee_name else r.assignee,
                "yours": "yes" if r.own_submission else "",
            }
            for r in rows
        ],
        ITEM_COLUMNS,
    )


@work_app.command("count")
def work_count(
    ctx: typer.Context,
    doc_type: Optional[str] = typer.Option(None, "--type", help="Only this document type."),
    as_json: bool = JsonOption,
) -> None:
    """How many work items wait for me (assigned to me, not on documents I submitted)."""
    from services import workflow

    n = obj(ctx).call(workflow.count_waiting, doc_type)
    if as_json:
        return output.emit_json({"waiting": n})
    output.message(f"{n} work item(s) waiting for you")


@work_app.command("show")
def work_show(ctx: typer.Context, item: str = typer.Argument(..., metavar="ID"), as_json: bool = JsonOption) -> None:
    """A work item's workflow: steps and every item with its decision."""
    from services import workflow

    d = obj(ctx).call(workflow.show_item, item)
    if as_json:
        return output.emit_json(d)
    output.record(d, title=f"Workflow {d.id}: {d.doc_type} {d.doc_key}")
    output.table(_steps_rows(d.steps), STEP_COLUMNS, title="Steps")
    output.table(
        d.items,
        [
            ("id", "Item"),
            ("step", "Step"),
            ("assignee", "Assignee"),
            ("assigned_via", "Via"),
            ("status", "Status"),
            ("due_at", "Due"),
            ("decided_by", "By"),
            ("comment", "Comment"),
        ],
        title="Work items",
    )


def _report(results, as_json: bool) -> None:
    if as_json:
        output.emit_json(results)
    else:
        for r in results:
            if r.ok:
                output.message(f"ok    {r.item_id}: {r.message}")
            else:
                # an id that is no number has no item_id: the message names it as typed
                output.error(r.message if r.item_id is None else f"{r.item_id}: {r.message}")
        failed = sum(1 for r in results if not r.ok)
        if len(results) > 1:
            output.message(f"{len(results) - failed} done, {failed} failed")
    failures = [r for r in results if not r.ok]
    if failures:
        raise typer.Exit(code=_exit_code(failures))


def _exit_code(failures) -> int:
    """The refusal's own exit code (README's table) when every failure is of one kind; else 1."""
    from services import errors

    codes = {
        8 if r.error == "DatabaseError" else getattr(getattr(errors, r.error or "", None), "exit_code", 1)
        for r in failures
    }
    return codes.pop() if len(codes) == 1 else 1


IdsArgument = typer.Argument(..., metavar="ID...", help="One or more work item ids.")
CommentOption = typer.Option(None, "--comment", help="A comment for the history.")


@work_app.command("approve")
def work_approve(
    ctx: typer.Context,
    items: List[str] = IdsArgument,
    comment: Optional[str] = CommentOption,
    as_json: bool = JsonOption,
) -> None:
    """Approve work items; each one's result is printed (exit code of the refusal if any failed, see README)."""
    from services import workflow

    _report(obj(ctx).call(workflow.bulk_decide, items, "approve", comment), as_json)


@work_app.command("reject")
def work_reject(
    ctx: typer.Context,
    items: List[str] = IdsArgument,
    reason: str = typer.Option(..., "--reason", help="Why (required)."),
    as_json: bool = JsonOption,
) -> None:
    """Reject work items with a reason."""
    from services import workflow

    _report(obj(ctx).call(workflow.bulk_decide, items, "reject", reason), as_json)


@work_app.command("request-change")
def work_request_change(
    ctx: typer.Context,
    items: List[str] = IdsArgument,
    comment: Optional[str] = CommentOption,
    as_json: bool = JsonOption,
) -> None:
    """Send documents back to their submitters for changes (they resubmit)."""
    from services import workflow

    _report(obj(ctx).call(workflow.bulk_decide, items, "request_change", comment), as_json)


@work_app.command("delegate")
def work_delegate(
    ctx: typer.Context,
    items: List[str] = IdsArgument,
    to: str = typer.Option(..., "--to", metavar="OPERATOR", help="The operator who takes the items."),
    comment: Optional[str] = CommentOption,
    as_json: bool = JsonOption,
) -> None:
    """Hand work items to another operator."""
    from services import workflow
    from services.errors import RegdeskError
    from services.workflow import ActionResult

    c = obj(ctx)
    results = []
    for item in items:
        try:
            results.append(c.call(workflow.delegate, item, to, comment))
        except RegdeskError as exc:
            from services.validation import record_id

            item_id = record_id(item)
            results.append(
                ActionResult(
                    item_id=item_id, action="delegate", ok=False, message=exc.message, error=type(exc).__name__
                )
            )
    _report(results, as_json)


@work_app.command("recall")
def work_recall(
    ctx: typer.Context,
    doc_type: str = typer.Argument(..., metavar="TYPE"),
    key: str = typer.Argument(..., metavar="KEY"),
    comment: Optional[str] = CommentOption,
    as_json: bool = JsonOption,
) -> None:
    """Take a document you submitted back out of workflow."""
    from services import workflow

    view = obj(ctx).call(workflow.recall_document, doc_type, key, comment)
    if as_json:
        return output.emit_json(view)
    output.message(f"{doc_type} {key} recalled (workflow {view.id})")


@work_app.command("resubmit")
def work_resubmit(
    ctx: typer.Context,
    doc_type: str = typer.Argument(..., metavar="TYPE"),
    key: str = typer.Argument(..., metavar="KEY"),
    comment: Optional[str] = CommentOption,
    as_json: bool = JsonOption,
) -> None:
    """Resubmit a document sent back for changes (or start it again after a rejection or recall)."""
    from services import workflow

    inst = obj(ctx).call(workflow.resubmit_document, doc_type, key, comment)
    if as_json:
        return output.emit_json({"instance": inst})
    output.message(
        f"{doc_type} {key} resubmitted (workflow {inst})"
        if inst
        else f"{doc_type} {key}: no active workflow matches it; it waits for manual processing"
    )
