"""``BrowserScreen``: the record browser as a screen: layout (tabs, search, list, detail,
footer; the narrow layout), filter tabs with counts, ``/`` search, sort, the cursor's events,
and actions bound to the record under the cursor at key time (``target``, ``act``)."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, ClassVar, Iterable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from screens.browser.parts import (
    ActionDone,
    Chunk,
    CountsLoaded,
    ListQuery,
    Page,
    PageLoaded,
    cut,
    fit_tabs,
    tab_id,
)
from screens.browser.table import RecordTable
from screens.browser.window import ListWindow
from screens.textual_compat import app_exiting, realign_tab_underline, relabel_tab_in_place
from screens.widgets import RequestTable


class BrowserScreen(ListWindow):
    """Base of every list area (see the package's docstring)."""

    BROWSER_BINDINGS: ClassVar[list[Binding]] = [
        Binding("slash", "search", "Search", tooltip="Search this list"),
        Binding("s", "sort", "Sort", tooltip="Sort by the next column", show=False),
        Binding("S", "reverse", "Reverse", tooltip="Reverse the sort order", show=False),
        Binding("f5", "reread", "Reread", tooltip="Reread the list, counts and detail"),
        Binding("ctrl+r", "reread", "Reread", tooltip="Reread the list, counts and detail", show=False),
    ]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        cls._add_browser_bindings()
        super().__init_subclass__(**kwargs)  # Textual merges the bindings here: ours must be in by now

    @classmethod
    def _add_browser_bindings(cls) -> None:
        own = {b.action for b in cls.__dict__.get("BINDINGS", []) if isinstance(b, Binding)}
        keys = {b.key for b in cls.__dict__.get("BINDINGS", []) if isinstance(b, Binding)}
        extra = []
        prefix = cls.__name__.removesuffix("Screen").lower()
        for b in BrowserScreen.BROWSER_BINDINGS:
            if b.key in keys or b.action in own:
                continue
            extra.append(
                Binding(
                    b.key, b.action, b.description, show=b.show, tooltip=b.tooltip, id=f"{prefix}.{b.action}.{b.key}"
                )
            )
        filters = []
        if len(cls.FILTERS) > 1:
            for i, name in enumerate(cls.FILTERS[:9]):
                if str(i + 1) in keys:
                    continue
                filters.append(
                    Binding(
                        str(i + 1), f"filter({i})", name, show=False, id=f"{prefix}.filter.{i}", tooltip=f"Show {name}"
                    )
                )
        if "BINDINGS" in cls.__dict__:
            cls.BINDINGS = [*cls.__dict__["BINDINGS"], *extra, *filters]

    def compose(self) -> ComposeResult:
        if not self.DEFER_CHROME:
            from textual.widgets import Header

            yield Header()
        with Horizontal(id="filter-bar", classes="filter-bar"):
            if self.DEFER_CHROME:
                yield Widget(id="filters-slot")
                yield Widget(id="search-slot")
            else:
                yield from self._chrome()
        with Horizontal(id="browser-body", classes="browser-body"):
            with Vertical(id="list-pane", classes="list-pane"):
                table = RecordTable(id=self.TABLE_ID, cursor_type="row", zebra_stripes=True, classes="records")
                for c in self.columns:
                    table.add_column(c.label, key=c.key, width=c.width)
                yield table
                info = Static("loading…", id="list-info", classes="list-info")
                # one line: a longer one is cut with "…" (it wrapped onto a hidden second line: "…(F5")
                info.styles.text_wrap = "nowrap"
                info.styles.text_overflow = "ellipsis"
                yield info
            with VerticalScroll(id="detail", classes="detail"):
                yield Static(Text(self.EMPTY_DETAIL, style="dim"), id="detail-empty")
                yield from self.compose_detail()
        if not self.DEFER_CHROME:
            from screens.footer import KeyFooter

            yield KeyFooter(compact=True)

    def _chrome(self) -> Iterable[Widget]:
        from textual.widgets import Input, Tab, Tabs

        if len(self.FILTERS) > 1:
            yield Tabs(
                *[Tab(self._tab_label(n), id=tab_id(n)) for n in self.FILTERS],
                id="filters",
                active=tab_id(self.query_state.status),
            )
        else:
            yield Static(Text(self.title or "", style="bold"), id="filters")
        yield Input(placeholder=self.SEARCH_PLACEHOLDER, id="search")

    def compose_detail(self) -> ComposeResult:
        """The detail pane's widgets (hidden until a record is shown)."""
        return
        yield  # pragma: no cover

    async def _mount_deferred(self) -> None:
        if self._deferred_mounted:
            return
        self._deferred_mounted = True
        if app_exiting(self.app) or not self.is_attached or not self.DEFER_CHROME:
            return
        from textual.widgets import Header

        from screens.footer import KeyFooter

        mounted: list[Awaitable[Any]] = [self.mount(Header(), before=0), self.mount(KeyFooter(compact=True))]
        if self.DEFER_CHROME:
            bar = self.query_one("#filter-bar")
            filters_slot, search_slot = self.query_one("#filters-slot"), self.query_one("#search-slot")
            tabs, search = list(self._chrome())
            mounted += [
                bar.mount(tabs, before=filters_slot),
                bar.mount(search, before=search_slot),
                filters_slot.remove(),
                search_slot.remove(),
            ]
        for awaitable in mounted:
            await awaitable
        # counts that arrived after the tabs were made and before they were mounted found no tab to
        # label (snapshots under load showed "All" without its count)
        self._label_tabs()
        self.refresh_bindings()

    def on_mount(self) -> None:
        self.screen_layout_refresh_signal.subscribe(self, self._realign_tabs)
        self._update_headers()
        self.table.focus()
        self._apply_width(self.app.size.width)
        first = self.initial_view()
        if first is not None:
            page, counts = first
            self.generation += 1
            self._counts_loaded(CountsLoaded(counts))
            self._page_loaded(PageLoaded(self.generation, "reset", Chunk(False, None, page.after), page.rows, None))
        else:
            self.reload()

    def initial_view(self) -> tuple[Page, dict[str, int]] | None:
        """A first page and counts known before the screen opened (fast start), or None."""
        return None

    def on_screen_resume(self) -> None:
        # back to this area (or a dialog closed): what is shown is read again, the cursor kept
        if self._shown_once:
            self.reload(keep=self.selected, quiet=True)
        self._shown_once = True

    def on_resize(self, event: Any) -> None:
        self._apply_width(event.size.width)

    def _apply_width(self, width: int) -> None:
        narrow = width < self.NARROW
        self.set_class(narrow, "-narrow")
        self.set_class(narrow and self.detail_open, "-detail-open")

    @on(CountsLoaded)
    def _counts_loaded(self, event: CountsLoaded) -> None:
        event.stop()
        if event.generation is not None and event.generation < self._counts_generation:
            return  # an older count arrived after a newer one
        self._counts_generation = event.generation or self._counts_generation
        self.counts = event.counts
        if event.generation is None or event.generation >= self._stale_since:
            self.counts_stale = False  # the counts of the question asked last (older ones keep the mark)
        self._label_tabs()
        self._update_info()

    _stale_since = 0  # the generation whose counts are awaited while ``counts_stale``
    _tabs_dimmed = False

    def _set_counts_stale(self, stale: bool) -> None:
        super()._set_counts_stale(stale)
        if stale:
            self._stale_since = self.generation
        self._label_tabs()
        self._update_info()

    def _counts_unchanged(self, generation: int) -> None:
        if generation >= self._stale_since and self.counts_stale:
            self.counts_stale = False
            self._label_tabs()
            self._update_info()

    _tabs_width = 0  # the tab bar's width the labels were fitted to

    def _fitted_labels(self) -> dict[str, str | None]:
        """Each filter's tab label as the bar can show it (``fit_tabs``: whole, shortened with "…",
        or hidden when even short they do not all fit); whole while the bar has no width yet."""
        from textual.widgets import Tabs

        bar = self.query("#filters")
        tabs = bar.first() if bar else None
        width = tabs.size.width if isinstance(tabs, Tabs) else 0
        self._tabs_width = width
        gutter = 2
        if isinstance(tabs, Tabs):
            first = tabs.query("Tab")
            if first:
                gutter = first.first().styles.gutter.width
        status = self.query_state.status
        active = self.FILTERS.index(status) if status in self.FILTERS else 0
        labels = fit_tabs([self._tab_parts(n) for n in self.FILTERS], width, active, gutter=gutter)
        return dict(zip(self.FILTERS, labels))

    def _label_tabs(self) -> None:
        dim = self.counts_stale
        redim = dim != self._tabs_dimmed
        self._tabs_dimmed = dim
        fitted = self._fitted_labels()
        for tab in self.query("#filters Tab"):
            name = next((n for n in self.FILTERS if tab_id(n) == tab.id), None)
            label = fitted.get(name) if name is not None else None
            if name is not None and (label is None) == tab.display:
                tab.display = label is not None  # hidden: the bar cannot show it (its number key still can)
            if label is not None and (redim or str(tab.label) != label):  # type: ignore[attr-defined]
                # the same width: no layout (a stale count is dimmed in place, not replaced)
                if not relabel_tab_in_place(tab, label, dim=dim):
                    tab.label = Text(label, style="dim") if dim else label  # type: ignore[attr-defined]

    def _realign_tabs(self, _screen: Any = None) -> None:
        """After every layout of the screen: the tab bar's underline under its active tab. Tabs relabelled
        with their counts grow; Textual places the underline after the next refresh, which during a batch
        update (an area switch, a table update) comes before the new widths are laid out, and it stayed
        short under "Prospects (2)" (seen in snapshots under load)."""
        from textual.widgets import Tabs

        for tabs in self.query("#filters"):
            if isinstance(tabs, Tabs):
                if tabs.size.width != self._tabs_width:
                    self._label_tabs()  # the bar's width changed: the labels are fitted to it again
                realign_tab_underline(tabs)
        self._fit_search_placeholder()

    def _fit_search_placeholder(self) -> None:
        """The search field's placeholder as wide as the field shows (narrow: 22 cells): Textual wraps
        it and shows its first line ("/ search number,"), cut with nothing to say so; here it ends in "…"."""
        from textual.widgets import Input

        for search in self.query("#search"):
            if not isinstance(search, Input):
                continue
            width = search.scrollable_content_region.width
            if width <= 0:
                continue
            placeholder = cut(Text(self.SEARCH_PLACEHOLDER), width).plain
            if search.placeholder != placeholder:
                search.placeholder = placeholder

    def _tab_parts(self, name: str) -> tuple[str, str]:
        """A tab's name and its count (" (12)"; none before the counts are known)."""
        return (name, f" ({self.counts.get(name, 0):,})") if self.counts and name in self.counts else (name, "")

    def _tab_label(self, name: str) -> str:
        return "".join(self._tab_parts(name))

    @on(RecordTable.RowHighlighted)
    def _row_highlighted(self, event: RecordTable.RowHighlighted) -> None:
        if event.data_table.id != self.TABLE_ID:
            return
        key = self.table.key_at_cursor()  # where the cursor is now (the event may be older)
        if key != self.selected:
            self._select(key)

    @on(RecordTable.RowSelected)
    def _row_selected(self, event: RecordTable.RowSelected) -> None:
        if event.data_table.id == self.TABLE_ID and self.has_class("-narrow"):
            self.toggle_detail(True)

    def toggle_detail(self, show: bool | None = None) -> None:
        self.detail_open = (not self.detail_open) if show is None else show
        self._apply_width(self.size.width or self.app.size.width)
        if self.detail_open:
            self.query_one("#detail").focus()
        else:
            self.table.focus()

    @on(RecordTable.NearEnd)
    def _near_end(self, event: RecordTable.NearEnd) -> None:
        event.stop()
        if self.table.near_end():
            self._grow(down=True)

    @on(RequestTable.NearTop)
    def _near_top_event(self, event: RequestTable.NearTop) -> None:
        event.stop()
        if self.table.near_top():
            self._grow(down=False)

    @on(RecordTable.JumpEnd)
    def _jump(self, event: RecordTable.JumpEnd) -> None:
        event.stop()
        if event.top:
            if self.above or (self.window and self.window[0].reverse):
                self._reset_from(reverse=False)
            return
        if self.after is not None or self.below:
            if self.REVERSIBLE:
                self._reset_from(reverse=True)  # one keyset query from the other end
            else:
                self._grow(down=True)

    def set_query(self, **changes: Any) -> None:
        before = self.columns
        self.query_state = ListQuery(**{**self.query_state.__dict__, **changes})
        if self.columns != before:
            self._switch_columns()
        self._update_headers()
        self.reload(keep=self.selected)

    _set_query = set_query

    def _switch_columns(self) -> None:
        """Another filter with other columns (other records): a fresh table, its sort if it has it."""
        if self.query_state.sort and self.query_state.sort not in self.sort_keys():
            self.query_state = ListQuery(
                **{**self.query_state.__dict__, "sort": self.DEFAULT_SORT, "descending": self.DEFAULT_DESCENDING}
            )
        self.records, self.window, self.kept = {}, [], set()
        self.above.clear()
        self.below.clear()
        self.selected, self.detail = None, None
        table = self.table
        table.clear(columns=True)
        for c in self.columns:
            table.add_column(c.label, key=c.key, width=c.width)
        self._render_detail(None)

    def _update_headers(self) -> None:
        table = self.table
        q = self.query_state
        for c in self.columns:
            text = Text(c.label)
            if (c.sort or (c.key if self.LOCAL else None)) == q.sort and q.sort:
                text.append(" ▼" if q.descending else " ▲", style="bold")
            table.columns[c.key].label = text  # type: ignore[index]
        table.labels_changed()

    def sort_keys(self) -> list[str]:
        if self.SORT_ORDER:
            return list(self.SORT_ORDER)
        return [c.sort or c.key for c in self.columns if c.sort or self.LOCAL]

    @on(RecordTable.HeaderSelected)
    def _header_selected(self, event: RecordTable.HeaderSelected) -> None:
        event.stop()
        column = next((c for c in self.columns if c.key == str(event.column_key.value)), None)
        sort = (column.sort or (column.key if self.LOCAL else None)) if column else None
        if sort is None:
            self.notify("this column cannot be sorted", severity="information")
            return
        q = self.query_state
        self.set_query(sort=sort, descending=(not q.descending) if q.sort == sort else False)

    def action_sort(self) -> None:
        keys = self.sort_keys()
        if not keys:
            return
        q = self.query_state
        nxt = keys[(keys.index(q.sort) + 1) % len(keys)] if q.sort in keys else keys[0]
        self.set_query(sort=nxt, descending=False)

    def action_reverse(self) -> None:
        self.set_query(descending=not self.query_state.descending)

    def action_reread(self) -> None:
        self.pinned.clear()
        self.reload(keep=self.selected, quiet=True)

    def on_tabs_tab_activated(self, event: Any) -> None:
        if getattr(event.tabs, "id", None) != "filters":
            return
        event.stop()
        name = next((n for n in self.FILTERS if tab_id(n) == event.tab.id), self.FILTERS[0])
        if name != self.query_state.status:
            self.set_query(status=name)

    def action_filter(self, index: int) -> None:
        if index >= len(self.FILTERS):
            return
        tabs = self.query("#filters")
        name = self.FILTERS[index]
        if tabs and hasattr(tabs.first(), "active"):
            tabs.first().active = tab_id(name)  # type: ignore[attr-defined]
        if name != self.query_state.status:  # the tab event would do it too: at once, not a frame later
            self.set_query(status=name)

    def action_search(self) -> None:
        search = self.query("#search")
        if search:
            search.first().focus()

    def on_input_changed(self, event: Any) -> None:
        if getattr(event.input, "id", None) != "search":
            return
        event.stop()
        if self._search_timer is not None:
            self._search_timer.stop()
        value = event.value.strip()
        self._search_timer = self.set_timer(0.3, lambda: self._apply_search(value))

    def on_input_submitted(self, event: Any) -> None:
        if getattr(event.input, "id", None) != "search":
            return
        event.stop()
        if self._search_timer is not None:
            self._search_timer.stop()
        self._apply_search(event.value.strip())
        self.table.focus()

    def _apply_search(self, value: str) -> None:
        if value != self.query_state.search:
            self.set_query(search=value)

    def on_key(self, event: Any) -> None:
        if event.key != "escape":
            self._key_meant_for_the_search(event)
            return
        if self.focused is not None and self.focused.id == "search":
            self.table.focus()
            event.stop()
        elif self.detail_open:
            self.toggle_detail(False)
            event.stop()

    def _key_meant_for_the_search(self, event: Any) -> None:
        """A key the search field would have taken (a character, one of its editing keys) coming up
        here while the search has the focus was not sent to it: it was sent to the list before an
        earlier key of the same burst (`/`) came back up from the list and moved the focus. It is
        sent again, to the search now (the list did not use it; "/abc" typed at once lost "abc")."""
        from textual import events
        from textual.widgets import Input

        search = self.focused
        if event.key == "slash" and not isinstance(search, Input) and self.query("#search"):
            # `/` acts here, on its way up, not at the app a step later: the keys behind it in the
            # burst reach this screen before that, and are then sent again to the search (below)
            event.stop()
            event.prevent_default()
            self.set_focus(self.query_one("#search"))  # now (``focus()`` would move it a step later)
            return
        if not isinstance(search, Input) or search.id != "search":
            return
        if event.is_printable or event.key in search._bindings.key_to_bindings:
            event.stop()
            event.prevent_default()
            self.app.post_message(events.Key(event.key, event.character))

    def target(self) -> str | None:
        """The record under the cursor now, when the key is pressed (whatever is still loading)."""
        key = self.table.key_at_cursor() if self.table.row_count else None
        if key is None:
            self.notify(f"Select a {self.NOUN} first.", severity="warning", markup=False)
        return key

    def target_detail(self, key: str) -> Any:
        """The loaded detail of ``key`` (None while it is still loading)."""
        return self.detail if self.detail is not None and self.detail_key(self.detail) == key else None

    def act(
        self, key: str, work_fn: Callable[[], str], *, advance: bool | None = None, keep: str | None = None
    ) -> None:
        """Run ``work_fn`` (a typed service call returning the message to show) in a thread worker;
        then the window is read again, the cursor on ``key`` (or the row after it when it left)."""
        self._actions_in_flight += 1  # live changes seen meanwhile wait for the action's own reread
        advance = self.AUTO_ADVANCE if advance is None else advance
        pin = None
        if not advance and (keep or key) not in self.pinned:
            # kept from now, not from ActionDone: a reread that reads after the commit and lands
            # before ActionDone (the dialog's resume reread) otherwise dropped the row that left
            # the filter, the cursor went to nothing, and the action's own reread had no row to keep
            pin = keep or key
            self.pinned.add(pin)
        worker = self._act(key, work_fn, advance, keep)
        if pin is not None:
            self._action_pins[worker] = pin

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # no super() call: Textual runs every class's handler along the MRO itself, so
        # ReportsWorkerErrors already notified the refusal (calling it again showed it twice)
        if event.worker.group == "browser.action" and event.state in (
            WorkerState.SUCCESS,
            WorkerState.ERROR,
            WorkerState.CANCELLED,
        ):
            pin = self._action_pins.pop(event.worker, None)
            if event.state == WorkerState.SUCCESS:
                return  # ActionDone (posted by the worker) settles it and keeps the record
            if pin is not None and pin not in self._pins_in_flight():
                self.pinned.discard(pin)  # refused: the record is not kept for an action that did nothing
            self._action_settled()
            if self._changed_during_action and self._actions_in_flight == 0:
                self._changed_during_action = False
                self.reload(keep=self.selected, quiet=True)  # the refused action rereads nothing itself

    def _pins_in_flight(self) -> set[str]:
        return set(self._action_pins.values())

    @work(thread=True, group="browser.action", exit_on_error=False)
    def _act(self, key: str, work_fn: Callable[[], str], advance: bool, keep: str | None) -> None:
        message = work_fn()
        from services import changefeed

        try:
            latest: int | None = self.app.call(changefeed.latest_change)  # one index probe
        except Exception:
            latest = None
        self.post_message(ActionDone(key, message, advance, keep, latest))

    @on(ActionDone)
    def _action_done(self, event: ActionDone) -> None:
        event.stop()
        self._action_settled()
        self._changed_during_action = False  # the reread below shows them
        if event.latest is not None:
            self._acted_through = max(self._acted_through, event.latest)
        if event.message:
            self.notify(event.message, title="Done", markup=False)
        keep = event.keep or event.key
        if event.advance:
            keys = self.ordered_keys()
            if event.key in keys and keys.index(event.key) + 1 < len(keys):
                keep = keys[keys.index(event.key) + 1]
        else:
            self.pinned.add(keep)
        self.after_action(event.key)
        self.reload(keep=keep, quiet=True)  # the window, the counts and the selected record's detail

    def after_action(self, key: str) -> None:
        """Hook: something to refresh besides the list after an action."""

    def palette_bindings(self) -> Iterable[Binding]:
        return [b for b in self.BINDINGS if isinstance(b, Binding)]
