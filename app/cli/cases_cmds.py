"""Customer request cases and B2B partner onboarding: ``cases``, ``prospects``, ``leads``,
``opportunities``. Every command takes ``--json``; refusals print a message and exit non-zero."""

from __future__ import annotations

from typing import Optional

import typer

from app.cli import output
from app.cli.root import JsonOption, app, obj
from app.cli.signup_cmds import read_json_input

cases_app = typer.Typer(
    help="Customer request cases (special conditions, product changes...) and samples.", no_args_is_help=True
)
prospects_app = typer.Typer(
    help="B2B partner prospects (what the B2B site's onboarding form sends).", no_args_is_help=True
)
leads_app = typer.Typer(help="Leads of the view 'All commerce B2B leads': qualify or disqualify.", no_args_is_help=True)
opportunities_app = typer.Typer(help="Opportunities from qualified leads: close as won or lost.", no_args_is_help=True)
app.add_typer(cases_app, name="cases")
app.add_typer(prospects_app, name="prospects")
app.add_typer(leads_app, name="leads")
app.add_typer(opportunities_app, name="opportunities")


def _done(result, as_json: bool, text: str) -> None:
    if as_json:
        return output.emit_json(result)
    output.message(text)


# ------------------------------------------------------------------ cases


@cases_app.command("create")
def cases_create(
    ctx: typer.Context,
    source: str = typer.Argument(..., metavar="FILE|-", help="JSON object with the case fields."),
    as_json: bool = JsonOption,
) -> None:
    """Create a case (status Open; Approved at once when you are a sales rep)."""
    from services import cases

    r = obj(ctx).call(cases.create_case, read_json_input(source))
    _done(r, as_json, f"{r.number} created (status {r.status})" + (f": {r.message}" if r.message else ""))


@cases_app.command("list")
def cases_list(
    ctx: typer.Context,
    status: Optional[str] = typer.Option(
        None,
        "--status",
        help="Open, Pending Approval, Approved, Rejected, Resolved, Closed/Stopped, Closed/Completed or All.",
    ),
    search: Optional[str] = typer.Option(None, "--search", help="Number, title, customer or contact."),
    limit: int = typer.Option(50, "--limit", min=1, max=5000),
    as_json: bool = JsonOption,
) -> None:
    """List cases, newest first."""
    from services import cases

    page = obj(ctx).call(cases.list_cases, status=status, search=search, limit=limit)
    if as_json:
        return output.emit_json(page.rows)
    output.table(
        page.rows,
        [
            ("number", "Number"),
            ("status", "Status"),
            ("title", "Title"),
            ("category", "Category"),
            ("priority", "Priority"),
            ("customer_account", "Customer"),
            ("customer_name", "Name"),
            ("created_at", "Created"),
            ("created_by", "By"),
        ],
    )
    if page.after is not None:
        output.message(f"(more: raise --limit above {limit})")


@cases_app.command("show")
def cases_show(ctx: typer.Context, number: str, as_json: bool = JsonOption) -> None:
    """A case by section, its samples and its history."""
    from services import cases

    d = obj(ctx).call(cases.show_case, number)
    if as_json:
        return output.emit_json(d)
    data = d.model_dump()
    for section, fields in cases.SECTIONS.items():
        output.record({f: data[f] for f in fields}, title=section)
    output.record(
        {
            f: data[f]
            for f in (
                "submitted_by",
                "submitted_at",
                "approved_by",
                "approved_at",
                "rejected_by",
                "rejected_at",
                "reject_reason",
                "workflow",
                "version",
            )
        },
        title="Approval",
    )
    output.message("actions: " + (", ".join(d.actions) or "none"))
    if d.samples:
        output.table(
            d.samples,
            [
                ("number", "Sample"),
                ("product", "Product"),
                ("quantity", "Qty"),
                ("status", "Status"),
                ("ship_to", "Ship to"),
            ],
            title="Sample requests",
        )
    output.table(
        d.history, [("at", "When"), ("operator", "Who"), ("action", "What"), ("comment", "Comment")], title="History"
    )


