"""Sign-up intake and the Registration desk: ``signup ...`` and ``requests ...``."""

from __future__ import annotations

import sys
from typing import Optional

import typer

from app.cli import output
from app.cli.root import JsonOption, app, obj

signup_app = typer.Typer(help="What the portal's sign-up page and verification link call.", no_args_is_help=True)
requests_app = typer.Typer(help="Review and process sign-up requests (the Registration form).", no_args_is_help=True)
app.add_typer(signup_app, name="signup")
app.add_typer(requests_app, name="requests")


def read_json_input(source: str) -> object:
    """A JSON document from a file or '-' (standard input); a clear error when it is not JSON."""
    from services.errors import ValidationFailed
    from services.validation import MAX_JSON_BYTES, load_json

    try:  # never more than the limit (+1 to tell "too large") in memory
        if source == "-":
            raw = sys.stdin.read(MAX_JSON_BYTES + 1)
        else:
            with open(source, "rb") as fh:
                raw = fh.read(MAX_JSON_BYTES + 1)
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationFailed({"file": f"cannot read {source}: {getattr(exc, 'strerror', None) or exc}"}) from None
    return load_json(raw, what="file")


@signup_app.command("submit")
def signup_submit(
    ctx: typer.Context,
    source: str = typer.Argument(..., metavar="FILE|-", help="JSON object with the sign-up fields ('-' reads stdin)."),
    on_behalf: bool = typer.Option(False, "--on-behalf", help="Taken by staff for a customer (needs role support)."),
    as_json: bool = JsonOption,
) -> None:
    """Submit a sign-up request (status Requested); the verification e-mail goes to the outbox."""
    from services import signup
    from services.permissions import PORTAL

    c = obj(ctx)
    data = read_json_input(source)
    actor = c.actor if on_behalf else PORTAL
    result = c.store.call(signup.submit, actor, data)
    if as_json:
        return output.emit_json(result)
    output.message(f"{result.number} submitted (status {result.status}); verification e-mail queued for {result.email}")
    if result.duplicates:
        output.message(f"note: {result.duplicates} possible duplicate(s); see 'regdesk requests show {result.number}'")


@signup_app.command("verify")
def signup_verify(
    ctx: typer.Context,
    token: str = typer.Argument(..., help="The token from the verification link."),
    as_json: bool = JsonOption,
) -> None:
    """Verify a request with the link's token: Requested -> Verified by user."""
    from services import signup

    result = obj(ctx).store.call(signup.verify, token)
    if as_json:
        return output.emit_json(result)
    output.message(f"{result.number} verified (status {result.status})")


@signup_app.command("schema")
def signup_schema() -> None:
    """Print the JSON Schema of what 'signup submit' accepts."""
    from models.schemas import SignupIn

    output.emit_json(SignupIn.model_json_schema())


@requests_app.command("list")
def requests_list(
    ctx: typer.Context,
    status: Optional[str] = typer.Option(
        None, "--status", help="Requested, Verified by user, Approved, Created, Rejected or All."
    ),
    search: Optional[str] = typer.Option(None, "--search", help="Number, company, e-mail, name or user name."),
    sort: str = typer.Option("number", "--sort", help="number, created, company, status, email or name."),
    desc: bool = typer.Option(False, "--desc", help="Newest / highest first."),
    limit: int = typer.Option(50, "--limit", min=1, max=5000),
    as_json: bool = JsonOption,
) -> None:
    """List sign-up requests (one page, filtered and sorted in the database)."""
    from services import signup

    c = obj(ctx)
    page = c.call(signup.list_requests, status=status, search=search, sort=sort, descending=desc, limit=limit)
    if as_json:
        return output.emit_json(page.rows)
    output.table(
        page.rows,
        [
            ("number", "Number"),
            ("created_at", "Created"),
            ("status", "Status"),
            ("company", "Company"),
            ("contact", "Contact"),
            ("email", "E-mail"),
            ("user_name", "User name"),
            ("country", "Country"),
        ],
    )
    if page.after is not None:
        output.message(f"(more: raise --limit above {limit})")


