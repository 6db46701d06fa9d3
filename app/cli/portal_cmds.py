"""User requests, portal users, e-mail templates and delivery: ``user-requests``, ``portal``,
``mail templates`` and ``outbox send|retry``."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Optional

import typer

from app.cli import output
from app.cli.admin_cmds import outbox_app
from app.cli.root import JsonOption, app, obj

user_requests_app = typer.Typer(
    help="User requests: the portal users to provision for customer contacts.", no_args_is_help=True
)
portal_app = typer.Typer(
    help="Portal users: activation (what the portal calls), list, disable, enable.", no_args_is_help=True
)
mail_app = typer.Typer(help="E-mail texts.", no_args_is_help=True)
mail_templates_app = typer.Typer(help="E-mail templates admins can change ($placeholders).", no_args_is_help=True)
portal_users_app = typer.Typer(help="Portal users.", no_args_is_help=True)
app.add_typer(user_requests_app, name="user-requests")
app.add_typer(portal_app, name="portal")
app.add_typer(mail_app, name="mail")
mail_app.add_typer(mail_templates_app, name="templates")
portal_app.add_typer(portal_users_app, name="users")


# ------------------------------------------------------------------ user requests


def _result(result, as_json: bool, verb: str) -> None:
    if as_json:
        return output.emit_json(result)
    line = f"{result.number} {verb} (status {result.status})"
    if result.portal_user:
        line += f"; portal user {result.portal_user}"
    output.message(line)
    if result.problem:
        output.message(f"problem: {result.problem}")


@user_requests_app.command("list")
def ur_list(
    ctx: typer.Context,
    status: Optional[str] = typer.Option(
        None,
        "--status",
        help="Draft, Submitted, Pending approval, Approved, Pending completion, Completed, Rejected, Canceled or All.",
    ),
    limit: int = typer.Option(50, "--limit", min=1, max=10000),
    as_json: bool = JsonOption,
) -> None:
    """List user requests, newest first."""
    from services import user_requests

    rows = obj(ctx).call(user_requests.list_user_requests, status=status, limit=limit)
    if as_json:
        return output.emit_json(rows)
    output.table(
        rows,
        [
            ("number", "Number"),
            ("created_at", "Created"),
            ("status", "Status"),
            ("customer_account", "Customer"),
            ("customer_name", "Name"),
            ("contact", "Contact"),
            ("user_name", "User name"),
            ("role", "Role"),
        ],
    )


@user_requests_app.command("show")
def ur_show(ctx: typer.Context, number: str, as_json: bool = JsonOption) -> None:
    """A user request: customer, contact, role, portal user, logon e-mail, problem, workflow and history."""
    from services import user_requests

    d = obj(ctx).call(user_requests.show_user_request, number)
    if as_json:
        return output.emit_json(d)
    output.record(d, title=f"User request {d.number}", skip=("portal_user", "workflow", "problem"))
    if d.problem:
        output.message(f"problem: {d.problem}")
    if d.workflow:
        output.message(f"workflow: {d.workflow.summary}")
    if d.portal_user:
        output.record(d.portal_user, title="Portal user")
    if d.mails:
        output.table(
            d.mails,
            [
                ("id", "Id"),
                ("template", "E-mail"),
                ("status", "Status"),
                ("attempts", "Tries"),
                ("sent_at", "Sent"),
                ("last_error", "Last error"),
            ],
            title="E-mail",
        )
    if d.actions:
        output.message("actions: " + ", ".join(a.replace("_", "-") for a in d.actions))
    output.table(
        d.history, [("at", "When"), ("operator", "Who"), ("action", "What"), ("comment", "Comment")], title="History"
    )


@user_requests_app.command("approve")
def ur_approve(
    ctx: typer.Context,
    number: str,
    comment: Optional[str] = typer.Option(None, "--comment"),
    as_json: bool = JsonOption,
) -> None:
    """Process by hand (no workflow): approve, then provision the portal user and queue the logon e-mail."""
    from services import user_requests

    _result(obj(ctx).call(user_requests.approve, number, comment), as_json, "approved")


@user_requests_app.command("process")
def ur_process(
    ctx: typer.Context,
    number: str,
    comment: Optional[str] = typer.Option(None, "--comment"),
    as_json: bool = JsonOption,
) -> None:
    """Same as approve: process a request that waits in Submitted (no workflow) by hand."""
    ur_approve(ctx, number, comment, as_json)


@user_requests_app.command("provision")
def ur_provision(ctx: typer.Context, number: str, as_json: bool = JsonOption) -> None:
    """Provision the portal user of an approved request again (e.g. after set-user-name)."""
    from services import user_requests

    _result(obj(ctx).call(user_requests.provision, number), as_json, "provisioned")


@user_requests_app.command("set-user-name")
def ur_set_user_name(
    ctx: typer.Context,
    number: str,
    user_name: str,
    comment: Optional[str] = typer.Option(None, "--comment"),
    as_json: bool = JsonOption,
) -> None:
    """Choose another user name (e.g. when the preferred one is taken); nothing is ever renamed by itself."""
    from services import user_requests

    _result(
        obj(ctx).call(user_requests.set_user_name, number, user_name, comment), as_json, f"user name set to {user_name}"
    )


@user_requests_app.command("reject")
def ur_reject(
    ctx: typer.Context,
    number: str,
    reason: str = typer.Option(..., "--reason", help="Why (required)."),
    as_json: bool = JsonOption,
) -> None:
    """Reject a request that no workflow is handling."""
    from services import user_requests

    _result(obj(ctx).call(user_requests.reject, number, reason), as_json, "rejected")


@user_requests_app.command("cancel")
def ur_cancel(
    ctx: typer.Context,
    number: str,
    reason: str = typer.Option(..., "--reason", help="Why (required)."),
    as_json: bool = JsonOption,
) -> None:
    """Cancel a request; a provisioned, not yet activated portal user is disabled and its link voided."""
    from services import user_requests

    _result(obj(ctx).call(user_requests.cancel, number, reason), as_json, "canceled")


@user_requests_app.command("submit")
def ur_submit(
    ctx: typer.Context,
    number: str,
    comment: Optional[str] = typer.Option(None, "--comment"),
    as_json: bool = JsonOption,
) -> None:
    """Send a draft (or a request waiting in Submitted) to the active user request workflow."""
    from services import user_requests

    _result(obj(ctx).call(user_requests.submit, number, comment), as_json, "submitted")


@user_requests_app.command("history")
def ur_history(ctx: typer.Context, number: str, as_json: bool = JsonOption) -> None:
    """The workflow history of a request: instances, their work items and decisions."""
    from services import user_requests

    hist = obj(ctx).call(user_requests.workflow_history, number)
    if as_json:
        return output.emit_json(hist)
    if hist is None or not hist.instances:
        output.message(f"{number.upper()} has not been in a workflow")
        return
    for inst in hist.instances:
        output.message(
            f"workflow #{inst.id} {inst.definition}: {inst.status}, started {inst.started_at:%Y-%m-%d %H:%M}"
        )
        output.table(
            inst.items,
            [
                ("id", "Item"),
                ("step", "Step"),
                ("assignee", "Assignee"),
                ("status", "Status"),
                ("decided_by", "Decided by"),
                ("decided_at", "When"),
                ("comment", "Comment"),
            ],
        )


# ------------------------------------------------------------------ portal users


def _read_password(stdin: bool) -> str:
    from services.errors import ValidationFailed

    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not sys.stdin.isatty():
            raise ValidationFailed({"password": "give it on standard input with --password-stdin"})
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    if not password:
        raise ValidationFailed({"password": "required"})
    return password


@portal_app.command("activate")
def portal_activate(
    ctx: typer.Context,
    token: str = typer.Argument(..., help="The token from the activation link."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the new password from the first line of standard input."
    ),
    as_json: bool = JsonOption,
) -> None:
    """What the portal calls: set the password (policy-checked, stored as an Argon2id hash) with the link's token.

    The password is never a command-line argument: it is prompted for, or read from stdin.
    """
    from services import portal

    password = _read_password(password_stdin)
    result = obj(ctx).store.call(portal.activate, token, password)
    if as_json:
        return output.emit_json(result)
    line = f"portal user {result.user_name} activated (status {result.status})"
    if result.user_request:
        line += f"; user request {result.user_request} {result.user_request_status}"
    output.message(line)


@portal_app.command("policy")
def portal_policy() -> None:
    """The password policy activation enforces."""
    from services import portal

    output.message(portal.PASSWORD_POLICY)


_USER_COLUMNS = [
    ("user_name", "User name"),
    ("status", "Status"),
    ("customer_account", "Customer"),
    ("customer_name", "Name"),
    ("contact", "Contact"),
    ("email", "E-mail"),
    ("role", "Role"),
    ("user_request", "Request"),
    ("activated_at", "Activated"),
]


@portal_users_app.command("list")
def portal_users_list(
    ctx: typer.Context,
    status: Optional[str] = typer.Option(None, "--status", help="Pending activation, Active, Disabled or All."),
    search: Optional[str] = typer.Option(None, "--search", help="User name, e-mail or customer account."),
    limit: int = typer.Option(200, "--limit", min=1, max=10000),
    as_json: bool = JsonOption,
) -> None:
    """Portal users (never their password hashes)."""
    from services import portal

    rows = obj(ctx).call(portal.list_users, status=status, search=search, limit=limit)
    if as_json:
        return output.emit_json(rows)
    output.table(rows, _USER_COLUMNS)


@portal_users_app.command("show")
def portal_users_show(ctx: typer.Context, user_name: str, as_json: bool = JsonOption) -> None:
    """One portal user."""
    from services import portal

    view = obj(ctx).call(portal.show_user, user_name)
    if as_json:
        return output.emit_json(view)
    output.record(view, title=f"Portal user {view.user_name}")


def _set_portal_user(
    ctx: typer.Context, fn_name: str, user_name: str, reason: str | None, as_json: bool, verb: str
) -> None:
    from services import portal

    view = obj(ctx).call(getattr(portal, fn_name), user_name, reason)
    if as_json:
        return output.emit_json(view)
    output.message(f"portal user {view.user_name} {verb} (status {view.status})")


@portal_app.command("disable")
def portal_disable(
    ctx: typer.Context,
    user_name: str,
    reason: Optional[str] = typer.Option(None, "--reason"),
    as_json: bool = JsonOption,
) -> None:
    """Disable a portal user: the logon stops working (admins only)."""
    _set_portal_user(ctx, "disable", user_name, reason, as_json, "disabled")


@portal_app.command("enable")
def portal_enable(
    ctx: typer.Context,
    user_name: str,
    reason: Optional[str] = typer.Option(None, "--reason"),
    as_json: bool = JsonOption,
) -> None:
    """Enable a disabled portal user again (admins only)."""
    _set_portal_user(ctx, "enable", user_name, reason, as_json, "enabled")


@portal_app.command("resend")
def portal_resend(ctx: typer.Context, user_name: str, as_json: bool = JsonOption) -> None:
    """Send a new activation link to a user pending activation (the old link stops working)."""
    from services import portal

    view = obj(ctx).call(portal.resend_activation, user_name)
    if as_json:
        return output.emit_json(view)
    output.message(f"new activation link for {view.user_name} queued to {view.email}")


# ------------------------------------------------------------------ mail templates


@mail_templates_app.command("list")
def mail_templates_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
    """E-mail templates and their subjects (changed ones marked)."""
    rows = obj(ctx).call(_templates)
    if as_json:
        return output.emit_json(rows)
    output.table(rows, [("key", "Template"), ("changed", "Changed"), ("subject", "Subject")])


def _templates(session, actor):
    from services import mail
    from services.permissions import require

    require(actor, "outbox.view")
    rows = []
    for key in mail.template_keys():
        subject, body = mail.get_template(session, key)
        rows.append(
            {"key": key, "subject": subject, "body": body, "changed": (subject, body) != mail.DEFAULT_TEMPLATES[key]}
        )
    return rows


@mail_templates_app.command("show")
def mail_templates_show(ctx: typer.Context, key: str, as_json: bool = JsonOption) -> None:
    """One template: subject and body with their $placeholders."""
    rows = {r["key"]: r for r in obj(ctx).call(_templates)}
    from services.errors import NotFound

    if key not in rows:
        raise NotFound(f"no e-mail template {key!r} (one of: {', '.join(sorted(rows))})")
    if as_json:
        return output.emit_json(rows[key])
    output.message(f"Subject: {rows[key]['subject']}")
    output.message("")
    output.message(rows[key]["body"])


@mail_templates_app.command("set")
def mail_templates_set(
    ctx: typer.Context,
    key: str,
    subject: Optional[str] = typer.Option(None, "--subject", help="New subject (one line); default: keep."),
    body_file: Optional[str] = typer.Option(
        None, "--body-file", metavar="FILE|-", help="New body from a file or stdin."
    ),
    as_json: bool = JsonOption,
) -> None:
    """Change a template (admins only); placeholders are $name, substituted as plain data."""
    from services import mail
    from services.errors import ValidationFailed

    c = obj(ctx)
    current = {r["key"]: r for r in c.call(_templates)}.get(key)
    if current is None:
        from services.errors import NotFound

        raise NotFound(f"no e-mail template {key!r}")
    if subject is None and body_file is None:
        raise ValidationFailed({"template": "give --subject and/or --body-file"})
    body = current["body"]
    if body_file is not None:
        try:
            body = sys.stdin.read() if body_file == "-" else Path(body_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationFailed(
                {"body_file": f"cannot read {body_file}: {getattr(exc, 'strerror', None) or exc}"}
            ) from None
    with c.store.write() as s:
        mail.set_template(s, c.actor, key, subject if subject is not None else current["subject"], body)
    if as_json:
        return output.emit_json({"key": key, "subject": subject or current["subject"], "body": body})
    output.message(f"template {key} changed")


# ------------------------------------------------------------------ outbox delivery


def _smtp(ctx: typer.Context):
    from services.delivery import SmtpSettings

    return SmtpSettings.from_mapping(obj(ctx).settings.smtp)


def _when(value) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S} UTC"


def _report_line(report) -> str:
    parts = [f"sent {report.sent}"]
    if report.retrying:
        parts.append(f"{report.retrying} to retry")
    if report.dead:
        parts.append(f"{report.dead} dead")
    if report.not_sendable:
        parts.append(f"{report.not_sendable} not sent (link no longer needed)")
    parts.append(f"{report.still_pending} pending")
    line = ", ".join(parts)
    notes = []
    if report.due_now:
        notes.append(f"{report.due_now} due now")
    if report.leased_elsewhere:
        notes.append(
            f"{report.leased_elsewhere} being sent by another sender (lease until {_when(report.lease_until)})"
        )
    if report.next_attempt_at:
        notes.append(f"next try {_when(report.next_attempt_at)}")
    if notes:
        line += " (" + "; ".join(notes) + ")"
    return line


def _report_notes(report) -> list[str]:
    lines = []
    if report.recovered:
        lines.append(
            f"picked up {report.recovered} message(s) a stopped sender had left: its lease ran out "
            "(same Message-ID; if that sender had delivered one, the recipient gets it twice)"
        )
    lines += [f"  {line}" for line in report.errors]
    return lines


def _sleep(seconds: float) -> None:  # a seam for tests (Ctrl+C while waiting)
    time.sleep(seconds)


@outbox_app.command("send")
def outbox_send(
    ctx: typer.Context,
    watch: bool = typer.Option(False, "--watch", help="Keep sending until Ctrl+C."),
    interval: float = typer.Option(15.0, "--interval", min=0.2, max=3600, help="Seconds between rounds with --watch."),
    limit: int = typer.Option(100, "--limit", min=1, max=10000, help="Messages per round."),
    as_json: bool = JsonOption,
) -> None:
    """Deliver due e-mail over SMTP (settings: [smtp] in the config file or REGDESK_SMTP_*)."""
    from services import delivery

    c = obj(ctx)
    settings = _smtp(ctx)
    c.call(delivery.require_send)  # who may send, before anything else
    if settings is None:
        raise delivery.NotConfigured(delivery.NOT_CONFIGURED)
    if not watch:
        report = delivery.send_pending(c.store, settings, limit=limit)
        if as_json:
            output.emit_json({**report.model_dump(mode="json"), "delivered_nothing_due": report.delivered_nothing_due})
        else:
            output.message(_report_line(report))
            for line in _report_notes(report):
                output.message(line)
        if report.delivered_nothing_due:
            if not as_json:
                if report.server_error:
                    output.error(f"{report.server_error}; nothing is lost: the messages stay pending")
                elif report.claimed or report.dead:
                    output.error("the SMTP server took none of the messages that were due (see above)")
                else:
                    output.error(
                        f"nothing was due: {report.still_pending} message(s) wait after a failure "
                        f"({report.waiting_error}); next try {_when(report.next_attempt_at)}"
                    )
            raise typer.Exit(delivery.DELIVERY_FAILED_EXIT)
        return
    if not as_json:
        output.message(f"sending via {settings.describe()} every {interval:g} s; Ctrl+C stops")
    try:
        while True:
            report = delivery.send_pending(c.store, settings, limit=limit)
            if as_json:
                output.emit_json(report)
            elif report.claimed or report.server_error:
                output.message(f"{time.strftime('%H:%M:%S')} " + _report_line(report))
                for line in _report_notes(report):
                    output.message(line)
                if report.server_error:
                    output.message(f"  {report.server_error} (messages stay pending)")
            if report.claimed < limit or report.server_error:
                _sleep(interval)
    except KeyboardInterrupt:
        if not as_json:
            output.message("stopped")


@outbox_app.command("retry")
def outbox_retry(
    ctx: typer.Context, message_id: int = typer.Argument(..., metavar="ID"), as_json: bool = JsonOption
) -> None:
    """Put a dead message back to pending (its tries start again), or make a pending one due now."""
    from services import delivery

    view = obj(ctx).call(delivery.retry, message_id)
    if as_json:
        return output.emit_json(view)
    output.message(f"message {view.id} to {view.recipient} is pending again")


@outbox_app.command("status")
def outbox_status(
    ctx: typer.Context,
    as_json: bool = JsonOption,
    check: bool = typer.Option(True, "--check/--no-check", help="Check that the SMTP server answers."),
) -> None:
    """How many messages are pending, sent and dead, and whether the SMTP server answers
    (connect, EHLO, NOOP within the timeout); exit 10 when it does not."""
    from services import delivery
    from services.errors import RegdeskError

    c = obj(ctx)
    counts = c.call(delivery.counts)
    problem = delivery.smtp_status(c.settings.smtp)
    answer = None
    if problem is None and check:
        try:
            answer = delivery.check_server(delivery.SmtpSettings.from_mapping(c.settings.smtp))
        except RegdeskError as exc:
            problem = exc.message
            code = exc.exit_code
        else:
            code = 0
    else:
        code = 0
    if as_json:
        output.emit_json({**counts, "smtp": problem or "configured", "server": answer})
    else:
        output.message(", ".join(f"{k} {v}" for k, v in counts.items()))
        if answer:
            output.message(f"SMTP: {answer}")
        elif problem:
            (output.error if code else output.message)(problem if not code else f"SMTP: {problem}")
        else:
            settings = delivery.SmtpSettings.from_mapping(c.settings.smtp)
            assert settings is not None  # no problem: smtp_status found a host
            output.message(f"SMTP: {settings.describe()} (not checked)")
    if code:
        raise typer.Exit(code)
