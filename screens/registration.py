"""The Registration screen (AX: Sales and marketing > Setup > Customer self-service > Sign up).

A status filter with live counts, a search, a list paged in SQL one keyset page at a time,
and a detail pane with every section of the selected request, its duplicate hints and its
history. Every action is a key in the footer and a command in the palette; every service
call runs in a thread worker and a refusal becomes a notification.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.message import Message

from screens.browser import ActionDone, BrowserScreen, Column, ListQuery, Page
from screens.guarded import GuardedActions
from screens.widgets import Section, data, history_text, labelled

if TYPE_CHECKING:
    from services.signup import RequestDetail

FILTERS = ["All", "Requested", "Verified by user", "Approved", "Created", "Rejected"]
SORTS = ["number", "created", "company", "status", "email", "name"]
COLUMNS: list[Column] = [
    Column("number", "Number", "number"),
    Column("created", "Created", "created"),
    Column("status", "Status", "status", width=16),
    Column("company", "Company", "company", width=28),
    Column("contact", "Contact", "name", width=22),
    Column("email", "E-mail", "email", width=30),
    Column("user", "User name", None, width=14),
    Column("country", "Ctry", None),
]
STATUS_STYLE = {
    "Requested": "yellow",
    "Verified by user": "cyan",
    "Approved": "green",
    "Created": "bold green",
    "Rejected": "red",
}
ACTION_KEYS = {"approve": "a", "reject": "r", "create": "c", "resend": "v"}
PAGE_SIZE = 60
DETAIL_SECTIONS = (
    ("request", "Request"),
    ("contact", "Contact"),
    ("address", "Address"),
    ("decision", "Decision"),
    ("duplicates", "Duplicate hints"),
    ("history", "History"),
)


def tab_id(name: str) -> str:
    return "f-" + "".join(ch if ch.isalnum() else "-" for ch in name.lower())


__all__ = ["RegistrationScreen", "ListQuery", "PAGE_SIZE", "FILTERS", "COLUMNS", "FirstListPainted"]


class RegistrationScreen(GuardedActions, BrowserScreen):
    TITLE = "Registration"
    AUTO_FOCUS = "#requests"
    TABLE_ID = "requests"
    COLUMNS = COLUMNS
    FILTERS = FILTERS
    DEFAULT_SORT = "number"
    SORT_ORDER = SORTS
    PAGE_SIZE = PAGE_SIZE
    REVERSIBLE = True
    DEFER_CHROME = True  # fast start: the first frame is the list alone (DESIGN.md "Fast start")
    SEARCH_PLACEHOLDER = "/ search number, e-mail, name"
    EMPTY_DETAIL = "Select a request."
    NOUN = "request"
    HELP = """\
## Registration — customer sign-up requests

Requests arrive from the portal's sign-up page (or from the phone: **n**). The customer
verifies the request with the link in the e-mail (status *Verified by user*); the approver
reviews it, **approves** it, then **creates** the customer, its contact person and the
portal user request. A request can be **rejected** (with a reason) until it is created.

