"""The Prospects area (seed 003): prospects, the leads of "All commerce B2B leads", and
opportunities, in three tabs of the record browser (each tab its own columns, keyset pages from
``services.prospect_lists``, sort, search, counts); the selected record's prospect in detail.
Qualify, disqualify, won and lost are keys acting on the row under the cursor at key time. A
shared e-mail found at qualification opens a choice dialog.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Static

from screens.browser import ActionDone, BrowserScreen, Column, ListQuery, Page
from screens.dialogs import ConfirmDialog, Dialog, FieldSpec, FormDialog
from screens.guarded import GuardedActions
from screens.widgets import data, labelled

if TYPE_CHECKING:
    from services.prospects import EmailOwner, ProspectDetail

FILTERS = ["Prospects", "Leads", "Opportunities"]
KIND = dict(zip(FILTERS, ("prospects", "leads", "opportunities")))
STATUS_STYLE = {
    "Pending": "yellow",
    "Approved": "green",
    "Rejected": "red",
    "Open": "yellow",
    "Qualified": "green",
    "Disqualified": "red",
    "Won": "bold green",
    "Lost": "red",
}
COLUMNS: dict[str, list[Column]] = {
    "Prospects": [
        Column("number", "Number", "number"),
        Column("status", "Status", "status", width=9),
        Column("company", "Company", "company", width=22),
        Column("contact", "Contact", None, width=16),
        Column("email", "E-mail", "email", width=24),
        Column("lead", "Lead"),
    ],
    "Leads": [
        Column("number", "Lead", "number"),
        Column("status", "Status", None, width=12),
        Column("topic", "Topic", None, width=28),
        Column("contact", "Contact", None, width=16),
        Column("prospect", "Prospect"),
    ],
    "Opportunities": [
        Column("number", "Opportunity", "number"),
        Column("status", "Status", None, width=8),
        Column("account", "Account"),
        Column("account_name", "Name", None, width=22),
        Column("contact_account", "Contact"),
        Column("prospect", "Prospect"),
    ],
}
SECTIONS = (
    ("prospect", "Prospect"),
    ("process", "Lead and opportunity"),
    ("duplicates", "Possible duplicates"),
    ("history", "History"),
)


class SharedEmail(Message):
    def __init__(self, key: str, lead: str, message: str, owners: list[EmailOwner]) -> None:
        super().__init__()
        self.key, self.lead, self.message, self.owners = key, lead, message, owners


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


ACTION_KEYS = {"qualify": "q", "disqualify": "d", "won": "w", "lost": "l"}


class ProspectsScreen(GuardedActions, BrowserScreen):
    TITLE = "Prospects"
    AUTO_FOCUS = "#prospects"
    TABLE_ID = "prospects"
    COLUMNS = COLUMNS["Prospects"]
    FILTERS = FILTERS
    DEFAULT_SORT = "number"
    DEFAULT_DESCENDING = True  # newest first
    REVERSIBLE = True
    SEARCH_PLACEHOLDER = "/ search number, company, name, e-mail"
    EMPTY_DETAIL = "Select a record."
    NOUN = "record"
    DEFAULT_CSS = """
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

* **1**/**2**/**3** prospects, leads, opportunities (with their counts); **f5** rereads.
* The lists load page by page as you scroll; **/** searches number, company, names and
  e-mail (a lead or opportunity by its own number or its prospect's); **s**/**S** sort.
* **q** qualify the lead, **d** disqualify it (asks the reason).
* **w** close the opportunity as won (asks to confirm), **l** as lost (asks the reason).
* When the requester's e-mail is already used by another customer contact, qualifying
  asks: link the existing person, allow the shared e-mail, or use another address.