@cases_app.command("update")
def cases_update(
    ctx: typer.Context,
    number: str,
    set_: list[str] = typer.Option([], "--set", metavar="FIELD=VALUE", help="A field to change (repeatable)."),
    version: Optional[int] = typer.Option(None, "--version", help="Refuse if the case changed since."),
    as_json: bool = JsonOption,
) -> None:
    """Change fields (Resolved follows Resolution and Resolution date)."""
    from services import cases
    from services.errors import ValidationFailed

    values = {}
    for item in set_:
        if "=" not in item:
            raise ValidationFailed({"--set": f"{item!r}: expected FIELD=VALUE"})
        key, value = item.split("=", 1)
        values[key.strip()] = value
    if not values:
        raise ValidationFailed({"--set": "give at least one FIELD=VALUE"})
    r = obj(ctx).call(cases.update_case, number, values, version)
    _done(r, as_json, f"{r.number} updated (status {r.status})" + (f": {r.message}" if r.message else ""))


@cases_app.command("submit")
def cases_submit(
    ctx: typer.Context,
    number: str,
    comment: Optional[str] = typer.Option(None, "--comment"),
    as_json: bool = JsonOption,
) -> None:
    """Submit for approval: Open/Rejected -> Pending Approval (through the workflow when one is active)."""
    from services import cases

    r = obj(ctx).call(cases.submit, number, comment)
    _done(r, as_json, f"{r.number} submitted (status {r.status})" + (f": {r.message}" if r.message else ""))


@cases_app.command("approve")
def cases_approve(
    ctx: typer.Context,
    number: str,
    comment: Optional[str] = typer.Option(None, "--comment"),
    as_json: bool = JsonOption,
) -> None:
    """Approve a case waiting for approval (not your own)."""
    from services import cases

    r = obj(ctx).call(cases.approve, number, comment)
    _done(r, as_json, f"{r.number} approved (status {r.status})")


@cases_app.command("reject")
def cases_reject(
    ctx: typer.Context,
    number: str,
    reason: str = typer.Option(..., "--reason", help="Why (required)."),
    as_json: bool = JsonOption,
) -> None:
    """Reject a case waiting for approval."""
    from services import cases

    r = obj(ctx).call(cases.reject, number, reason)
    _done(r, as_json, f"{r.number} rejected (status {r.status})")


@cases_app.command("recall")
def cases_recall(
    ctx: typer.Context,
    number: str,
    comment: Optional[str] = typer.Option(None, "--comment"),
    as_json: bool = JsonOption,
) -> None:
    """Take your submitted case back (Pending Approval -> Open)."""
    from services import cases

    r = obj(ctx).call(cases.recall, number, comment)
    _done(r, as_json, f"{r.number} recalled (status {r.status})")


@cases_app.command("resolve")
def cases_resolve(
    ctx: typer.Context,
    number: str,
    resolution: str = typer.Option(..., "--resolution", help="What was done."),
    date: str = typer.Option(..., "--date", metavar="YYYY-MM-DD", help="Resolution date."),
    as_json: bool = JsonOption,
) -> None:
    """Fill Resolution and Resolution date of an approved case: it becomes Resolved."""
    from services import cases

    r = obj(ctx).call(cases.resolve, number, resolution, date)
    _done(r, as_json, f"{r.number} resolved (status {r.status})")


@cases_app.command("close")
def cases_close(
    ctx: typer.Context,
    number: str,
    completed: bool = typer.Option(False, "--completed", help="Closed/Completed (the case is Resolved)."),
    stopped: bool = typer.Option(False, "--stopped", help="Closed/Stopped (not completed)."),
    reason: str = typer.Option(..., "--reason", help="Closure reason (required)."),
    as_json: bool = JsonOption,
) -> None:
    """Close a case by hand: --completed or --stopped, with a reason."""
    from services import cases
    from services.errors import ValidationFailed

    if completed == stopped:
        raise ValidationFailed({"kind": "give exactly one of --completed or --stopped"})
    r = obj(ctx).call(cases.close, number, "completed" if completed else "stopped", reason)
    _done(r, as_json, f"{r.number} closed (status {r.status})")


@cases_app.command("sample")
def cases_sample(
    ctx: typer.Context,
    number: str,
    source: str = typer.Argument(..., metavar="FILE|-", help="JSON: product, quantity, ship_to, notes."),
    as_json: bool = JsonOption,
) -> None:
    """Request a sample on a case (a separate record: no customer request is created)."""
    from services import cases

    r = obj(ctx).call(cases.add_sample, number, read_json_input(source))
    _done(r, as_json, f"sample {r.number} requested on {number.upper()}: {r.quantity} x {r.product}")