* The list shows one page at a time and loads more as you scroll; *N of M* counts the filter.
* **1**–**6** switch the status filter, **/** searches number, e-mail, company and names.
* **s** changes the sort column, **S** reverses it (or click a column header).
* The right pane shows the selected request: contact, address, decision, duplicate hints
  (open requests, contacts and customers with the same e-mail or company name) and history.
* **v** sends the activation URL (verification link) again while the request is *Requested*.
* Every action is also in the command palette (**ctrl+p**).
"""
    BINDINGS = [
        Binding(
            "a", "approve", "Approve", id="registration.approve", tooltip="Approve the selected (verified) request"
        ),
        Binding(
            "A",
            "approve_comment",
            "Approve…",
            id="registration.approve_comment",
            show=False,
            tooltip="Approve the selected request with a comment",
        ),
        Binding(
            "r", "reject", "Reject", id="registration.reject", tooltip="Reject the selected request (asks the reason)"
        ),
        Binding(
            "c",
            "create",
            "Create",
            id="registration.create",
            tooltip="Create the customer, contact and user request from the selected approved request",
        ),
        Binding(
            "v",
            "resend",
            "Activation URL",
            id="registration.resend",
            tooltip="Send the verification link again (status Requested)",
        ),
        Binding(
            "n", "new_request", "New", id="registration.new", tooltip="Take a sign-up request on behalf of a customer"
        ),
        Binding("f5", "reread", "Reread", id="registration.reread", tooltip="Reread the list, counts and detail"),
        Binding(
            "ctrl+r",
            "reread",
            "Reread",
            id="registration.reread2",
            tooltip="Reread the list, counts and detail",
            show=False,
        ),
        Binding("slash", "search", "Search", id="registration.search", tooltip="Search number, e-mail, company, names"),
        Binding("s", "sort", "Sort", id="registration.sort", tooltip="Sort by the next column"),
        Binding("S", "reverse", "Reverse", id="registration.reverse", tooltip="Reverse the sort order", show=False),
        *[
            Binding(
                str(i + 1),
                f"filter({i})",
                name,
                id=f"registration.filter.{tab_id(name)}",
                tooltip=f"Show {name.lower() if name != 'All' else 'all'} requests",
                show=False,
            )
            for i, name in enumerate(FILTERS)
        ],
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._sections: dict[str, Section] = {}
        self._approving: set[str] = set()  # approvals started whose service call has not returned yet
        self._create_after: str | None = None  # `c` pressed while that request's approval was running

    # ------------------------------------------------------------------ fast start

    def initial_view(self) -> tuple[Page, dict[str, int]] | None:
        take_first_view = getattr(self.app, "take_first_view", None)
        view = take_first_view() if take_first_view is not None else None
        if view is None or self.query_state != ListQuery(status="All", search="", sort="number", descending=False):
            return None
        # the first page and the counts were read before the app started (services.quick);
        # everything after that goes through the services
        return Page(list(view.page.rows), view.page.after), view.counts

    def _first_list_painted(self) -> None:
        self.app.post_message(FirstListPainted())
        # the rest of the screen once the app has seen the painted list (queued after it)
        self.app.call_later(self._mount_deferred)
        self.set_timer(0.3, self._warm_create_dialog)

    def _warm_create_dialog(self) -> None:
        """Compose the Create dialog while the operator reads the list, so ``c`` only refills it."""
        from screens.dialogs import CreateCustomerDialog

        actor = getattr(self.app, "actor", None)
        if actor is not None and actor.can("signup.create"):
            CreateCustomerDialog.warm(self.app)

    # ------------------------------------------------------------------ the list

    def fetch(self, q: ListQuery, after: Any, limit: int, reverse: bool) -> Page:
        from services import signup

        page = self.app.call(
            signup.list_requests,
            status=q.status,
            search=q.search or None,
            sort=q.sort,
            descending=q.descending != reverse,
            after=after,
            limit=limit,
        )
        return Page(page.rows, page.after)

    def fetch_counts(self, search: str) -> dict[str, int]:
        from services import signup

        return self.app.call(signup.count_by_status, search=search or None)

    def fetch_detail(self, key: str) -> RequestDetail | None:
        # fast start: the first row's detail waits for the store before importing the services,
        # so the import does not compete with the first paint
        if not getattr(self.app, "wait_for_store", lambda: True)():
            return None
        from services import signup
        from services.errors import NotFound

        try:
            return self.app.call(signup.show_request, key)
        except NotFound:
            return None

    def row_key(self, row: Any) -> str:
        return row.number

    def detail_changed_row(self, key: str, detail: Any) -> None:
        row = self.records.get(key)
        if row is not None and row.status != detail.status:
            # the record too, not only the cell: a page answer arriving after this detail (or a
            # record kept in place after an action) repaints from it and must not bring back the old status
            self.records[key] = row.model_copy(update={"status": detail.status})
        self.table.update_cell(key, "status", Text(detail.status, style=STATUS_STYLE.get(detail.status, "")))

    def row_cells(self, row: Any) -> list[Text]:
        return [
            Text(row.number),
            Text(f"{row.created_at:%Y-%m-%d %H:%M}"),
            Text(row.status, style=STATUS_STYLE.get(row.status, "")),
            data(row.company),
            data(row.contact),
            data(row.email),
            data(row.user_name),
            data(row.country),
        ]

    # ------------------------------------------------------------------ actions (the record under the cursor at key time)

    def action_approve(self) -> None:
        if (number := self.target()) is not None:
            self._approve(number, None)

    def refusal(self, key: str, action: str) -> str | None:
        from services import signup

        return self.app.call(signup.refusal, key, action)

    def action_approve_comment(self) -> None:
        self.when_possible("approve", self._approve_comment)

    def _approve_comment(self, number: str, _detail: RequestDetail) -> None:
        from screens.dialogs import CommentDialog

        def done(comment: str | None) -> None:
            if comment is not None:
                self._approve(number, comment or None)

        self.app.push_screen(
            CommentDialog(
                f"Approve {number}", "Comment (optional, kept in the history):", required=False, button="Approve"
            ),
            done,
        )

    def _approve(self, number: str, comment: str | None) -> None:
        from services import signup

        def approve() -> str:
            try:
                return f"{self.app.call(signup.approve, number, comment).number} approved"
            finally:
                try:
                    self.app.call_from_thread(self._approve_returned, number)
                except RuntimeError:
                    pass  # the app is closing

        self._approving.add(number)
        self.act(number, approve)

    def _approve_returned(self, number: str) -> None:
        """The approval of ``number`` committed or was refused: a `c` pressed meanwhile goes on now,
        on a fresh read of the request (the dialog, or the reason there is nothing to create)."""
        self._approving.discard(number)
        if self._create_after == number:
            self._create_after = None
            self._create_when_loaded(number)

    def action_resend(self) -> None:
        if (number := self.target()) is None:
            return
        from services import signup

        self.act(
            number,
            lambda: (
                f"{self.app.call(signup.resend, number).number}: a new verification link was sent "
                "(the old one no longer works)"
            ),
        )

    def action_reject(self) -> None:
        self.when_possible("reject", self._reject)

    def _reject(self, number: str, detail: RequestDetail) -> None:
        from screens.dialogs import RejectDialog

        company = detail.company

        def done(reason: str | None) -> None:
            if reason:
                from services import signup

                self.act(
                    number,
                    lambda: f"{self.app.call(signup.reject, number, reason).number} rejected; the customer is told why",
                )

        self.app.push_screen(RejectDialog(number, company), done)

    def action_create(self) -> None:
        number = self.target()
        if number is None:
            return
        if number in self._approving:
            # `a` then `c`: what is loaded was read before the approval; open once it has returned
            self._create_after = number
            return
        detail = self.target_detail(number)
        if detail is None:
            self._create_when_loaded(number)
            return
        if "create" not in detail.actions:
            self._create_refusal(number)  # the service would refuse; say why without opening the dialog
            return
        self._open_create(number, detail)

    @work(thread=True, group="registration.open-create", exit_on_error=False)
    def _create_when_loaded(self, number: str) -> None:
        detail = self.fetch_detail(number)
        if detail is None:
            return
        if "create" not in detail.actions:
            self.app.call_from_thread(self._create_refusal, number)
            return
        self.app.call_from_thread(self._open_create, number, detail)

    @work(thread=True, exclusive=True, group="registration.prepare-create", exit_on_error=False)
    def _prepare_create(self, detail: RequestDetail) -> None:
        from screens.dialogs import prepare_create

        try:
            prepare_create(self.app, detail)
        except Exception:
            pass  # only a head start: the dialog reads what it needs itself

    def _open_create(self, number: str, detail: RequestDetail) -> None:
        from screens.dialogs import CreateCustomerDialog

        def done(result) -> None:
            if result is not None:
                msg = (
                    f"{result.number}: customer {result.customer_account} "
                    f"{'created' if result.new_customer else 'got a new contact'}; "
                    f"user request {result.user_request} ({result.user_request_status})"
                )
                self.post_message(ActionDone(number, msg))

        dialog = CreateCustomerDialog.of(self.app)  # one per app, composed while idle (warm): refilled, not built
        dialog.open_for(detail)
        self.app.push_screen(CreateCustomerDialog.SCREEN_NAME, done)

    def _create_refusal(self, number: str) -> None:
        from services import signup
        from services.errors import InvalidTransition
        from services.permissions import require

        def check() -> str:
            require(self.app.actor, "signup.create")
            p = self.app.call(signup.preview_create, number, role="-")
            raise InvalidTransition(p.errors.get("status") or f"{number}: nothing to create")

        self.act(number, check)

    def action_new_request(self) -> None:
        from screens.dialogs import NewRequestDialog

        def done(result) -> None:
            if result is not None:
                msg = (
                    f"{result.number} submitted (status {result.status}); verification e-mail queued for {result.email}"
                )
                if result.duplicates:
                    msg += f"; {result.duplicates} possible duplicate(s)"
                self.post_message(ActionDone(result.number, msg))

        self.app.push_screen(NewRequestDialog(), done)

    # ------------------------------------------------------------------ detail pane

    def _detail_sections(self) -> dict[str, Section]:
        """The detail pane's sections (Request ... History), mounted on first use."""
        if not self._sections:
            for section, title in DETAIL_SECTIONS:
                widget = Section(id=f"detail-{section}", classes="detail-section")
                widget.border_title = title
                widget.display = False
                self._sections[section] = widget
            self.query_one("#detail").mount_all(self._sections.values())
        return self._sections

    def show_detail(self, d: RequestDetail | None) -> None:
        if d is not None and "create" in d.actions:
            self._prepare_create(d)  # the Create dialog opens ready
        sections = self._detail_sections()
        for widget in sections.values():
            if widget.display != (d is not None):
                widget.display = d is not None
        if d is None:
            return
        status = Text(d.status, style=STATUS_STYLE.get(d.status, ""))
        given = [("Existing account", d.customer_account)] if d.customer_account else []  # named by the requester
        req = labelled(
            [
                ("Number", d.number),
                ("Created", d.created_at),
                ("User name", d.user_name),
                *given,
                ("Submitted by", d.submitted_by),
            ]
        )
        req.append("\n")
        req.append(f"{'Status':<18}", style="bold")
        req.append_text(status)
        if d.actions:
            req.append("\n")
            req.append(f"{'Possible now':<18}", style="bold")
            req.append(", ".join(f"{a} ({ACTION_KEYS.get(a, '?')})" for a in d.actions))
        sections["request"].show(req)
        sections["contact"].show(
            labelled(
                [
                    ("Company", d.company),
                    ("Name", f"{d.first_name} {d.last_name}"),
                    ("E-mail", d.email),
                    ("Phone", d.phone),
                    ("Fax", d.fax),
                    ("Language", d.language),
                ]
            )
        )
        sections["address"].show(
            labelled(
                [
                    ("Street", d.street),
                    ("City", d.city),
                    ("ZIP/postal code", d.zip),
                    ("State", d.state),
                    ("County", d.county),
                    ("Country/region", d.country),
                ]
            )
        )
        decision = [("Verified at", d.verified_at), ("Approved by", d.approved_by), ("Approved at", d.approved_at)]
        if d.status == "Rejected" or d.rejected_by:
            decision += [("Rejected by", d.rejected_by), ("Rejected at", d.rejected_at), ("Reason", d.reject_reason)]
        decision += [
            ("Customer created", (d.created_customer_account or "yes") if d.customer_created else "no"),
            ("User request", d.user_request),
        ]
        sections["decision"].show(labelled(decision))
        sections["duplicates"].show(self._duplicates_text(d))
        sections["history"].show(history_text(d.history))

    @staticmethod
    def _duplicates_text(d: RequestDetail) -> Text:
        if not d.duplicates:
            return Text("none found", style="dim")
        out = Text()
        for i, hint in enumerate(d.duplicates):
            if i:
                out.append("\n")
            out.append(f"{hint.kind:<9}", style="bold yellow")
            out.append_text(data(hint.key, style="bold"))
            out.append("  ")
            out.append_text(data(hint.label))
            out.append("  — ")
            out.append_text(data(hint.reason, style="italic"))
        return out


class FirstListPainted(Message):
    """Posted to the app once the first page of the list has been painted (start-up benchmark)."""