"""
    BINDINGS = [
        Binding("q", "qualify", "Qualify", id="prospects.qualify", tooltip="Qualify the lead"),
        Binding(
            "d",
            "disqualify",
            "Disqualify",
            id="prospects.disqualify",
            tooltip="Disqualify the lead (prospect rejected, decline e-mail)",
        ),
        Binding("w", "won", "Won", id="prospects.won", tooltip="Close the opportunity as won (prospect approved)"),
        Binding(
            "l",
            "lost",
            "Lost",
            id="prospects.lost",
            tooltip="Close the opportunity as lost (prospect rejected, decline e-mail)",
        ),
        Binding("f5", "reread", "Reread", id="prospects.reread", tooltip="Reread the list and the detail"),
    ]

    # ------------------------------------------------------------------ the lists

    def columns_for(self, status: str) -> list[Column]:
        return COLUMNS.get(status, COLUMNS["Prospects"])

    @property
    def kind(self) -> str:
        return KIND.get(self.query_state.status, "prospects")

    def fetch(self, q: ListQuery, after: Any, limit: int, reverse: bool) -> Page:
        from services.prospects import pages as prospect_lists

        pages: dict[str, Callable[..., Any]] = {
            "prospects": prospect_lists.page_prospects,
            "leads": prospect_lists.page_leads,
            "opportunities": prospect_lists.page_opportunities,
        }
        fn = pages[KIND.get(q.status, "prospects")]
        page = self.app.call(
            fn,
            search=q.search or None,
            sort=q.sort or "number",
            descending=q.descending != reverse,
            after=after,
            limit=limit,
        )
        return Page(page.rows, page.after)

    def fetch_counts(self, search: str) -> dict[str, int]:
        from services.prospects import pages as prospect_lists

        counts = self.app.call(prospect_lists.counts, search=search or None)
        return {name: counts[KIND[name]] for name in FILTERS}

    def fetch_detail(self, key: str) -> ProspectDetail | None:
        from services import prospects
        from services.errors import NotFound

        try:
            return self.app.call(prospects.show_prospect, key)
        except NotFound:
            return None

    def refusal(self, key: str, action: str) -> str | None:
        from services import prospects

        return self.app.call(prospects.refusal, key, action)

    def detail_key(self, detail: Any) -> str | None:
        """The row a detail belongs to: the prospect's, its lead's or its opportunity's, by tab."""
        return getattr(
            detail, {"prospects": "number", "leads": "lead", "opportunities": "opportunity"}[self.kind], None
        )

    def row_key(self, row: Any) -> str:
        return row.number

    def row_cells(self, row: Any) -> list[Text]:
        status = Text(row.status, style=STATUS_STYLE.get(row.status, ""))
        if hasattr(row, "lead_status"):  # a prospect
            return [
                Text(row.number),
                status,
                data(row.company),
                data(row.contact),
                data(row.email),
                Text(row.lead or ""),
            ]
        if hasattr(row, "account_name"):  # an opportunity
            return [
                Text(row.number),
                status,
                Text(row.account),
                data(row.account_name),
                Text(row.contact_account),
                Text(row.prospect),
            ]
        return [Text(row.number), status, data(row.topic), data(row.contact), Text(row.prospect)]  # a lead

    def detail_changed_row(self, key: str, detail: Any) -> None:
        status = {"prospects": detail.status, "leads": detail.lead_status, "opportunities": detail.opportunity_status}[
            self.kind
        ]
        row = self.records.get(key)
        if row is None or not status or row.status == status:
            return
        # the record too: a page answer arriving after this detail repaints from it
        self.records[key] = row.model_copy(update={"status": status})
        self.table.update_cell(key, "status", Text(status, style=STATUS_STYLE.get(status, "")))

    # ------------------------------------------------------------------ the detail

    def compose_detail(self) -> ComposeResult:
        for section, title in SECTIONS:
            widget = Static(id=f"pr-{section}", classes="pr-section")
            widget.border_title = title
            widget.display = False
            yield widget

    def show_detail(self, d: ProspectDetail | None) -> None:
        for section, _ in SECTIONS:
            self.query_one(f"#pr-{section}", Static).display = d is not None
        if d is None:
            return
        get = lambda sid: self.query_one(f"#pr-{sid}", Static)  # noqa: E731
        head = Text()
        head.append(f"{'Status':<14}", style="bold")
        head.append(d.status, style=STATUS_STYLE.get(d.status, ""))
        head.append("\n")
        head.append_text(
            labelled(
                [
                    ("Number", d.number),
                    ("Company", d.company),
                    ("Contact", f"{d.first_name} {d.last_name}"),
                    ("E-mail", d.email),
                    ("Phone", d.phone),
                    ("ZIP", d.zip),
                    ("Store", d.store_name),
                    ("Store URL", d.store_url),
                    ("Comments", d.comments),
                    ("Received", d.created_at),
                ],
                width=14,
            )
        )
        get("prospect").update(head)
        get("process").update(
            labelled(
                [
                    ("Lead", f"{d.lead} ({d.lead_status})" if d.lead else None),
                    ("Opportunity", f"{d.opportunity} ({d.opportunity_status})" if d.opportunity else None),
                    ("Account", d.account),
                    ("Contact", d.contact_account),
                    ("User request", d.user_request),
                    ("Decided by", d.decided_by),
                    ("Reason", d.decision_reason),
                    ("Possible now", ", ".join(f"{a} ({ACTION_KEYS.get(a, '?')})" for a in d.actions)),
                ],
                width=14,
            )
        )
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

    # ------------------------------------------------------------------ actions (on the row under the cursor at key time)

    def _lead_of(self, key: str) -> str | None:
        """The lead of the row ``key``: the row itself on the Leads tab, else the row's lead."""
        if self.kind == "leads":
            return key
        row = self.records.get(key)
        lead = getattr(row, "lead", None)
        if lead is None:
            self.notify(f"{key} has no lead.", severity="warning", markup=False)
        return lead

    def _company(self, key: str) -> str | None:
        row, detail = self.records.get(key), self.target_detail(key)
        return getattr(detail, "company", None) or getattr(row, "company", None) or getattr(row, "account_name", None)

    def action_qualify(self, **options: Any) -> None:
        if (key := self.target()) is None or (lead := self._lead_of(key)) is None:
            return
        self._qualify(key, lead, options)

    def _qualify(self, key: str, lead: str, options: dict[str, Any]) -> None:
        from services import prospects

        def run() -> str:
            try:
                r = self.app.call(prospects.qualify, lead, **options)
            except prospects.DuplicateEmail as exc:
                self.post_message(SharedEmail(key, lead, exc.message, exc.owners))
                return ""
            return f"{r.lead} qualified: opportunity {r.opportunity}, account {r.account}, contact {r.contact_account}"

        self.act(key, run)

    @on(SharedEmail)
    def _shared_email(self, event: SharedEmail) -> None:
        event.stop()

        def chosen(choice: tuple[str, str] | None) -> None:
            if choice is None:
                return
            kind, value = choice
            if kind == "link":
                self._qualify(event.key, event.lead, {"link_existing": value})
            elif kind == "shared":
                self._qualify(event.key, event.lead, {"allow_shared_email": True})
            else:

                def got(values: dict[str, str] | None) -> None:
                    if values is not None:
                        self._qualify(event.key, event.lead, {"email": values["email"]})

                self.app.push_screen(
                    FormDialog(
                        Content("Another e-mail of the requester"), [FieldSpec("email", "E-mail")], required=("email",)
                    ),
                    got,
                )

        self.app.push_screen(EmailChoiceDialog(event.lead, event.message, event.owners), chosen)

    def _form(self, key: str, title: Content, action: str, submit: Any, ok: str) -> None:
        """A reason form whose service call runs inside it (a refusal keeps it open); then the list."""

        def done(result: Any) -> None:
            if result is not None:
                self.post_message(ActionDone(key, self._text(action, result)))

        self.app.push_screen(
            FormDialog(title, [FieldSpec("reason", "Reason (internal)")], required=("reason",), ok=ok, submit=submit),
            done,
        )

    def action_disqualify(self) -> None:
        self.when_possible("disqualify", self._disqualify)

    def _disqualify(self, key: str, d: ProspectDetail) -> None:
        from services import prospects

        if (lead := d.lead) is None:
            return

        self._form(
            key,
            Content.from_markup("Disqualify [b]$n[/b] (decline e-mail)", n=lead),
            "disqualify",
            lambda v: self.app.call(prospects.disqualify, lead, v["reason"]),
            "Disqualify",
        )

    def action_lost(self) -> None:
        self.when_possible("lost", self._lost)

    def _lost(self, key: str, d: ProspectDetail) -> None:
        from services import prospects

        if (opp := d.opportunity) is None:
            return

        self._form(
            key,
            Content.from_markup("Close [b]$n[/b] as lost (decline e-mail)", n=opp),
            "lost",
            lambda v: self.app.call(prospects.lost, opp, v["reason"]),
            "Lost",
        )

    def action_won(self) -> None:
        self.when_possible("won", self._won)

    def _won(self, key: str, d: ProspectDetail) -> None:
        from services import prospects

        if (opp := d.opportunity) is None:
            return
        company = d.company or self._company(key)
        who = f" for {company}" if company else ""
        summary = (
            f"Close {opp} as won{who}: the prospect is approved, the customer hierarchy is created, a user "
            "request goes to approval and the approval e-mail is queued. This cannot be undone."
        )

        def done(ok: bool | None) -> None:
            if ok:
                self.act(key, lambda: self._text("won", self.app.call(prospects.won, opp)))

        self.app.push_screen(ConfirmDialog(f"Won: {opp}", summary, ok="Won"), done)

    @staticmethod
    def _text(action: str, r: Any) -> str:
        text = f"{r.number} {r.status}; prospect {r.prospect} {r.prospect_status}"
        if action == "won":
            text += f"; user request {r.user_request}; approval e-mail queued"
        elif action in ("lost", "disqualify"):
            text += "; decline e-mail queued"
        return text
