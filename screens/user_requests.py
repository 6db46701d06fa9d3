"""The User requests screen (AX: System administration > Common > Users > User requests).

A status filter, the list (newest first, paged by keyset as you scroll) and the detail of
the selected request: customer, contact, role, the portal user and its logon e-mail, the
problem that holds it up (e.g. a user name that is taken), its workflow and its history.
Requests no workflow handles are processed here by hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import Static

from screens.browser import BrowserScreen, Column, ListQuery, Page
from screens.dialogs import CommentDialog, FieldSpec, FormDialog
from screens.guarded import GuardedActions
from screens.widgets import data, history_text, labelled

if TYPE_CHECKING:
    from services.user_requests import UserRequestDetail

FILTERS = [
    "All",
    "Draft",
    "Submitted",
    "Pending approval",
    "Approved",
    "Pending completion",
    "Completed",
    "Rejected",
    "Canceled",
]
COLUMNS = [
    Column("number", "Number"),
    Column("created", "Created"),
    Column("status", "Status", width=18),
    Column("customer", "Customer", width=26),
    Column("contact", "Contact", width=20),
    Column("user", "User name", width=16),
    Column("role", "Role", width=22),
]
STATUS_STYLE = {
    "Draft": "dim",
    "Submitted": "yellow",
    "Pending approval": "cyan",
    "Approved": "green",
    "Pending completion": "bold cyan",
    "Completed": "bold green",
    "Rejected": "red",
    "Canceled": "red",
}
ACTION_KEYS = {
    "approve": "a",
    "reject": "r",
    "cancel": "x",
    "submit": "w",
    "provision": "p",
    "set_user_name": "u",
    "resend_activation": "v",
}
PAGE_SIZE = 100
SECTIONS = (
    ("request", "User request"),
    ("problem", "Needs attention"),
    ("parties", "Customer, contact, role"),
    ("portal", "Portal user"),
    ("workflow", "Workflow"),
    ("mail", "Logon e-mail"),
    ("history", "History"),
)


def tab_id(name: str) -> str:
    return "ur-" + name.lower().replace(" ", "-")


class UserRequestsScreen(GuardedActions, BrowserScreen):
    TITLE = "User requests"
    AUTO_FOCUS = "#user-requests"
    TABLE_ID = "user-requests"
    COLUMNS = COLUMNS
    FILTERS = FILTERS
    PAGE_SIZE = PAGE_SIZE
    SERVER_SEARCH = False
    SEARCH_PLACEHOLDER = "/ search this list"
    EMPTY_DETAIL = "Select a user request."
    NOUN = "user request"
    DEFAULT_CSS = """
    UserRequestsScreen .ur-section { border: round $primary-darken-1; padding: 0 1; height: auto; }
    UserRequestsScreen #ur-detail-problem { border: round $warning; }
    """
    HELP = """\
## User requests — portal users for customer contacts

A user request is created when a customer is created from a sign-up request. With an
active user request workflow it goes *Pending approval* → (approved) → the portal user is
provisioned and the logon e-mail queued → *Pending completion* → *Completed* when the
contact activates the portal user with the link in the e-mail. Without a workflow the
request waits in *Submitted* for processing by hand.

* **1**–**9** switch the status filter; **f5** rereads.
* **a** approves by hand (no workflow): the portal user is provisioned and the logon e-mail queued.
* **r** rejects, **x** cancels (a reason is required), **w** hands a draft or waiting request to the workflow.
* When the preferred user name is taken, nothing is renamed: the request waits *Approved*
  with the problem shown. **u** sets another user name, then **p** provisions again.