@cases_app.command("sample-ship")
def cases_sample_ship(ctx: typer.Context, sample: str, as_json: bool = JsonOption) -> None:
    """Mark a sample request as shipped."""
    from services import cases

    r = obj(ctx).call(cases.sample_action, sample, "ship")
    _done(r, as_json, f"sample {r.number} {r.status}")


@cases_app.command("sample-cancel")
def cases_sample_cancel(ctx: typer.Context, sample: str, as_json: bool = JsonOption) -> None:
    """Cancel a sample request."""
    from services import cases

    r = obj(ctx).call(cases.sample_action, sample, "cancel")
    _done(r, as_json, f"sample {r.number} {r.status}")


# ------------------------------------------------------------------ prospects


@prospects_app.command("submit")
def prospects_submit(
    ctx: typer.Context,
    source: str = typer.Argument(..., metavar="FILE|-", help="JSON of the onboarding form ('-': stdin)."),
    on_behalf: bool = typer.Option(False, "--on-behalf", help="Entered by staff (needs role approver)."),
    as_json: bool = JsonOption,
) -> None:
    """Store an onboarding request: a prospect (Pending) and a lead in 'All commerce B2B leads'."""
    from services import prospects
    from services.permissions import PORTAL

    c = obj(ctx)
    data = read_json_input(source)
    r = c.store.call(prospects.submit, c.actor if on_behalf else PORTAL, data)
    if as_json:
        return output.emit_json(r)
    output.message(f"{r.number} submitted (status {r.status}); lead {r.lead}")
    if r.duplicates:
        output.message(f"note: {r.duplicates} possible duplicate(s); see 'regdesk prospects show {r.number}'")


@prospects_app.command("list")
def prospects_list(
    ctx: typer.Context,
    status: Optional[str] = typer.Option(None, "--status", help="Pending, Approved, Rejected or All."),
    search: Optional[str] = typer.Option(None, "--search"),
    limit: int = typer.Option(200, "--limit", min=1, max=5000),
    as_json: bool = JsonOption,
) -> None:
    """All prospects, newest first."""
    from services import prospects

    rows = obj(ctx).call(prospects.list_prospects, status=status, search=search, limit=limit)
    if as_json:
        return output.emit_json(rows)
    output.table(
        rows,
        [
            ("number", "Number"),
            ("status", "Status"),
            ("company", "Company"),
            ("contact", "Contact"),
            ("email", "E-mail"),
            ("lead", "Lead"),
            ("lead_status", "Lead status"),
            ("created_at", "Created"),
        ],
    )


@prospects_app.command("show")
def prospects_show(
    ctx: typer.Context,
    number: str = typer.Argument(..., help="Prospect, lead or opportunity number."),
    as_json: bool = JsonOption,
) -> None:
    """A prospect with its lead, opportunity, duplicate hints and history."""
    from services import prospects

    d = obj(ctx).call(prospects.show_prospect, number)
    if as_json:
        return output.emit_json(d)
    output.record(d, title=f"Prospect {d.number}")
    output.message("actions: " + (", ".join(d.actions) or "none"))
    if d.duplicates:
        output.table(
            d.duplicates,
            [("kind", "Kind"), ("key", "Number/account"), ("label", "What"), ("reason", "Why")],
            title="Possible duplicates",
        )
    output.table(
        d.history,
        [("at", "When"), ("operator", "Who"), ("entity_key", "Record"), ("action", "What"), ("comment", "Comment")],
        title="History",
    )


# ------------------------------------------------------------------ leads


@leads_app.command("list")
def leads_list(
    ctx: typer.Context,
    status: Optional[str] = typer.Option(None, "--status", help="Open, Qualified, Disqualified or All."),
    limit: int = typer.Option(200, "--limit", min=1, max=5000),
    as_json: bool = JsonOption,
) -> None:
    """The leads of the view 'All commerce B2B leads'."""
    from services import prospects

    rows = obj(ctx).call(prospects.list_leads, status=status, limit=limit)
    if as_json:
        return output.emit_json(rows)
    output.table(
        rows,
        [
            ("number", "Lead"),
            ("status", "Status"),
            ("topic", "Topic"),
            ("prospect", "Prospect"),
            ("contact", "Contact"),
            ("email", "E-mail"),
            ("created_at", "Created"),
        ],
        title="All commerce B2B leads",
    )


