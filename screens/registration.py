"""The Registration screen (AX: Sales and marketing > Setup > Customer self-service > Sign up).

A status filter with live counts, a search, a list paged in SQL one keyset page at a time,
and a detail pane with every section of the selected request, its duplicate hints and its
history. Every action is a key in the footer and a command in the palette; every service
call runs in a thread worker and a refusal becomes a notification.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Static
from textual.worker import get_current_worker

from screens.widgets import ReportsWorkerErrors, RequestTable, data, history_text, labelled

if TYPE_CHECKING:
    from services.quick import LightPage
    from services.signup import RequestDetail, RequestPage

FILTERS = ["All", "Requested", "Verified by user", "Approved", "Created", "Rejected"]
SORTS = ["number", "created", "company", "status", "email", "name"]
# column key, label, sort key (None: not sortable)
COLUMNS: list[tuple[str, str, str | None]] = [
    ("number", "Number", "number"),
    ("created", "Created", "created"),
    ("status", "Status", "status"),
    ("company", "Company", "company"),
    ("contact", "Contact", "name"),
    ("email", "E-mail", "email"),
    ("user", "User name", None),
    ("country", "Ctry", None),
]
STATUS_STYLE = {"Requested": "yellow", "Verified by user": "cyan", "Approved": "green", "Created": "bold green",
                "Rejected": "red"}
ACTION_KEYS = {"approve": "a", "reject": "r", "create": "c", "resend": "v"}
PAGE_SIZE = 60
DETAIL_SECTIONS = (("request", "Request"), ("contact", "Contact"), ("address", "Address"), ("decision", "Decision"),
                   ("duplicates", "Duplicate hints"), ("history", "History"))


def tab_id(name: str) -> str:
    return "f-" + name.lower().replace(" ", "-")


@dataclass(frozen=True)
class ListQuery:
    status: str
    search: str
    sort: str
    descending: bool


class PageLoaded(Message):
    def __init__(self, generation: int, page: RequestPage | LightPage, first: bool, keep: str | None) -> None:
        super().__init__()
        self.generation, self.page, self.first, self.keep = generation, page, first, keep


class CountsLoaded(Message):
    def __init__(self, counts: dict[str, int]) -> None:
        super().__init__()
        self.counts = counts


class DetailLoaded(Message):
    def __init__(self, detail: RequestDetail | None, number: str) -> None:
        super().__init__()
        self.detail, self.number = detail, number


class ActionDone(Message):
    def __init__(self, number: str, message: str) -> None:
        super().__init__()
        self.number, self.message = number, message


class RegistrationScreen(ReportsWorkerErrors, Screen):
    TITLE = "Registration"
    AUTO_FOCUS = "#requests"
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
        Binding("a", "approve", "Approve", id="registration.approve", tooltip="Approve the selected (verified) request"),
        Binding("r", "reject", "Reject", id="registration.reject", tooltip="Reject the selected request (asks the reason)"),
        Binding("c", "create", "Create", id="registration.create",
                tooltip="Create the customer, contact and user request from the selected approved request"),
        Binding("v", "resend", "Activation URL", id="registration.resend",
                tooltip="Send the verification link again (status Requested)"),
        Binding("n", "new_request", "New", id="registration.new", tooltip="Take a sign-up request on behalf of a customer"),
        Binding("f5", "reread", "Reread", id="registration.reread", tooltip="Reread the list, counts and detail"),
        Binding("ctrl+r", "reread", "Reread", id="registration.reread2", tooltip="Reread the list, counts and detail",
                show=False),
        Binding("slash", "search", "Search", id="registration.search", tooltip="Search number, e-mail, company, names"),
        Binding("s", "sort", "Sort", id="registration.sort", tooltip="Sort by the next column"),
        Binding("S", "reverse", "Reverse", id="registration.reverse", tooltip="Reverse the sort order", show=False),
        *[
            Binding(str(i + 1), f"filter({i})", name, id=f"registration.filter.{tab_id(name)}",
                    tooltip=f"Show {name.lower() if name != 'All' else 'all'} requests", show=False)
            for i, name in enumerate(FILTERS)
        ],
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.query_state = ListQuery(status="All", search="", sort="number", descending=False)
        self.counts: dict[str, int] = {}
        self.loaded = 0
        self.after: Any = None
        self.generation = 0
        self._fetching = False
        self.detail: RequestDetail | None = None
        self.selected: str | None = None
        self._search_timer = None
        self._detail_timer = None
        self.first_page_shown = False
        self._deferred_mounted = False
        # shown rows whose status no longer matches the filter (acted on; they stay until reread)
        self.no_longer_matching: set[str] = set()
        self._sections: dict[str, Static] = {}

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        # the first frame is kept thin (start-up): the status tabs, the search, the header,
        # the footer and the detail pane's sections are mounted right after it is painted
        # (``_mount_deferred``); the tabs and the search take the place of same-sized slots,
        # so nothing moves when they arrive
        with Horizontal(id="filter-bar"):
            yield Widget(id="filters-slot")
            yield Widget(id="search-slot")
        with Horizontal(id="registration-body"):
            with Vertical(id="list-pane"):
                table = RequestTable(id="requests", cursor_type="row", zebra_stripes=True)
                for key, label, _ in COLUMNS:
                    table.add_column(label, key=key)
                yield table
                yield Static("loading…", id="list-info")
            with VerticalScroll(id="detail"):
                yield Static(Text("Select a request.", style="dim"), id="detail-empty")

    async def _mount_deferred(self) -> None:
        """What the first frame goes without: the tabs, the search, the header, the footer, the detail sections."""
        if self._deferred_mounted:
            return
        self._deferred_mounted = True
        if self.app._exit or not self.is_attached:
            return  # closing already (the store failed, or the first paint was all it was run for)
        from textual.widgets import Footer, Header, Input, Tab, Tabs

        self._detail_sections()
        tabs = Tabs(*[Tab(self._tab_label(name), id=tab_id(name)) for name in FILTERS], id="filters",
                    active=tab_id(self.query_state.status))
        search = Input(placeholder="/ search number, e-mail, name", id="search")
        filters_slot, search_slot = self.query_one("#filters-slot"), self.query_one("#search-slot")
        bar = self.query_one("#filter-bar")
        # all scheduled at once (no await in between: the app may be closing meanwhile)
        mounted = [bar.mount(tabs, before=filters_slot), bar.mount(search, before=search_slot),
                   filters_slot.remove(), search_slot.remove(), self.mount(Header(), before=0), self.mount(Footer())]
        for awaitable in mounted:
            await awaitable
        self.refresh_bindings()  # the footer shows the keys of the bindings it is told about

    def _detail_sections(self) -> dict[str, Static]:
        """The detail pane's sections (Request ... History), mounted on first use."""
        if not self._sections:
            for section, title in DETAIL_SECTIONS:
                widget = Static(id=f"detail-{section}", classes="detail-section")
                widget.border_title = title
                widget.display = False
                self._sections[section] = widget
            self.query_one("#detail", VerticalScroll).mount_all(self._sections.values())
        return self._sections

    def on_mount(self) -> None:
        self._update_headers()
        self.query_one(RequestTable).focus()
        take_first_view = getattr(self.app, "take_first_view", None)
        view = take_first_view() if take_first_view is not None else None
        if view is not None and self.query_state == ListQuery(status="All", search="", sort="number", descending=False):
            # fast start: the first page and the counts were read before the app started
            # (services.quick); show them now, everything after that goes through the services
            self.generation += 1
            self._counts_loaded(CountsLoaded(view.counts))
            self._page_loaded(PageLoaded(self.generation, view.page, True, None))
        else:
            self.reload()
            self.call_after_refresh(self._mount_deferred)

    # ------------------------------------------------------------------ loading

    def reload(self, keep: str | None = None) -> None:
        """Start over: first page of the current filter/search/sort, and the counts."""
        self.generation += 1
        self.after = None
        self._fetching = True
        self._fetch_page(self.generation, self.query_state, None, keep)
        self._fetch_counts(self.query_state.search)

    def load_more(self) -> None:
        if self._fetching or self.after is None:
            return
        self._fetching = True
        self._fetch_page(self.generation, self.query_state, self.after, None)

    @work(thread=True, exclusive=True, group="registration.list", exit_on_error=False)
    def _fetch_page(self, generation: int, q: ListQuery, after: Any, keep: str | None) -> None:
        from services import signup

        try:
            page = self.app.call(signup.list_requests, status=q.status, search=q.search or None, sort=q.sort,
                                 descending=q.descending, after=after, limit=PAGE_SIZE)
        except BaseException:
            self.app.call_from_thread(self._page_failed, generation)
            raise
        if not get_current_worker().is_cancelled:
            self.post_message(PageLoaded(generation, page, after is None, keep))

    def _page_failed(self, generation: int) -> None:
        if generation == self.generation:
            self._fetching = False

    @work(thread=True, exclusive=True, group="registration.counts", exit_on_error=False)
    def _fetch_counts(self, search: str) -> None:
        from services import signup

        counts = self.app.call(signup.count_by_status, search=search or None)
        if not get_current_worker().is_cancelled:
            self.post_message(CountsLoaded(counts))

    @work(thread=True, exclusive=True, group="registration.detail", exit_on_error=False)
    def _fetch_detail(self, number: str) -> None:
        # fast start: the first row's detail waits for the store before importing the services,
        # so the import does not compete with the first paint
        if not getattr(self.app, "wait_for_store", lambda: True)():
            return  # the console is closing
        from services import signup
        from services.errors import NotFound

        try:
            detail = self.app.call(signup.show_request, number)
        except NotFound:
            detail = None
        if not get_current_worker().is_cancelled:
            self.post_message(DetailLoaded(detail, number))

    @on(PageLoaded)
    def _page_loaded(self, event: PageLoaded) -> None:
        if event.generation != self.generation:
            return  # a page of an earlier filter/search/sort
        table = self.query_one(RequestTable)
        rows = event.page.rows
        with self.app.batch_update():
            if event.first:
                previous = self.selected
                table.clear()
                self.loaded = 0
                self.no_longer_matching.clear()
            for row in rows:
                table.add_row(
                    Text(row.number), Text(f"{row.created_at:%Y-%m-%d %H:%M}"),
                    Text(row.status, style=STATUS_STYLE.get(row.status, "")), data(row.company), data(row.contact),
                    data(row.email), data(row.user_name), data(row.country), key=row.number,
                )
            self.loaded += len(rows)
            self.after = event.page.after
            self._fetching = False
            if event.first:
                target = event.keep or previous
                index = 0
                if target is not None:
                    try:
                        index = table.get_row_index(target)
                    except Exception:
                        index = 0
                if table.row_count:
                    table.move_cursor(row=index, animate=False, scroll=True)
                    self._select(str(table.coordinate_to_cell_key((index, 0)).row_key.value))
                else:
                    self._select(None)
        self._update_info()
        if event.first and not self.first_page_shown:
            self.first_page_shown = True
            self.call_after_refresh(self._first_list_painted)

    def _first_list_painted(self) -> None:
        self.app.post_message(FirstListPainted())
        # the rest of the screen once the app has seen the painted list (queued after it)
        self.app.call_later(self._mount_deferred)

    @on(CountsLoaded)
    def _counts_loaded(self, event: CountsLoaded) -> None:
        self.counts = event.counts
        for tab in self.query("#filters Tab"):
            name = next((n for n in FILTERS if tab_id(n) == tab.id), None)
            if name is not None:
                tab.label = self._tab_label(name)  # type: ignore[attr-defined]
        self._update_info()

    def _tab_label(self, name: str) -> str:
        """A status tab's label: the name and its count (the name alone until the counts are in)."""
        return f"{name} ({self.counts.get(name, 0):,})" if self.counts else name

    @on(DetailLoaded)
    def _detail_loaded(self, event: DetailLoaded) -> None:
        if event.number != self.selected:
            return
        self.detail = event.detail
        self._show_detail(event.detail)
        table = self.query_one(RequestTable)
        if event.detail is not None and event.number in table.rows:
            status = event.detail.status
            table.update_cell(event.number, "status", Text(status, style=STATUS_STYLE.get(status, "")))
            filtered = self.query_state.status
            if filtered != "All" and status != filtered:
                self.no_longer_matching.add(event.number)
            else:
                self.no_longer_matching.discard(event.number)
            self._update_info()

    # ------------------------------------------------------------------ list events

    @on(RequestTable.RowHighlighted, "#requests")
    def _row_highlighted(self, event: RequestTable.RowHighlighted) -> None:
        number = event.row_key.value if event.row_key is not None else None
        if number != self.selected:
            self._select(number)

    @on(RequestTable.NearEnd)
    def _near_end(self) -> None:
        if self.query_one(RequestTable).near_end():  # still true now that the page is in
            self.load_more()

    @on(RequestTable.HeaderSelected, "#requests")
    def _header_selected(self, event: RequestTable.HeaderSelected) -> None:
        sort = dict((key, s) for key, _, s in COLUMNS).get(str(event.column_key.value))
        if sort is None:
            self.notify("this column cannot be sorted", severity="information")
            return
        q = self.query_state
        self._set_query(sort=sort, descending=(not q.descending) if q.sort == sort else False)

    def _select(self, number: str | None) -> None:
        self.selected = number
        if self.detail is not None and self.detail.number != number:
            self.detail = None
        if self._detail_timer is not None:
            self._detail_timer.stop()
        if number is None:
            self._show_detail(None)
            return
        # a short delay so holding the arrow key does not fetch every row it passes
        self._detail_timer = self.set_timer(0.08, lambda: self._fetch_detail(number))

    def _set_query(self, **changes: Any) -> None:
        q = self.query_state
        self.query_state = ListQuery(**{**q.__dict__, **changes})
        self._update_headers()
        self.reload(keep=self.selected)

    def _update_headers(self) -> None:
        table = self.query_one(RequestTable)
        q = self.query_state
        for key, label, sort in COLUMNS:
            text = Text(label)
            if sort == q.sort:
                text.append(" ▼" if q.descending else " ▲", style="bold")
            table.columns[key].label = text  # type: ignore[index]
        table.refresh()

    def _update_info(self) -> None:
        q = self.query_state
        total = self.counts.get(q.status)
        stale = len(self.no_longer_matching)
        info = Text()
        # "N of M": the shown rows that match the filter, of all that match it
        info.append(f"{self.loaded - stale:,}", style="bold")
        info.append(" of ")
        info.append(f"{total:,}" if total is not None else "…", style="bold")
        info.append(f"  ·  {q.status}  ·  sort {q.sort} {'desc' if q.descending else 'asc'}")
        if stale:
            info.append(f"  ·  +{stale:,} shown no longer {q.status} (F5 rereads)", style="italic")
        if q.search:
            info.append("  ·  search ")
            info.append_text(data(repr(q.search)))
        if self.after is not None:
            info.append("  ·  more below", style="dim")
        self.query_one("#list-info", Static).update(info)

    # ------------------------------------------------------------------ filter / search / sort

    # the Tabs and Input classes are imported after the first paint: their handlers go by name
    def on_tabs_tab_activated(self, event) -> None:
        if getattr(event.tabs, "id", None) != "filters":
            return
        name = next((n for n in FILTERS if tab_id(n) == event.tab.id), "All")
        if name != self.query_state.status:
            self._set_query(status=name)

    def action_filter(self, index: int) -> None:
        tabs = self.query("#filters")
        if tabs:
            tabs.first().active = tab_id(FILTERS[index])  # type: ignore[attr-defined]
        elif FILTERS[index] != self.query_state.status:  # before the tabs are mounted: they start on it
            self._set_query(status=FILTERS[index])

    def action_search(self) -> None:
        search = self.query("#search")
        if search:
            search.first().focus()

    def on_input_changed(self, event) -> None:
        if getattr(event.input, "id", None) == "search":
            self._search_changed(event)

    def on_input_submitted(self, event) -> None:
        if getattr(event.input, "id", None) == "search":
            self._search_submitted(event)

    def _search_changed(self, event) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        value = event.value.strip()
        self._search_timer = self.set_timer(0.3, lambda: self._apply_search(value))

    def _search_submitted(self, event) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self._apply_search(event.value.strip())
        self.query_one(RequestTable).focus()

    def _apply_search(self, value: str) -> None:
        if value != self.query_state.search:
            self._set_query(search=value)

    def on_key(self, event) -> None:
        if event.key == "escape" and self.focused is not None and self.focused.id == "search":
            self.query_one(RequestTable).focus()
            event.stop()

    def action_sort(self) -> None:
        q = self.query_state
        self._set_query(sort=SORTS[(SORTS.index(q.sort) + 1) % len(SORTS)], descending=False)

    def action_reverse(self) -> None:
        self._set_query(descending=not self.query_state.descending)

    def action_reread(self) -> None:
        self.reload(keep=self.selected)
        if self.selected:
            self._fetch_detail(self.selected)

    # ------------------------------------------------------------------ actions

    def _current(self) -> str | None:
        if self.selected is None:
            self.notify("Select a request first.", severity="warning")
        return self.selected

    def action_approve(self) -> None:
        if number := self._current():
            self._run_action("approve", number)

    def action_resend(self) -> None:
        if number := self._current():
            self._run_action("resend", number)

    def action_reject(self) -> None:
        number = self._current()
        if number is None:
            return
        from screens.dialogs import RejectDialog

        company = self.detail.company if self.detail and self.detail.number == number else ""

        def done(reason: str | None) -> None:
            if reason:
                self._run_action("reject", number, reason)

        self.app.push_screen(RejectDialog(number, company), done)

    def action_create(self) -> None:
        number = self._current()
        if number is None:
            return
        detail = self.detail
        if detail is None or detail.number != number:
            self.notify("The request is still loading; try again in a moment.", severity="information")
            return
        if "create" not in detail.actions:
            # the service would refuse; say why without opening the dialog
            self._run_action("create-check", number)
            return
        from screens.dialogs import CreateCustomerDialog

        def done(result) -> None:
            if result is not None:
                msg = (f"{result.number}: customer {result.customer_account} "
                       f"{'created' if result.new_customer else 'got a new contact'}; "
                       f"user request {result.user_request} ({result.user_request_status})")
                self.post_message(ActionDone(number, msg))

        self.app.push_screen(CreateCustomerDialog(detail), done)

    def action_new_request(self) -> None:
        from screens.dialogs import NewRequestDialog

        def done(result) -> None:
            if result is not None:
                msg = f"{result.number} submitted (status {result.status}); verification e-mail queued for {result.email}"
                if result.duplicates:
                    msg += f"; {result.duplicates} possible duplicate(s)"
                self.post_message(ActionDone(result.number, msg))

        self.app.push_screen(NewRequestDialog(), done)

    @work(thread=True, group="registration.action", exit_on_error=False)
    def _run_action(self, action: str, number: str, *args: Any) -> None:
        from services import signup

        if action == "approve":
            r = self.app.call(signup.approve, number)
            message = f"{r.number} approved"
        elif action == "reject":
            r = self.app.call(signup.reject, number, *args)
            message = f"{r.number} rejected; the customer is told why"
        elif action == "resend":
            r = self.app.call(signup.resend, number)
            message = f"{r.number}: a new verification link was sent (the old one no longer works)"
        elif action == "create-check":
            # what the service says about creating from this request (permission or state)
            from services.errors import InvalidTransition
            from services.permissions import require

            require(self.app.actor, "signup.create")
            p = self.app.call(signup.preview_create, number, role="-")
            raise InvalidTransition(p.errors.get("status") or f"{number}: nothing to create")
        else:  # pragma: no cover
            raise ValueError(action)
        self.post_message(ActionDone(number, message))

    @on(ActionDone)
    def _action_done(self, event: ActionDone) -> None:
        self.notify(event.message, title="Done", markup=False)
        table = self.query_one(RequestTable)
        if event.number in table.rows:
            # the row stays where it is (even if it no longer matches the filter) with its new
            # status, so the next key acts on the same request; F5 rereads the list
            self.selected = event.number
            table.move_cursor(row=table.get_row_index(event.number))
            self._fetch_counts(self.query_state.search)
            self._fetch_detail(event.number)
        else:
            self.selected = event.number
            self.reload(keep=event.number)
            self._fetch_detail(event.number)

    # ------------------------------------------------------------------ detail pane

    def _show_detail(self, d: RequestDetail | None) -> None:
        sections = self._detail_sections()
        self.query_one("#detail-empty").display = d is None
        for widget in sections.values():
            widget.display = d is not None
        if d is None:
            return
        status = Text(d.status, style=STATUS_STYLE.get(d.status, ""))
        req = labelled([("Number", d.number), ("Created", d.created_at), ("User name", d.user_name),
                        ("Customer account", d.customer_account), ("Submitted by", d.submitted_by)])
        req.append("\n")
        req.append(f"{'Status':<18}", style="bold")
        req.append_text(status)
        if d.actions:
            req.append("\n")
            req.append(f"{'Possible now':<18}", style="bold")
            req.append(", ".join(f"{a} ({ACTION_KEYS.get(a, '?')})" for a in d.actions))
        sections["request"].update(req)
        sections["contact"].update(labelled([("Company", d.company), ("Name", f"{d.first_name} {d.last_name}"),
                                             ("E-mail", d.email), ("Phone", d.phone), ("Fax", d.fax),
                                             ("Language", d.language)]))
        sections["address"].update(labelled([("Street", d.street), ("City", d.city), ("ZIP/postal code", d.zip),
                                             ("State", d.state), ("County", d.county), ("Country/region", d.country)]))
        decision = [("Verified at", d.verified_at), ("Approved by", d.approved_by), ("Approved at", d.approved_at)]
        if d.status == "Rejected" or d.rejected_by:
            decision += [("Rejected by", d.rejected_by), ("Rejected at", d.rejected_at), ("Reason", d.reject_reason)]
        decision += [("Customer created", "yes" if d.customer_created else "no"),
                     ("Customer account", d.created_customer_account), ("User request", d.user_request)]
        sections["decision"].update(labelled(decision))
        sections["duplicates"].update(self._duplicates_text(d))
        sections["history"].update(history_text(d.history))

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

    # ------------------------------------------------------------------ for the app

    def palette_bindings(self) -> Iterable[Binding]:
        return [b for b in self.BINDINGS if isinstance(b, Binding)]


class FirstListPainted(Message):
    """Posted to the app once the first page of the list has been painted (start-up benchmark)."""