* **v** sends a new activation link (the old one stops working).
"""
    BINDINGS = [
        Binding(
            "a",
            "act('approve')",
            "Approve",
            id="userrequests.approve",
            tooltip="Approve by hand and provision the portal user (no workflow)",
        ),
        Binding(
            "A",
            "approve_comment",
            "Approve…",
            id="userrequests.approve_comment",
            show=False,
            tooltip="Approve by hand with a comment for the history",
        ),
        Binding(
            "r", "act('reject')", "Reject", id="userrequests.reject", tooltip="Reject the request (asks the reason)"
        ),
        Binding(
            "x", "act('cancel')", "Cancel request", id="userrequests.cancel", tooltip="Cancel the request (asks why)"
        ),
        Binding(
            "w",
            "act('submit')",
            "To workflow",
            id="userrequests.submit",
            tooltip="Hand a draft or waiting request to the active workflow",
        ),
        Binding(
            "u",
            "act('set_user_name')",
            "User name",
            id="userrequests.username",
            tooltip="Choose another user name (e.g. when the preferred one is taken)",
        ),
        Binding(
            "p",
            "act('provision')",
            "Provision",
            id="userrequests.provision",
            tooltip="Provision the portal user of an approved request again",
        ),
        Binding(
            "v",
            "act('resend_activation')",
            "New link",
            id="userrequests.resend",
            tooltip="Send a new activation link to the contact",
        ),
        Binding("f5", "reread", "Reread", id="userrequests.reread", tooltip="Reread the list and the detail"),
    ]

    # ------------------------------------------------------------------ the list

    def fetch(self, q: ListQuery, after: Any, limit: int, reverse: bool) -> Page:
        from services import user_requests

        rows = self.app.call(user_requests.list_user_requests, status=q.status, limit=limit, before_id=after)
        return Page(rows, rows[-1].id if len(rows) == limit else None)

    def fetch_counts(self, search: str) -> dict[str, int] | None:
        if search:
            return None  # the search is done over the pages here: no count of it ("N of …")
        from services import user_requests

        return self.app.call(user_requests.count_by_status)

    def fetch_detail(self, key: str) -> UserRequestDetail | None:
        from services import user_requests
        from services.errors import NotFound

        try:
            return self.app.call(user_requests.show_user_request, key)
        except NotFound:
            return None

    def row_key(self, row: Any) -> str:
        return row.number

    def row_cells(self, row: Any) -> list[Text]:
        return [
            Text(row.number),
            Text(f"{row.created_at:%Y-%m-%d %H:%M}"),
            Text(row.status, style=STATUS_STYLE.get(row.status, "")),
            data(f"{row.customer_account} {row.customer_name}"),
            data(row.contact),
            data(row.user_name),
            data(row.role),
        ]

    # ------------------------------------------------------------------ actions

    def refusal(self, key: str, action: str) -> str | None:
        from services import user_requests

        return self.app.call(user_requests.refusal, key, action)

    def action_act(self, action: str) -> None:
        # the request under the cursor when the key was pressed; an action its state refuses says why
        self.when_possible(action, lambda number, d: self._open(action, number, d))

    def _open(self, action: str, number: str, d: UserRequestDetail) -> None:
        title = f"{action.replace('_', ' ').capitalize()} {number}"
        if action in ("reject", "cancel"):
            label = "Reason (required):" if action == "reject" else "Why is the request canceled?"
            self.app.push_screen(
                CommentDialog(title, label, required=True, button=action.capitalize(), variant="error"),
                lambda reason: self._run_if(reason, action, number, reason),
            )
        elif action == "set_user_name":
            current = d.user_name
            self.app.push_screen(
                FormDialog(
                    Content(title),
                    [FieldSpec("user_name", "New user name (letters, digits, . _ @ -)", current)],
                    required=("user_name",),
                    ok="Set",
                ),
                lambda v: self._run_if(v, action, number, v["user_name"] if v else ""),
            )
        else:
            self._run(action, number)

    def action_approve_comment(self) -> None:
        self.when_possible("approve", self._approve_comment)

    def _approve_comment(self, number: str, _d: UserRequestDetail) -> None:
        def done(comment: str | None) -> None:
            if comment is not None:
                self._run("approve", number, comment or None)

        self.app.push_screen(
            CommentDialog(f"Approve {number}", "Comment (optional):", required=False, button="Approve"), done
        )

    def _run_if(self, answer: Any, action: str, number: str, *args: Any) -> None:
        """A dialog's answer: run the action unless it was dismissed (None) or left empty."""
        if answer:
            self._run(action, number, *args)

    def _run(self, action: str, number: str, *args: Any) -> None:
        from services import portal, user_requests

        detail = self.target_detail(number)

        def run() -> str:
            if action == "resend_activation":
                d = detail or self.fetch_detail(number)
                user = d.portal_user.user_name if d and d.portal_user else None
                if user is None:
                    raise_refusal(f"{number} has no portal user")
                view = self.app.call(portal.resend_activation, user)
                return f"new activation link queued for {view.email}"
            if action == "approve":
                result = self.app.call(user_requests.approve, number, *args)
            elif action == "reject":
                result = self.app.call(user_requests.reject, number, *args)
            elif action == "cancel":
                result = self.app.call(user_requests.cancel, number, *args)
            elif action == "submit":
                result = self.app.call(user_requests.submit, number, *args)
            elif action == "provision":
                result = self.app.call(user_requests.provision, number, *args)
            elif action == "set_user_name":
                result = self.app.call(user_requests.set_user_name, number, *args)
            else:  # pragma: no cover
                raise ValueError(action)
            message = f"{result.number}: {result.status}"
            if result.portal_user:
                message += f"; portal user {result.portal_user}"
            if result.problem:
                self.app.call_from_thread(
                    self.notify, result.problem, title="Needs attention", severity="warning", markup=False, timeout=12
                )
            return message

        self.act(number, run)

    # ------------------------------------------------------------------ detail

    def compose_detail(self) -> ComposeResult:
        for section, title in SECTIONS:
            widget = Static(id=f"ur-detail-{section}", classes="ur-section")
            widget.border_title = title
            widget.display = False
            yield widget

    def show_detail(self, d: UserRequestDetail | None) -> None:
        widgets = {s: self.query_one(f"#ur-detail-{s}", Static) for s, _ in SECTIONS}
        for w in widgets.values():
            w.display = d is not None
        if d is None:
            return
        req = labelled(
            [
                ("Number", d.number),
                ("Type", d.request_type),
                ("Created", d.created_at),
                ("Created by", d.created_by),
                ("Sign-up request", d.signup_request),
                ("User name", d.user_name),
            ]
        )
        req.append("\n")
        req.append(f"{'Status':<18}", style="bold")
        req.append(d.status, style=STATUS_STYLE.get(d.status, ""))
        if d.actions:
            req.append("\n")
            req.append(f"{'Possible now':<18}", style="bold")
            req.append(", ".join(f"{a.replace('_', ' ')} ({ACTION_KEYS.get(a, '?')})" for a in d.actions))
        widgets["request"].update(req)
        widgets["problem"].display = bool(d.problem)
        widgets["problem"].update(data(d.problem or "", style="bold yellow"))
        widgets["parties"].update(
            labelled(
                [
                    ("Customer", f"{d.customer_account} {d.customer_name}"),
                    ("Contact", d.contact),
                    ("E-mail", d.email),
                    ("Role", d.role),
                ]
            )
        )
        if d.portal_user:
            pu = d.portal_user
            widgets["portal"].update(
                labelled(
                    [
                        ("User name", pu.user_name),
                        ("Status", pu.status),
                        ("Created", pu.created_at),
                        ("Activated", pu.activated_at),
                        ("Disabled", pu.disabled_at),
                        ("Disabled by", pu.disabled_by),
                    ]
                )
            )
        else:
            widgets["portal"].update(Text("not provisioned yet", style="dim"))
        widgets["workflow"].update(data(d.workflow.summary) if d.workflow else Text("no workflow running", style="dim"))
        if d.mails:
            out = Text()
            for i, m in enumerate(d.mails):
                if i:
                    out.append("\n")
                out.append(f"#{m.id} ", style="bold")
                out.append_text(data(f"{m.template} to {m.recipient}: {m.status}"))
                if m.sent_at:
                    out.append_text(data(f", sent {m.sent_at:%Y-%m-%d %H:%M}"))
                elif m.attempts:
                    out.append_text(data(f", {m.attempts} tries"))
                if m.last_error:
                    out.append("\n    ")
                    out.append_text(data(m.last_error, style="italic red"))
            widgets["mail"].update(out)
        else:
            widgets["mail"].update(Text("none yet", style="dim"))
        widgets["history"].update(history_text(d.history))


def raise_refusal(message: str) -> None:
    from services.errors import InvalidTransition

    raise InvalidTransition(message)


TextDialog = CommentDialog  # the dialog kit's

__all__ = ["UserRequestsScreen", "TextDialog"]