@requests_app.command("show")
def requests_show(ctx: typer.Context, number: str, as_json: bool = JsonOption) -> None:
    """Every field of a request, its duplicate hints and its history."""
    from services import signup

    detail = obj(ctx).call(signup.show_request, number)
    if as_json:
        return output.emit_json(detail)
    output.record(detail, title=f"Sign-up request {detail.number}")
    if detail.duplicates:
        output.table(
            detail.duplicates,
            [("kind", "Kind"), ("key", "Number/account"), ("label", "What"), ("reason", "Why")],
            title="Possible duplicates",
        )
    output.table(
        detail.history,
        [("at", "When"), ("operator", "Who"), ("action", "What"), ("comment", "Comment")],
        title="History",
    )


def _status_result(result, as_json: bool, verb: str) -> None:
    if as_json:
        return output.emit_json(result)
    output.message(f"{result.number} {verb} (status {result.status})")


@requests_app.command("approve")
def requests_approve(
    ctx: typer.Context,
    number: str,
    comment: Optional[str] = typer.Option(None, "--comment"),
    as_json: bool = JsonOption,
) -> None:
    """Approve a request verified by the user."""
    from services import signup

    _status_result(obj(ctx).call(signup.approve, number, comment), as_json, "approved")


@requests_app.command("reject")
def requests_reject(
    ctx: typer.Context,
    number: str,
    reason: str = typer.Option(..., "--reason", help="Why (required; goes into the decline e-mail)."),
    as_json: bool = JsonOption,
) -> None:
    """Reject a request with a reason; the decline e-mail goes to the outbox."""
    from services import signup

    _status_result(obj(ctx).call(signup.reject, number, reason), as_json, "rejected")


@requests_app.command("resend")
def requests_resend(ctx: typer.Context, number: str, as_json: bool = JsonOption) -> None:
    """Activation URL: send a new verification link (the old one stops working)."""
    from services import signup

    _status_result(obj(ctx).call(signup.resend, number), as_json, "verification link sent again")


@requests_app.command("create")
def requests_create(
    ctx: typer.Context,
    number: str,
    new: bool = typer.Option(False, "--new", help="Create a new customer (with --template)."),
    template: Optional[str] = typer.Option(
        None,
        "--template",
        metavar="NAME",
        help="Customer account template (default: parameter signup.default_template).",
    ),
    no_template: bool = typer.Option(False, "--no-template", help="Use no template, whatever the default."),
    existing: Optional[str] = typer.Option(
        None, "--existing", metavar="ACCOUNT", help="Add the contact to this customer."
    ),
    role: Optional[str] = typer.Option(
        None, "--role", metavar="NAME", help="Portal user role (default: parameter signup.default_role)."
    ),
    set_: list[str] = typer.Option([], "--set", metavar="FIELD=VALUE", help="Override a customer field (repeatable)."),
    as_json: bool = JsonOption,
) -> None:
    """Create the customer (or a contact on an existing one) and the user request: Approved -> Created."""
    from services import signup
    from services.errors import ValidationFailed

    if new == bool(existing):
        raise ValidationFailed({"mode": "give exactly one of --new (with --template) or --existing ACCOUNT"})
    if existing and (template or set_ or no_template):
        raise ValidationFailed({"template": "--template, --no-template and --set go with --new only"})
    if template and no_template:
        raise ValidationFailed({"template": "give --template NAME or --no-template, not both"})
    values = {}
    for item in set_:
        if "=" not in item:
            raise ValidationFailed({"--set": f"{item!r}: expected FIELD=VALUE"})
        key, value = item.split("=", 1)
        values[key.strip()] = value
    if role is None or (new and template is None and not no_template):
        defaults = obj(ctx).call(signup.create_choices)
        if new and template is None and not no_template:
            template = defaults.default_template
        if role is None:
            role = defaults.default_role
            if role is None:
                raise ValidationFailed(
                    {
                        "role": "give --role NAME: no default portal user role is set "
                        "('regdesk params set signup.default_role NAME')"
                    }
                )
    result = obj(ctx).call(
        signup.create_customer,
        number,
        mode="new" if new else "existing",
        template=template,
        role=role,
        values=values or None,
        existing_account=existing,
    )
    if as_json:
        return output.emit_json(result)
    what = "new customer" if result.new_customer else "contact added to customer"
    output.message(
        f"{result.number} created: {what} {result.customer_account}; "
        f"user request {result.user_request} ({result.user_request_status})"
    )