@leads_app.command("qualify")
def leads_qualify(
    ctx: typer.Context,
    lead: str,
    link_existing: Optional[str] = typer.Option(
        None, "--link-existing", metavar="ACCOUNT", help="Use this person customer (same e-mail) as the contact."
    ),
    allow_shared_email: bool = typer.Option(
        False, "--allow-shared-email", help="Create a new contact although the e-mail is in use."
    ),
    email: Optional[str] = typer.Option(None, "--email", help="Qualify with another e-mail of the requester."),
    account: Optional[str] = typer.Option(
        None, "--account", metavar="ACCOUNT", help="Use this existing organization customer as the account."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Qualify a lead: an opportunity, a contact (person customer) and an account (organization)."""
    from services import prospects

    r = obj(ctx).call(
        prospects.qualify,
        lead,
        link_existing=link_existing,
        allow_shared_email=allow_shared_email,
        email=email,
        existing_account=account,
    )
    _done(
        r,
        as_json,
        f"{r.lead} qualified: opportunity {r.opportunity}, account {r.account}"
        f"{' (new)' if r.new_account else ''}, contact {r.contact_account}",
    )


@leads_app.command("disqualify")
def leads_disqualify(
    ctx: typer.Context,
    lead: str,
    reason: str = typer.Option(..., "--reason", help="Why (kept internally; not in the e-mail)."),
    as_json: bool = JsonOption,
) -> None:
    """Disqualify a lead: the prospect is Rejected and the decline e-mail is queued."""
    from services import prospects

    r = obj(ctx).call(prospects.disqualify, lead, reason)
    _done(
        r,
        as_json,
        f"{r.number} disqualified; prospect {r.prospect} {r.prospect_status}; "
        f"decline e-mail queued for {r.email_sent_to}",
    )


# ------------------------------------------------------------------ opportunities


@opportunities_app.command("list")
def opportunities_list(
    ctx: typer.Context,
    status: Optional[str] = typer.Option(None, "--status", help="Open, Won, Lost or All."),
    limit: int = typer.Option(200, "--limit", min=1, max=5000),
    as_json: bool = JsonOption,
) -> None:
    """Opportunities from qualified leads."""
    from services import prospects

    rows = obj(ctx).call(prospects.list_opportunities, status=status, limit=limit)
    if as_json:
        return output.emit_json(rows)
    output.table(
        rows,
        [
            ("number", "Opportunity"),
            ("status", "Status"),
            ("topic", "Topic"),
            ("prospect", "Prospect"),
            ("account", "Account"),
            ("account_name", "Name"),
            ("contact_account", "Contact"),
            ("created_at", "Created"),
        ],
    )


@opportunities_app.command("won")
def opportunities_won(
    ctx: typer.Context,
    opportunity: str,
    role: Optional[str] = typer.Option(
        None, "--role", metavar="NAME", help="Portal role of the admin user (default: Customer administrator)."
    ),
    user_name: Optional[str] = typer.Option(None, "--user-name", help="Portal user name (default: from the e-mail)."),
    comment: Optional[str] = typer.Option(None, "--comment"),
    as_json: bool = JsonOption,
) -> None:
    """Close as won: prospect Approved, customer hierarchy, admin user request, approval e-mail."""
    from services import prospects

    r = obj(ctx).call(prospects.won, opportunity, role=role, user_name=user_name, comment=comment)
    _done(
        r,
        as_json,
        f"{r.number} won; prospect {r.prospect} {r.prospect_status}; {r.contact_account} under "
        f"{r.account} (admins: {r.admins}); user request {r.user_request} ({r.user_request_status}); "
        f"approval e-mail queued for {r.email_sent_to}",
    )


@opportunities_app.command("lost")
def opportunities_lost(
    ctx: typer.Context,
    opportunity: str,
    reason: str = typer.Option(..., "--reason", help="Why (kept internally; not in the e-mail)."),
    as_json: bool = JsonOption,
) -> None:
    """Close as lost: the prospect is Rejected and the decline e-mail is queued."""
    from services import prospects

    r = obj(ctx).call(prospects.lost, opportunity, reason)
    _done(
        r,
        as_json,
        f"{r.number} lost; prospect {r.prospect} {r.prospect_status}; decline e-mail queued for {r.email_sent_to}",
    )
