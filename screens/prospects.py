"""The Prospects area (seed 003): prospects, the leads of "All commerce B2B leads", and
opportunities, in three tabs; the selected record's prospect in detail. Qualify, disqualify,
won and lost are keys. A shared e-mail found at qualification opens a choice dialog.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Static, Tab, Tabs
from textual.worker import get_current_worker

from screens.dialogs import Dialog, FieldSpec, FormDialog
from screens.widgets import ReportsWorkerErrors, data, labelled, restore_cursor

if TYPE_CHECKING:
    from services.prospects import EmailOwner, ProspectDetail

TABS = (("prospects", "Prospects"), ("leads", "Leads — All commerce B2B leads"), ("opportunities", "Opportunities"))
STATUS_STYLE = {"Pending": "yellow", "Approved": "green", "Rejected": "red", "Open": "yellow", "Qualified": "green",
                "Disqualified": "red", "Won": "bold green", "Lost": "red"}
COLUMNS = {
    "prospects": [("number", "Number"), ("status", "Status"), ("company", "Company"), ("contact", "Contact"),
                  ("email", "E-mail"), ("lead", "Lead")],
    "leads": [("number", "Lead"), ("status", "Status"), ("topic", "Topic"), ("contact", "Contact"),
              ("prospect", "Prospect")],
    "opportunities": [("number", "Opportunity"), ("status", "Status"), ("account", "Account"),
                      ("account_name", "Name"), ("contact_account", "Contact"), ("prospect", "Prospect")],
}
LIMIT = 500


class RowsLoaded(Message):
    def __init__(self, tab: str, rows: list[Any], counts: dict[str, dict[str, int]]) -> None:
        super().__init__()
        self.tab, self.rows, self.counts = tab, rows, counts


class DetailLoaded(Message):
    def __init__(self, key: str, detail: ProspectDetail | None) -> None:
        super().__init__()
        self.key, self.detail = key, detail


class Done(Message):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class SharedEmail(Message):
    def __init__(self, lead: str, message: str, owners: list[EmailOwner]) -> None:
        super().__init__()
        self.lead, self.message, self.owners = lead, message, owners


class EmailChoiceDialog(Dialog[tuple[str, str]]):
    """The requester's e-mail is used by another customer contact: link, share, or another address."""

    DEFAULT_CSS = """
    EmailChoiceDialog { align: center middle; }
    EmailChoiceDialog > Vertical { width: 90; height: auto; padding: 1 2; border: thick $warning; background: $surface; }
    EmailChoiceDialog Horizontal { height: auto; margin-top: 1; }
    EmailChoiceDialog Button { margin-right: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="emailchoice.cancel", tooltip="Do not qualify now")]

    def __init__(self, lead: str, message: str, owners: list[EmailOwner]) -> None:
        super().__init__()
        self.lead, self.message, self.owners = lead, message, owners
        self.person = next((o.account for o in owners if o.kind == "person customer"), None)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Content.from_markup("[b]Shared e-mail[/b] — qualify $lead", lead=self.lead))
            yield Static(data(self.message))
            with Horizontal():
                if self.person:
                    yield Button(Content(f"Link {self.person}"), id="ec-link", variant="primary")
                yield Button("Allow shared e-mail", id="ec-shared", variant="warning")
                yield Button("Another e-mail…", id="ec-email")
                yield Button("Cancel", id="ec-cancel")

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        choice = {"ec-link": ("link", self.person or ""), "ec-shared": ("shared", ""), "ec-email": ("email", "")}
        self.dismiss(choice.get(event.button.id or ""))

    def action_cancel(self) -> None:
        self.dismiss(None)


class ProspectsScreen(ReportsWorkerErrors, Screen):
    TITLE = "Prospects"
    AUTO_FOCUS = "#pr-table"
    DEFAULT_CSS = """
    ProspectsScreen #pr-tabs { height: 3; }
    ProspectsScreen #pr-body { height: 1fr; }
    ProspectsScreen #pr-list-pane { width: 3fr; }
    ProspectsScreen #pr-table { height: 1fr; }
    ProspectsScreen #pr-info { height: 1; padding: 0 1; color: $text-muted; }
    ProspectsScreen #pr-detail { width: 2fr; min-width: 52; border-left: solid $primary-darken-2; }
    ProspectsScreen .pr-section { border: round $primary-darken-1; padding: 0 1; height: auto; }
    """
    HELP = """\
