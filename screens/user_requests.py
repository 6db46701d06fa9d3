"""The User requests screen (AX: System administration > Common > Users > User requests).

A status filter, the list (newest first, paged by keyset as you scroll) and the detail of
the selected request: customer, contact, role, the portal user and its logon e-mail, the
problem that holds it up (e.g. a user name that is taken), its workflow and its history.
Requests no workflow handles are processed here by hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Header, Input, Label, Static, Tab, Tabs
from textual.worker import get_current_worker

from screens.widgets import ReportsWorkerErrors, RequestTable, data, history_text, labelled, restore_cursor

if TYPE_CHECKING:
    from services.user_requests import UserRequestDetail, UserRequestView

FILTERS = ["All", "Draft", "Submitted", "Pending approval", "Approved", "Pending completion", "Completed",
           "Rejected", "Canceled"]
COLUMNS = [("number", "Number"), ("created", "Created"), ("status", "Status"), ("customer", "Customer"),
           ("contact", "Contact"), ("user", "User name"), ("role", "Role")]
STATUS_STYLE = {"Draft": "dim", "Submitted": "yellow", "Pending approval": "cyan", "Approved": "green",
                "Pending completion": "bold cyan", "Completed": "bold green", "Rejected": "red", "Canceled": "red"}
ACTION_KEYS = {"approve": "a", "reject": "r", "cancel": "x", "submit": "w", "provision": "p",
               "set_user_name": "u", "resend_activation": "v"}
PAGE_SIZE = 100
SECTIONS = (("request", "User request"), ("problem", "Needs attention"), ("parties", "Customer, contact, role"),
            ("portal", "Portal user"), ("workflow", "Workflow"), ("mail", "Logon e-mail"), ("history", "History"))


def tab_id(name: str) -> str:
    return "ur-" + name.lower().replace(" ", "-")


class RowsLoaded(Message):
    def __init__(self, generation: int, rows: list[UserRequestView], first: bool) -> None:
        super().__init__()
        self.generation, self.rows, self.first = generation, rows, first


class DetailLoaded(Message):
    def __init__(self, detail: UserRequestDetail | None, number: str) -> None:
        super().__init__()
        self.detail, self.number = detail, number


class ActionDone(Message):
    def __init__(self, number: str, message: str, warning: str | None = None) -> None:
        super().__init__()
        self.number, self.message, self.warning = number, message, warning


class TextDialog(ModalScreen[str | None]):
    """Asks for one line (a reason, a user name). Returns it, or None on Escape."""

    DEFAULT_CSS = """
    TextDialog { align: center middle; }
    TextDialog > Vertical { width: 70; height: auto; padding: 1 2; border: thick $accent; background: $surface; }
    TextDialog .dialog-title { margin-bottom: 1; }
    TextDialog #td-error { color: $error; height: auto; }
    TextDialog Horizontal { height: auto; margin-top: 1; }
    """
    AUTO_FOCUS = "#td-value"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="textdialog.cancel", tooltip="Close without doing anything")]

    def __init__(self, title: Content, label: str, *, required: str, value: str = "", ok: str = "OK") -> None:
        super().__init__()
        self.title_content, self.label, self.required, self.value, self.ok = title, label, required, value, ok

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_content, classes="dialog-title")
            yield Label(self.label)
            yield Input(value=self.value, id="td-value", max_length=1000)
            yield Static("", id="td-error")
            with Horizontal():
                yield Button(self.ok, id="td-ok", variant="primary")
                yield Button("Cancel", id="td-cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#td-ok")
    def _ok(self) -> None:
        value = self.query_one("#td-value", Input).value.strip()
        if not value:
            self.query_one("#td-error", Static).update(Text(self.required))
            return
        self.dismiss(value)

    @on(Button.Pressed, "#td-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class UserRequestsScreen(ReportsWorkerErrors, Screen):
    TITLE = "User requests"
    AUTO_FOCUS = "#user-requests"
    DEFAULT_CSS = """
    UserRequestsScreen #ur-filter-bar { height: 3; }
    UserRequestsScreen #ur-filters { width: 1fr; }
    UserRequestsScreen #ur-body { height: 1fr; }
    UserRequestsScreen #ur-list-pane { width: 3fr; }
    UserRequestsScreen #user-requests { height: 1fr; }
    UserRequestsScreen #ur-list-info { height: 1; padding: 0 1; color: $text-muted; }
    UserRequestsScreen #ur-detail { width: 2fr; min-width: 50; border-left: solid $primary-darken-2; }
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
        Binding("a", "act('approve')", "Approve", id="userrequests.approve",
                tooltip="Approve by hand and provision the portal user (no workflow)"),
        Binding("r", "act('reject')", "Reject", id="userrequests.reject", tooltip="Reject the request (asks the reason)"),
        Binding("x", "act('cancel')", "Cancel request", id="userrequests.cancel", tooltip="Cancel the request (asks why)"),
        Binding("w", "act('submit')", "To workflow", id="userrequests.submit",
                tooltip="Hand a draft or waiting request to the active workflow"),
        Binding("u", "act('set_user_name')", "User name", id="userrequests.username",
                tooltip="Choose another user name (e.g. when the preferred one is taken)"),
        Binding("p", "act('provision')", "Provision", id="userrequests.provision",
                tooltip="Provision the portal user of an approved request again"),
        Binding("v", "act('resend_activation')", "New link", id="userrequests.resend",
                tooltip="Send a new activation link to the contact"),
        Binding("f5", "reread", "Reread", id="userrequests.reread", tooltip="Reread the list and the detail"),
        *[
            Binding(str(i + 1), f"filter({i})", name, id=f"userrequests.filter.{tab_id(name)}",
                    tooltip=f"Show {name.lower() if name != 'All' else 'all'} user requests", show=False)
            for i, name in enumerate(FILTERS[:9])
        ],
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.status = "All"
        self.generation = 0
        self.loaded = 0
        self.last_id: int | None = None
        self.more = False
        self.loading = False
        self.selected: str | None = None
        self.detail: UserRequestDetail | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="ur-filter-bar"):
            yield Tabs(*[Tab(name, id=tab_id(name)) for name in FILTERS], id="ur-filters")
        with Horizontal(id="ur-body"):
            with Vertical(id="ur-list-pane"):
                table = RequestTable(id="user-requests", cursor_type="row", zebra_stripes=True)
                for key, label in COLUMNS:
                    table.add_column(label, key=key)
                yield table
                yield Static("loading…", id="ur-list-info")
            with VerticalScroll(id="ur-detail"):
                yield Static(Text("Select a user request.", style="dim"), id="ur-detail-empty")
                for section, _ in SECTIONS:
                    yield Static(id=f"ur-detail-{section}", classes="ur-section")
        yield Footer()

    def on_mount(self) -> None:
        for section, title in SECTIONS:
            widget = self.query_one(f"#ur-detail-{section}", Static)
            widget.border_title = title
            widget.display = False
        self.reload()

    # ------------------------------------------------------------------ loading

    def reload(self, keep: str | None = None) -> None:
        self.generation += 1
        self.loading = True
        self.last_id = None
        self._fetch_rows(self.generation, self.status, None)

    @work(thread=True, exclusive=True, group="userrequests.list", exit_on_error=False)
    def _fetch_rows(self, generation: int, status: str, before_id: int | None) -> None:
        from services import user_requests

        try:
            rows = self.app.call(user_requests.list_user_requests, status=status, limit=PAGE_SIZE, before_id=before_id)
        except BaseException:
            self.app.call_from_thread(setattr, self, "loading", False)
            raise
        if not get_current_worker().is_cancelled:
            self.post_message(RowsLoaded(generation, rows, before_id is None))

    @work(thread=True, exclusive=True, group="userrequests.detail", exit_on_error=False)
    def _fetch_detail(self, number: str) -> None:
        from services import user_requests
        from services.errors import NotFound

        try:
            detail = self.app.call(user_requests.show_user_request, number)
        except NotFound:
            detail = None
        if not get_current_worker().is_cancelled:
            self.post_message(DetailLoaded(detail, number))

    @on(RowsLoaded)
    def _rows_loaded(self, event: RowsLoaded) -> None:
        if event.generation != self.generation:
            return
        table = self.query_one(RequestTable)
        with self.app.batch_update():
            if event.first:
                previous = self.selected
                table.clear()
                self.loaded = 0
            for row in event.rows:
                table.add_row(
                    Text(row.number), Text(f"{row.created_at:%Y-%m-%d %H:%M}"),
                    Text(row.status, style=STATUS_STYLE.get(row.status, "")),
                    data(f"{row.customer_account} {row.customer_name}"), data(row.contact), data(row.user_name),
                    data(row.role), key=row.number,
                )
            self.loaded += len(event.rows)
            self.more = len(event.rows) == PAGE_SIZE
            if event.rows:
                self.last_id = event.rows[-1].id
            self.loading = False
            if event.first:
                self._select(restore_cursor(table, previous))
        info = Text()
        info.append(f"{self.loaded:,}", style="bold")
        info.append(f" shown  ·  {self.status}")
        if self.more:
            info.append("  ·  more below", style="dim")
        self.query_one("#ur-list-info", Static).update(info)

    @on(RequestTable.NearEnd)
    def _near_end(self) -> None:
        if self.more and not self.loading and self.last_id is not None:
            self.loading = True
            self._fetch_rows(self.generation, self.status, self.last_id)

    @on(DetailLoaded)
    def _detail_loaded(self, event: DetailLoaded) -> None:
        if event.number != self.selected:
            return
        self.detail = event.detail
        self._show_detail(event.detail)

    @on(RequestTable.RowHighlighted, "#user-requests")
    def _row_highlighted(self, event: RequestTable.RowHighlighted) -> None:
        number = event.row_key.value if event.row_key is not None else None
        if number != self.selected:
            self._select(number)

    def _select(self, number: str | None) -> None:
        self.selected = number
        if number is None:
            self.detail = None
            self._show_detail(None)
            return
        self._fetch_detail(number)

    @on(Tabs.TabActivated, "#ur-filters")
    def _tab_activated(self, event: Tabs.TabActivated) -> None:
        name = next((n for n in FILTERS if tab_id(n) == event.tab.id), "All")
        if name != self.status:
            self.status = name
            self.reload()

    def action_filter(self, index: int) -> None:
        self.query_one(Tabs).active = tab_id(FILTERS[index])

    def action_reread(self) -> None:
        self.reload()
        if self.selected:
            self._fetch_detail(self.selected)

    # ------------------------------------------------------------------ actions

    def action_act(self, action: str) -> None:
        number = self.selected
        if number is None:
            self.notify("Select a user request first.", severity="warning")
            return
        d = self.detail if self.detail is not None and self.detail.number == number else None
        if d is not None and action not in d.actions:
            self.notify(_why_not(d, action), title="Not possible", severity="warning", markup=False)
            return
        title = Content.assemble((f"{action.replace('_', ' ').capitalize()} ", "bold"), (number, "bold"))
        if action in ("reject", "cancel"):
            label = "Reason (required):" if action == "reject" else "Why is the request canceled?"
            self.app.push_screen(TextDialog(title, label, required="a reason is required", ok=action.capitalize()),
                                 lambda reason: reason and self._run(action, number, reason))
        elif action == "set_user_name":
            current = d.user_name if d else ""
            self.app.push_screen(TextDialog(title, "New user name (letters, digits, . _ @ -):",
                                            required="a user name is required", value=current, ok="Set"),
                                 lambda name: name and self._run(action, number, name))
        else:
            self._run(action, number)

    @work(thread=True, group="userrequests.action", exit_on_error=False)
    def _run(self, action: str, number: str, *args: Any) -> None:
        from services import portal, user_requests

        if action == "resend_activation":
            user = self.detail.portal_user.user_name if self.detail and self.detail.portal_user else None
            if user is None:
                raise_refusal(f"{number} has no portal user")
            view = self.app.call(portal.resend_activation, user)
            self.post_message(ActionDone(number, f"new activation link queued for {view.email}"))
            return
        fn = {"approve": user_requests.approve, "reject": user_requests.reject, "cancel": user_requests.cancel,
              "submit": user_requests.submit, "provision": user_requests.provision,
              "set_user_name": user_requests.set_user_name}[action]
        result = self.app.call(fn, number, *args)
        message = f"{result.number}: {result.status}"
        if result.portal_user:
            message += f"; portal user {result.portal_user}"
        self.post_message(ActionDone(number, message, result.problem))

    @on(ActionDone)
    def _action_done(self, event: ActionDone) -> None:
        self.notify(event.message, title="Done", markup=False)
        if event.warning:
            self.notify(event.warning, title="Needs attention", severity="warning", markup=False, timeout=12)
        self.selected = event.number
        self.reload()
        self._fetch_detail(event.number)

    # ------------------------------------------------------------------ detail

    def _show_detail(self, d: UserRequestDetail | None) -> None:
        widgets = {s: self.query_one(f"#ur-detail-{s}", Static) for s, _ in SECTIONS}
        self.query_one("#ur-detail-empty").display = d is None
        for w in widgets.values():
            w.display = d is not None
        if d is None:
            return
        req = labelled([("Number", d.number), ("Type", d.request_type), ("Created", d.created_at),
                        ("Created by", d.created_by), ("Sign-up request", d.signup_request), ("User name", d.user_name)])
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
        widgets["parties"].update(labelled([("Customer", f"{d.customer_account} {d.customer_name}"),
                                            ("Contact", d.contact), ("E-mail", d.email), ("Role", d.role)]))
        if d.portal_user:
            pu = d.portal_user
            widgets["portal"].update(labelled([("User name", pu.user_name), ("Status", pu.status),
                                               ("Created", pu.created_at), ("Activated", pu.activated_at),
                                               ("Disabled", pu.disabled_at), ("Disabled by", pu.disabled_by)]))
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

    def palette_bindings(self) -> Iterable[Binding]:
        return [b for b in self.BINDINGS if isinstance(b, Binding)]


def _why_not(d: UserRequestDetail, action: str) -> str:
    label = action.replace("_", " ")
    if d.workflow and action in ("approve", "reject", "cancel", "submit"):
        return f"{d.number} is in a workflow ({d.workflow.summary}): act on its work item in My work"
    if not d.actions:
        return f"{d.number} is {d.status}: nothing you may do on it here"
    return f"{d.number} is {d.status}: cannot {label} it (possible: {', '.join(a.replace('_', ' ') for a in d.actions)})"


def raise_refusal(message: str) -> None:
    from services.errors import InvalidTransition

    raise InvalidTransition(message)


__all__ = ["UserRequestsScreen", "TextDialog"]