## Prospects — B2B business partner onboarding

The B2B site's onboarding form makes a *Pending* prospect and a lead in the view
"All commerce B2B leads". Qualifying the lead creates an opportunity, a contact (a
customer of person type) and an account (a customer of organization type). Closing the
opportunity as *Won* approves the prospect: the customer hierarchy is created
(organization on top, the requester under it as an admin user), a user request goes to
the workflow, and the approval e-mail is queued. *Disqualify* or *Lost* rejects the
prospect and queues the decline e-mail.

* **1**/**2**/**3** prospects, leads, opportunities; **f5** rereads.
* **q** qualify the lead, **d** disqualify it (asks the reason).
* **w** close the opportunity as won, **l** as lost (asks the reason).
* When the requester's e-mail is already used by another customer contact, qualifying
  asks: link the existing person, allow the shared e-mail, or use another address.
"""
    BINDINGS = [
        Binding("q", "qualify", "Qualify", id="prospects.qualify", tooltip="Qualify the lead"),
        Binding("d", "disqualify", "Disqualify", id="prospects.disqualify",
                tooltip="Disqualify the lead (prospect rejected, decline e-mail)"),
        Binding("w", "won", "Won", id="prospects.won", tooltip="Close the opportunity as won (prospect approved)"),
        Binding("l", "lost", "Lost", id="prospects.lost",
                tooltip="Close the opportunity as lost (prospect rejected, decline e-mail)"),
        Binding("f5", "reread", "Reread", id="prospects.reread", tooltip="Reread the list and the detail"),
        *[Binding(str(i + 1), f"tab('{name}')", title, id=f"prospects.tab.{name}", tooltip=f"Show {title}", show=False)
          for i, (name, title) in enumerate(TABS)],
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tab = "prospects"
        self.selected: str | None = None
        self.detail: ProspectDetail | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Tabs(*[Tab(title, id=f"pr-tab-{name}") for name, title in TABS], id="pr-tabs")
        with Horizontal(id="pr-body"):
            with Vertical(id="pr-list-pane"):
                yield DataTable(id="pr-table", cursor_type="row", zebra_stripes=True)
                yield Static("loading…", id="pr-info")
            with VerticalScroll(id="pr-detail"):
                yield Static(Text("Select a record.", style="dim"), id="pr-empty")
                for section, title in (("prospect", "Prospect"), ("process", "Lead and opportunity"),
                                       ("duplicates", "Possible duplicates"), ("history", "History")):
                    widget = Static(id=f"pr-{section}", classes="pr-section")
                    widget.border_title = title
                    widget.display = False
                    yield widget
        yield Footer()

    def on_mount(self) -> None:
        self.reload()

    # ------------------------------------------------------------------ loading

    def reload(self) -> None:
        self._fetch_rows(self.tab)

    @work(thread=True, exclusive=True, group="prospects.list", exit_on_error=False)
    def _fetch_rows(self, tab: str) -> None:
        from services import prospects

        fn = {"prospects": prospects.list_prospects, "leads": prospects.list_leads,
              "opportunities": prospects.list_opportunities}[tab]
        rows = self.app.call(fn, limit=LIMIT)
        counts = self.app.call(prospects.counts)
        if not get_current_worker().is_cancelled:
            self.post_message(RowsLoaded(tab, rows, counts))

    @work(thread=True, exclusive=True, group="prospects.detail", exit_on_error=False)
    def _fetch_detail(self, key: str) -> None:
        from services import prospects
        from services.errors import NotFound

        try:
            detail = self.app.call(prospects.show_prospect, key)
        except NotFound:
            detail = None
        if not get_current_worker().is_cancelled:
            self.post_message(DetailLoaded(key, detail))

    @on(RowsLoaded)
    def _rows_loaded(self, event: RowsLoaded) -> None:
        if event.tab != self.tab:
            return
        table = self.query_one("#pr-table", DataTable)
        previous = self.selected
        with self.app.batch_update():
            table.clear(columns=True)
            for key, label in COLUMNS[self.tab]:
                table.add_column(label, key=key)
            for row in event.rows:
                cells = []
                for key, _ in COLUMNS[self.tab]:
                    value = getattr(row, key)
                    cells.append(Text(value, style=STATUS_STYLE.get(value, "")) if key == "status" else data(value))
                table.add_row(*cells, key=row.number)
        total = event.counts[self.tab]["All"]
        self.query_one("#pr-info", Static).update(Text(f"{len(event.rows)} of {total} {self.tab}"))
        key = restore_cursor(table, previous)
        if key is not None:
            self._select(key)
        else:
            self.selected = None
            self._show(None)

    @on(DataTable.RowHighlighted, "#pr-table")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value != self.selected:
            self._select(str(event.row_key.value))

    def _select(self, key: str) -> None:
        self.selected = key
        self._fetch_detail(key)

    @on(DetailLoaded)
    def _detail_loaded(self, event: DetailLoaded) -> None:
        if event.key == self.selected:
            self._show(event.detail)

    def _show(self, d: ProspectDetail | None) -> None:
        self.detail = d
        self.query_one("#pr-empty", Static).display = d is None
        for section in ("prospect", "process", "duplicates", "history"):
            self.query_one(f"#pr-{section}", Static).display = d is not None
        if d is None:
            return
        get = lambda sid: self.query_one(f"#pr-{sid}", Static)  # noqa: E731
        head = Text()
        head.append(f"{'Status':<14}", style="bold")
        head.append(d.status, style=STATUS_STYLE.get(d.status, ""))
        head.append("\n")
        head.append_text(labelled([("Number", d.number), ("Company", d.company),
                                   ("Contact", f"{d.first_name} {d.last_name}"), ("E-mail", d.email),
                                   ("Phone", d.phone), ("ZIP", d.zip), ("Store", d.store_name),
                                   ("Store URL", d.store_url), ("Comments", d.comments), ("Received", d.created_at)],
                                  width=14))
        get("prospect").update(head)
        get("process").update(labelled([
            ("Lead", f"{d.lead} ({d.lead_status})" if d.lead else None),
            ("Opportunity", f"{d.opportunity} ({d.opportunity_status})" if d.opportunity else None),
            ("Account", d.account), ("Contact", d.contact_account), ("User request", d.user_request),
            ("Decided by", d.decided_by), ("Reason", d.decision_reason), ("Actions", ", ".join(d.actions))], width=14))
        dups = Text()
        for i, h in enumerate(d.duplicates):
            if i:
                dups.append("\n")
            dups.append_text(data(f"{h.kind} {h.key}: {h.label} ({h.reason})"))
        get("duplicates").update(dups if d.duplicates else Text("none", style="dim"))
        history = Text()
        for i, e in enumerate(d.history[-12:]):
            if i:
                history.append("\n")
            history.append(f"{e.at:%Y-%m-%d %H:%M} ", style="dim")
            history.append_text(data(f"{e.entity_key} {e.operator} {e.action}"))
        get("history").update(history)

    # ------------------------------------------------------------------ actions

    def action_tab(self, name: str) -> None:
        self.query_one("#pr-tabs", Tabs).active = f"pr-tab-{name}"

    @on(Tabs.TabActivated, "#pr-tabs")
    def _tab_changed(self, event: Tabs.TabActivated) -> None:
        name = (event.tab.id or "pr-tab-prospects").removeprefix("pr-tab-")
        if name != self.tab:
            self.tab = name
            self.selected = None
            self.reload()

    def action_reread(self) -> None:
        self.reload()

    def _need(self, what: str) -> str | None:
        d = self.detail
        key = {"lead": d.lead if d else None, "opportunity": d.opportunity if d else None}[what]
        if key is None:
            self.app.notify(f"Select a record with an {what} first." if what == "opportunity"
                            else "Select a record with a lead first.", severity="warning", markup=False)
        return key

    def action_qualify(self, **options: Any) -> None:
        lead = self._need("lead")
        if lead is not None:
            self._qualify(lead, options)

    def action_disqualify(self) -> None:
        lead = self._need("lead")
        if lead is None:
            return

        from services import prospects

        self.app.push_screen(FormDialog(Content.from_markup("Disqualify [b]$n[/b] (decline e-mail)", n=lead),
                                        [FieldSpec("reason", "Reason (internal)")], required=("reason",),
                                        ok="Disqualify",
                                        submit=lambda v: self.app.call(prospects.disqualify, lead, v["reason"])),
                             lambda r: r is not None and self.post_message(Done(self._text("disqualify", r))))

    def action_won(self) -> None:
        opp = self._need("opportunity")
        if opp is None:
            return
        from screens.dialogs import ConfirmDialog

        d = self.detail
        who = f" for {d.company}" if d is not None and getattr(d, "company", None) else ""
        summary = (f"Close {opp} as won{who}: the prospect is approved, the customer hierarchy is created, a user "
                   "request goes to approval and the approval e-mail is queued. This cannot be undone.")

        def done(ok: bool | None) -> None:
            if ok:
                self._run("won", opp)

        self.app.push_screen(ConfirmDialog(f"Won: {opp}", summary, ok="Won"), done)

    def action_lost(self) -> None:
        opp = self._need("opportunity")
        if opp is None:
            return

        from services import prospects

        self.app.push_screen(FormDialog(Content.from_markup("Close [b]$n[/b] as lost (decline e-mail)", n=opp),
                                        [FieldSpec("reason", "Reason (internal)")], required=("reason",), ok="Lost",
                                        submit=lambda v: self.app.call(prospects.lost, opp, v["reason"])),
                             lambda r: r is not None and self.post_message(Done(self._text("lost", r))))

    @work(thread=True, group="prospects.action", exit_on_error=False)
    def _qualify(self, lead: str, options: dict[str, Any]) -> None:
        from services import prospects

        try:
            r = self.app.call(prospects.qualify, lead, **options)
        except prospects.DuplicateEmail as exc:
            self.post_message(SharedEmail(lead, exc.message, exc.owners))
            return
        self.post_message(Done(f"{r.lead} qualified: opportunity {r.opportunity}, account {r.account}, "
                               f"contact {r.contact_account}"))

    @on(SharedEmail)
    def _shared_email(self, event: SharedEmail) -> None:
        def chosen(choice: tuple[str, str] | None) -> None:
            if choice is None:
                return
            kind, value = choice
            if kind == "link":
                self._qualify(event.lead, {"link_existing": value})
            elif kind == "shared":
                self._qualify(event.lead, {"allow_shared_email": True})
            else:
                def got(values: dict[str, str] | None) -> None:
                    if values is not None:
                        self._qualify(event.lead, {"email": values["email"]})

                self.app.push_screen(FormDialog(Content("Another e-mail of the requester"),
                                                [FieldSpec("email", "E-mail")], required=("email",)), got)

        self.app.push_screen(EmailChoiceDialog(event.lead, event.message, event.owners), chosen)

    @work(thread=True, group="prospects.action", exit_on_error=False)
    def _run(self, fn_name: str, number: str) -> None:
        from services import prospects

        r = self.app.call(prospects.won, number)  # the one action without a form
        self.post_message(Done(self._text(fn_name, r)))

    @staticmethod
    def _text(fn_name: str, r: Any) -> str:
        text = f"{r.number} {r.status}; prospect {r.prospect} {r.prospect_status}"
        if fn_name == "won":
            text += f"; user request {r.user_request}; approval e-mail queued"
        elif fn_name in ("lost", "disqualify"):
            text += "; decline e-mail queued"
        return text

    @on(Done)
    def _done(self, event: Done) -> None:
        self.app.notify(event.text, markup=False)
        self.reload()
        if self.selected:
            self._fetch_detail(self.selected)
