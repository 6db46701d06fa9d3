"""The record browser: the one list every area of the console is built on.

A screen subclasses ``BrowserScreen`` and declares only what is its own:

* ``COLUMNS`` (``Column``: key, label, the service's sort name, a width past which a cell is
  cut with ``…``), ``FILTERS`` (the tabs), ``DEFAULT_SORT``;
* ``fetch(q, after, limit, reverse) -> Page`` (thread): one keyset page from a typed service
  call; ``fetch_counts(search) -> {filter: n}``; ``fetch_detail(key)``;
* ``row_key(row)``, ``row_cells(row)`` (``Text`` cells: data is never markup), ``show_detail``;
* its actions, each resolving its record with ``self.target()`` when the key is pressed and
  running the typed service call through ``self.act(key, work)``.

The browser does the rest once for every area: filter tabs with live counts, ``/`` search,
sort by any shown column (``s``/``S`` or a header click), keyset paging on scroll, "N of M",
a bounded window (at most ``WINDOW_PAGES`` pages are held; pages scrolled out are dropped and
read again by their keyset token when scrolled back; ``ctrl+end`` is one query from the
other end), the cursor kept on its record across reloads (or the next one when it left the
filter), stale results dropped by a generation counter, live reloads when the app reports a
change (``data_changed``), a fresh read when the area is shown again, and the narrow layout
(below ``NARROW`` columns the detail pane is a toggle: Enter shows it, Escape hides it).

Services that have no keyset paging (they return one bounded list) set ``LOCAL = True``:
their rows are searched and sorted here, in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Iterable

from rich.cells import cell_len
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

from screens.console_app import TypedApp
from screens.textual_compat import app_exiting
from screens.widgets import ReportsWorkerErrors, RequestTable, data


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    sort: str | None = None  # the service's sort name (None: not sortable, except in LOCAL lists)
    width: int | None = None  # cells wider than this are cut, ending in "…"


@dataclass(frozen=True)
class ListQuery:
    status: str
    search: str
    sort: str
    descending: bool


@dataclass
class Page:
    rows: list[Any]
    after: Any = None  # keyset token to continue in the same direction; None: nothing more that way


@dataclass
class _Chunk:
    reverse: bool  # fetched from the other end (display order is the reverse of the fetch order)
    start: Any  # the token it was fetched with
    end: Any  # the token to continue in its direction (None: the end of the list that way)
    keys: list[str] = field(default_factory=list)  # display order


def cut(text: Text, width: int | None) -> Text:
    """A cell no wider than ``width`` cells; a cut one ends in "…"."""
    if width is None or cell_len(text.plain) <= width:
        return text
    out = text.copy()
    out.truncate(width, overflow="ellipsis")
    return out


def _tab_id(name: str) -> str:
    return "f-" + "".join(ch if ch.isalnum() else "-" for ch in name.lower())


# ------------------------------------------------------------------ messages (each carries what it answers)


class PageLoaded(Message):
    def __init__(self, generation: int, kind: str, chunk: _Chunk, rows: list[Any], keep: str | None) -> None:
        super().__init__()
        self.generation, self.kind, self.chunk, self.rows, self.keep = generation, kind, chunk, rows, keep

    @property
    def page(self) -> Page:  # compatibility: the rows of the page
        return Page(self.rows, self.chunk.end)


class CountsLoaded(Message):
    def __init__(self, counts: dict[str, int], generation: int | None = None) -> None:
        super().__init__()
        self.counts, self.generation = counts, generation


class DetailLoaded(Message):
    def __init__(self, key: str, detail: Any) -> None:
        super().__init__()
        self.key, self.detail = key, detail


class ActionDone(Message):
    def __init__(self, key: str, message: str, advance: bool = False, keep: str | None = None,
                 latest: int | None = None) -> None:
        super().__init__()
        self.key, self.message, self.advance, self.keep = key, message, advance, keep
        self.latest = latest  # the change counter right after the action committed (None: not read)


class RecordTable(RequestTable):
    """The list widget: rows keyed by record; the record under the cursor is read synchronously."""

    class JumpEnd(Message):
        def __init__(self, top: bool) -> None:
            super().__init__()
            self.top = top

    def key_at_cursor(self) -> str | None:
        if not self.row_count:
            return None
        row = min(max(self.cursor_row, 0), self.row_count - 1)
        return str(self.coordinate_to_cell_key((row, 0)).row_key.value)

    def action_scroll_bottom(self) -> None:
        super().action_scroll_bottom()
        self.post_message(self.JumpEnd(top=False))

    def action_scroll_top(self) -> None:
        super().action_scroll_top()
        self.post_message(self.JumpEnd(top=True))


class BrowserScreen(TypedApp, ReportsWorkerErrors, Screen):
    """Base of every list area (see the module's docstring)."""

    TABLE_ID: ClassVar[str] = "records"
    COLUMNS: ClassVar[list[Column]] = []
    FILTERS: ClassVar[list[str]] = ["All"]
    DEFAULT_FILTER: ClassVar[str | None] = None
    DEFAULT_SORT: ClassVar[str] = ""
    DEFAULT_DESCENDING: ClassVar[bool] = False
    SORT_ORDER: ClassVar[list[str] | None] = None  # the order ``s`` goes through (default: the columns')
    PAGE_SIZE: ClassVar[int] = 60
    WINDOW_PAGES: ClassVar[int] = 5
    LOCAL: ClassVar[bool] = False  # the service returns one bounded list: search and sort it here
    SERVER_SEARCH: ClassVar[bool] = True  # False: the service cannot search; pages are filtered here
    REVERSIBLE: ClassVar[bool] = False  # fetch(reverse=True) reads from the other end (jump to end)
    AUTO_ADVANCE: ClassVar[bool] = False  # after an action, the cursor moves to the next row
    NARROW: ClassVar[int] = 110  # below this width the detail pane is a toggle
    REMOVE_IN_PLACE: ClassVar[int] = 8  # a reread removes up to this many rows in place (each is O(rows)), else rebuilds
    DEFER_CHROME: ClassVar[bool] = False  # tabs, search, header and footer mounted after the first paint
    SEARCH_PLACEHOLDER: ClassVar[str] = "/ search"
    EMPTY_DETAIL: ClassVar[str] = "Select a record."
    NOUN: ClassVar[str] = "record"

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
            extra.append(Binding(b.key, b.action, b.description, show=b.show, tooltip=b.tooltip,
                                 id=f"{prefix}.{b.action}.{b.key}"))
        filters = []
        if len(cls.FILTERS) > 1:
            for i, name in enumerate(cls.FILTERS[:9]):
                if str(i + 1) in keys:
                    continue
                filters.append(Binding(str(i + 1), f"filter({i})", name, show=False, id=f"{prefix}.filter.{i}",
                                       tooltip=f"Show {name}"))
        if "BINDINGS" in cls.__dict__:
            cls.BINDINGS = [*cls.__dict__["BINDINGS"], *extra, *filters]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        first = self.DEFAULT_FILTER or self.FILTERS[0]
        self.query_state = ListQuery(status=first, search="", sort=self.DEFAULT_SORT,
                                     descending=self.DEFAULT_DESCENDING)
        self.counts: dict[str, int] = {}
        self.generation = 0
        self.selected: str | None = None
        self.detail: Any = None
        self.records: dict[str, Any] = {}  # the rows in the window, by key
        self.window: list[_Chunk] = []
        self.above: list[tuple[bool, Any, int]] = []  # chunks dropped above the window: (reverse, start, size)
        self.below: list[tuple[bool, Any, int]] = []  # ... and below it
        self._fetching = False
        self._counts_generation = 0
        self._search_timer: Any = None
        self._detail_timer: Any = None
        self._deferred_mounted = False
        self._shown_once = False
        self.first_page_shown = False
        self.detail_open = False  # narrow layout: the detail pane is shown instead of the list
        self.pinned: set[str] = set()  # acted on here: kept in the list until the cursor leaves them
        self.kept: set[str] = set()  # pinned records shown although they no longer match

    # ------------------------------------------------------------------ layout

    @property
    def table(self) -> RecordTable:
        return self.query_one(f"#{self.TABLE_ID}", RecordTable)

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
                yield Static("loading…", id="list-info", classes="list-info")
            with VerticalScroll(id="detail", classes="detail"):
                yield Static(Text(self.EMPTY_DETAIL, style="dim"), id="detail-empty")
                yield from self.compose_detail()
        if not self.DEFER_CHROME:
            from screens.footer import KeyFooter

            yield KeyFooter(compact=True)

    def _chrome(self) -> Iterable[Widget]:
        from textual.widgets import Input, Tab, Tabs

        if len(self.FILTERS) > 1:
            yield Tabs(*[Tab(self._tab_label(n), id=_tab_id(n)) for n in self.FILTERS], id="filters",
                       active=_tab_id(self.query_state.status))
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

        mounted = [self.mount(Header(), before=0), self.mount(KeyFooter(compact=True))]
        if self.DEFER_CHROME:
            bar = self.query_one("#filter-bar")
            filters_slot, search_slot = self.query_one("#filters-slot"), self.query_one("#search-slot")
            tabs, search = list(self._chrome())
            mounted += [bar.mount(tabs, before=filters_slot), bar.mount(search, before=search_slot),
                        filters_slot.remove(), search_slot.remove()]
        for awaitable in mounted:
            await awaitable
        self.refresh_bindings()

    def on_mount(self) -> None:
        self._update_headers()
        self.table.focus()
        self._apply_width(self.app.size.width)
        first = self.initial_view()
        if first is not None:
            page, counts = first
            self.generation += 1
            self._counts_loaded(CountsLoaded(counts))
            self._page_loaded(PageLoaded(self.generation, "reset", _Chunk(False, None, page.after),
                                         page.rows, None))
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

    # ------------------------------------------------------------------ what subclasses give

    def columns_for(self, status: str) -> list[Column]:
        """The columns of a filter (default: ``COLUMNS`` for every filter; a screen whose tabs show
        different records gives each its own)."""
        return self.COLUMNS

    @property
    def columns(self) -> list[Column]:
        return self.columns_for(self.query_state.status)

    def fetch(self, q: ListQuery, after: Any, limit: int, reverse: bool) -> Page:  # thread
        raise NotImplementedError

    def fetch_counts(self, search: str) -> dict[str, int] | None:  # thread; None: counted from the rows (LOCAL)
        return None

    def fetch_detail(self, key: str) -> Any:  # thread
        return None

    def row_key(self, row: Any) -> str:
        raise NotImplementedError

    def row_cells(self, row: Any) -> list[Text]:
        raise NotImplementedError

    def row_filter(self, row: Any) -> str | None:
        """LOCAL lists: the filter tab a row belongs to (None: only All)."""
        return None

    def show_detail(self, detail: Any) -> None:
        """Fill the detail pane (UI thread); ``detail`` is None when nothing is selected."""

    # ------------------------------------------------------------------ loading

    def reload(self, keep: str | None = None, *, quiet: bool = False) -> None:
        """Read the list again: ``quiet`` (same question: a change, F5, an action) rereads the window
        in place with one keyset query from its first page's token; otherwise (new filter, search,
        sort) from the top. Then the counts, and the detail when quiet."""
        self.generation += 1
        self._fetching = True
        first = self.window[0] if quiet and self.window else None
        if not quiet:
            self.pinned.clear()
        if first is None:
            self.above.clear()
            self.below.clear()
            reverse, start, size = False, None, self.PAGE_SIZE
        else:
            reverse, start = first.reverse, first.start
            size = min(max(self.PAGE_SIZE, len(self.records)), self.PAGE_SIZE * self.WINDOW_PAGES)
        self._load(self.generation, self.query_state, "reset", reverse, start, size,
                   keep if keep is not None else self.selected)
        self._load_counts(self.generation, self.query_state.search)
        if quiet and self.selected is not None:
            self._fetch_detail_now(self.selected)

    def data_changed(self, change: Any = None) -> None:
        """Something changed in the store (another operator, the CLI, cron): reread what is shown.

        ``change`` (the app's ``DataChanged``: ``latest``, ``events``) lets the screen skip a reread
        that would only show its own action again: every event up to ``latest`` is this operator's
        and the action's own reread started after it committed."""
        if not self.is_attached:
            return
        if change is not None and self._only_own(change):
            return
        self.reload(keep=self.selected, quiet=True)

    _acted_through = 0  # the change counter after this screen's last action (its reread shows up to there)

    def _only_own(self, change: Any) -> bool:
        events = list(getattr(change, "events", None) or [])
        me = getattr(getattr(self.app, "actor", None), "user_name", None)
        latest = getattr(change, "latest", None)
        return (bool(events) and latest is not None and latest <= self._acted_through and events[-1].id == latest
                and all(e.operator == me for e in events))

    def _grow(self, down: bool) -> None:
        if self._fetching or self.LOCAL:
            return
        if down:
            if self.below:
                reverse, start, size = self.below[-1]
            elif self.window and not self.window[-1].reverse and self.window[-1].end is not None:
                reverse, start, size = False, self.window[-1].end, self.PAGE_SIZE
            else:
                return
        else:
            if self.above:
                reverse, start, size = self.above[-1]
            elif self.window and self.window[0].reverse and self.window[0].end is not None:
                reverse, start, size = True, self.window[0].end, self.PAGE_SIZE
            else:
                return
        self._fetching = True
        self._load(self.generation, self.query_state, "down" if down else "up", reverse, start, size, None)

    @work(thread=True, group="browser.list", exit_on_error=False)  # answers are matched, not cancelled
    def _load(self, generation: int, q: ListQuery, kind: str, reverse: bool, start: Any, limit: int,
              keep: str | None) -> None:
        try:
            if self.LOCAL:
                page = self.fetch(q, None, limit, False)
                rows = self._local(q, page.rows)
                page = Page(rows, None)
            elif q.search and not self.SERVER_SEARCH:
                # the service cannot search: read keyset pages and keep the rows whose cells match
                needle, rows, after, reads = q.search.casefold(), [], start, 0
                while True:
                    page = self.fetch(q, after, limit, reverse)
                    reads += 1
                    rows += [r for r in page.rows if any(needle in c.plain.casefold() for c in self.row_cells(r))]
                    after = page.after
                    if len(rows) >= limit or after is None or reads >= 20 or get_current_worker().is_cancelled:
                        break
                page = Page(rows, after)
            else:
                page = self.fetch(q, start, limit, reverse)
        except BaseException:
            self.app.call_from_thread(self._load_failed, generation)
            raise
        if get_current_worker().is_cancelled:
            return
        rows = list(reversed(page.rows)) if reverse else list(page.rows)
        self.post_message(PageLoaded(generation, kind, _Chunk(reverse, start, page.after), rows, keep))

    def _local(self, q: ListQuery, rows: list[Any]) -> list[Any]:
        """LOCAL lists: the filter, the search and the sort, in memory (the service's list is bounded)."""
        counts: dict[str, int] = {name: 0 for name in self.FILTERS}
        search = q.search.casefold()
        out = []
        for row in rows:
            if search and not any(search in c.plain.casefold() for c in self.row_cells(row)):
                continue
            group = self.row_filter(row)
            everything = "All" if "All" in self.FILTERS else self.FILTERS[0]
            counts[everything] = counts.get(everything, 0) + 1
            if group is not None:
                counts[group] = counts.get(group, 0) + 1
            if q.status != everything and group != q.status:
                continue
            out.append(row)
        if self.fetch_counts.__func__ is BrowserScreen.fetch_counts:  # type: ignore[attr-defined]
            self.post_message(CountsLoaded(counts))
        if q.sort:
            index = next((i for i, c in enumerate(self.columns) if (c.sort or c.key) == q.sort), None)
            if index is not None:
                out.sort(key=lambda r: self.row_cells(r)[index].plain.casefold(), reverse=q.descending)
        return out

    def _load_failed(self, generation: int) -> None:
        if generation == self.generation:
            self._fetching = False

    @work(thread=True, group="browser.counts", exit_on_error=False)  # answers are matched, not cancelled
    def _load_counts(self, generation: int, search: str) -> None:
        counts = self.fetch_counts(search)
        if counts is not None and not get_current_worker().is_cancelled:
            self.post_message(CountsLoaded(counts, generation))

    @work(thread=True, group="browser.detail", exit_on_error=False)  # answers are matched, not cancelled
    def _fetch_detail(self, key: str) -> None:
        detail = self.fetch_detail(key)
        if not get_current_worker().is_cancelled:
            self.post_message(DetailLoaded(key, detail))

    def _fetch_detail_now(self, key: str) -> None:
        if self._detail_timer is not None:
            self._detail_timer.stop()
            self._detail_timer = None
        self._fetch_detail(key)

    # ------------------------------------------------------------------ showing pages

    @on(PageLoaded)
    def _page_loaded(self, event: PageLoaded) -> None:
        event.stop()
        if event.generation != self.generation:
            return  # an answer to an older question (filter, search, sort, reload): dropped
        self._fetching = False
        table = self.table
        chunk = event.chunk
        fresh = [r for r in event.rows]
        if event.kind in ("reset", "jump-end", "jump-top"):
            old_keys = [str(k.value) for k in table.rows]
            target = event.keep if event.keep is not None else self.selected
            if event.kind != "reset":
                rows = [self.row_key(r) for r in fresh]
                target = (rows[-1] if event.kind == "jump-end" else rows[0]) if rows else None
            old_records, old_order = self.records, self.ordered_keys()
            self.window = [chunk]
            self.records = {}
            for row in fresh:
                self.records.setdefault(self.row_key(row), row)
            order = list(self.records)
            # records this operator just acted on stay where they were (with their new state) even
            # when they no longer match, so the next key still acts on them; F5 or moving away lets go
            self.kept = set()
            if event.kind == "reset":
                for key in [k for k in old_order if k in self.pinned and k not in self.records and k in old_records]:
                    at = old_order.index(key)
                    before = next((k for k in reversed(old_order[:at]) if k in self.records), None)
                    order.insert(order.index(before) + 1 if before is not None else 0, key)
                    self.records[key] = old_records[key]
                    self.kept.add(key)
            chunk.keys = order
            self._show_window(target, old_keys)
        else:
            down = event.kind == "down"
            stack = self.below if down else self.above
            if stack:
                stack.pop()
            added = []
            for row in fresh:
                key = self.row_key(row)
                if key not in self.records:
                    self.records[key] = row
                    added.append(key)
            chunk.keys = added
            if down:
                self.window.append(chunk)
            else:
                self.window.insert(0, chunk)
            dropped = self._trim(keep_bottom=not down)
            if down and dropped:
                self._show_scrolled_down(dropped)
            else:
                self._show_window(self.selected, None, appended=added if down and not self._trimmed else None)
        self._update_info()
        if not self.first_page_shown:
            self.first_page_shown = True
            self.call_after_refresh(self._first_list_painted)

    def _first_list_painted(self) -> None:
        self.app.call_later(self._mount_deferred)

    _trimmed = False

    def _trim(self, keep_bottom: bool) -> list[str]:
        """The bounded window: drop whole pages from the far side, remembering how to read them again.
        Returns the keys dropped."""
        self._trimmed = False
        dropped: list[str] = []
        limit = self.PAGE_SIZE * self.WINDOW_PAGES
        while len(self.window) > 1 and len(self.records) > limit:
            self._trimmed = True
            chunk = self.window.pop(0) if not keep_bottom else self.window.pop()
            (self.above if not keep_bottom else self.below).append((chunk.reverse, chunk.start, len(chunk.keys) or self.PAGE_SIZE))
            for key in chunk.keys:
                if self.records.pop(key, None) is not None:
                    dropped.append(key)
        return dropped

    def _show_scrolled_down(self, dropped: list[str]) -> None:
        """Scrolling down past the window's size: the pages dropped above leave the table and the new
        one is appended; the rows in between stay as they are (no rebuild), the view does not move."""
        table = self.table
        keys = self.ordered_keys()
        current = [str(k.value) for k in table.rows]
        gone = set(dropped)
        kept = [k for k in current if k not in gone]
        n_gone = len(current) - len(kept)
        if not all(k in gone for k in current[:n_gone]) or keys[:len(kept)] != kept:
            self._show_window(self.selected, None)  # not the simple shape: rebuild
            return
        cursor_key = table.key_at_cursor()
        offset = table.cursor_row - int(table.scroll_y) if table.row_count else 0
        with self.app.batch_update():
            for key in current[:n_gone]:
                table.remove_row(key)
            for key in keys[len(kept):]:
                table.add_row(*self._cells(self.records[key]), key=key)
            if cursor_key in gone or cursor_key is None:
                self._show_window(self.selected, None)
                return
            index = keys.index(cursor_key)
            table.move_cursor(row=index, animate=False, scroll=False)
            table.scroll_to(y=max(0, index - max(0, offset)), animate=False, immediate=True)
        self._update_info()

    def ordered_keys(self) -> list[str]:
        return [k for chunk in self.window for k in chunk.keys if k in self.records]

    def _show_window(self, target: str | None, old_keys: list[str] | None, appended: list[str] | None = None) -> None:
        """Show the window: rows in place where possible, the cursor on ``target`` (or its next neighbour)."""
        table = self.table
        keys = self.ordered_keys()
        current = [str(k.value) for k in table.rows]
        cursor_key = table.key_at_cursor()
        offset = table.cursor_row - int(table.scroll_y) if table.row_count else 0
        with self.app.batch_update():
            if appended is not None and current == keys[: len(current)]:
                for key in keys[len(current):]:
                    table.add_row(*self._cells(self.records[key]), key=key)
                self._update_info()
                return
            shown = set(keys)
            kept = [k for k in current if k in shown]
            if len(current) - len(kept) <= self.REMOVE_IN_PLACE and keys[:len(kept)] == kept:
                # the same rows, a few gone, new ones after them (a reread after a change): the rows
                # that left are removed, the others updated cell by cell, the new ones appended;
                # the table is not rebuilt and its unchanged cells keep their rendering
                for key in current:
                    if key not in shown:
                        table.remove_row(key)
                for key in kept:
                    for column, cell in zip(self.columns, self._cells(self.records[key])):
                        if table.get_cell(key, column.key) != cell:
                            table.update_cell(key, column.key, cell)
                for key in keys[len(kept):]:
                    table.add_row(*self._cells(self.records[key]), key=key)
            else:
                table.clear()
                for key in keys:
                    table.add_row(*self._cells(self.records[key]), key=key)
            if not keys:
                self._select(None)
                return
            index = self._target_index(keys, target if target is not None else cursor_key, old_keys or current)
            key = keys[index]
            if table.cursor_row != index or current != keys:
                table.move_cursor(row=index, animate=False, scroll=False)
                table.scroll_to(y=max(0, index - max(0, offset)), animate=False, immediate=True)
            if key != self.selected or self.detail is None:
                self._select(key)

    @staticmethod
    def _target_index(keys: list[str], target: str | None, previous: list[str]) -> int:
        """Where the cursor goes: on ``target``; if it left the list, on the record that followed it."""
        if target is None:
            return 0
        positions = {k: i for i, k in enumerate(keys)}
        if target in positions:
            return positions[target]
        if target in previous:
            at = previous.index(target)
            for k in previous[at + 1:]:
                if k in positions:
                    return positions[k]
            for k in reversed(previous[:at]):
                if k in positions:
                    return positions[k]
            return min(at, len(keys) - 1)
        return 0

    def _cells(self, row: Any) -> list[Text]:
        return [cut(cell, c.width) for c, cell in zip(self.columns, self.row_cells(row))]

    @on(CountsLoaded)
    def _counts_loaded(self, event: CountsLoaded) -> None:
        event.stop()
        if event.generation is not None and event.generation < self._counts_generation:
            return  # an older count arrived after a newer one
        self._counts_generation = event.generation or self._counts_generation
        self.counts = event.counts
        for tab in self.query("#filters Tab"):
            name = next((n for n in self.FILTERS if _tab_id(n) == tab.id), None)
            if name is not None:
                tab.label = self._tab_label(name)  # type: ignore[attr-defined]
        self._update_info()

    def _tab_label(self, name: str) -> str:
        return f"{name} ({self.counts.get(name, 0):,})" if self.counts and name in self.counts else name

    def total(self) -> int | None:
        return self.counts.get(self.query_state.status) if self.counts else None

    @property
    def status(self) -> str:
        """The filter shown (the active tab)."""
        return self.query_state.status

    @property
    def loaded(self) -> int:
        return len(self.records)

    @property
    def after(self) -> Any:
        """The token of the next page below the window (None: the window reaches the end)."""
        if self.below:
            return self.below[-1][1]
        if self.window and not self.window[-1].reverse:
            return self.window[-1].end
        return None

    def _update_info(self) -> None:
        q = self.query_state
        total = self.total()
        info = Text()
        stale = len(self.kept)
        info.append(f"{len(self.records) - stale:,}", style="bold")
        info.append(" of ")
        info.append(f"{total:,}" if total is not None else "…", style="bold")
        if len(self.FILTERS) > 1:
            info.append(f"  ·  {q.status}")
        if q.sort:
            info.append(f"  ·  sort {q.sort} {'desc' if q.descending else 'asc'}")
        if stale:
            info.append(f"  ·  +{stale:,} shown no longer {q.status} (F5 rereads)", style="italic")
        if q.search:
            info.append("  ·  search ")
            info.append_text(data(repr(q.search)))
        if self.above:
            info.append("  ·  more above", style="dim")
        if self.after is not None:
            info.append("  ·  more below", style="dim")
        self.query_one("#list-info", Static).update(info, layout=False)  # one fixed line: no layout pass

    # ------------------------------------------------------------------ cursor and detail

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

    def _reset_from(self, reverse: bool) -> None:
        self.generation += 1
        self.above.clear()
        self.below.clear()
        self._fetching = True
        self._load(self.generation, self.query_state, "jump-end" if reverse else "jump-top", reverse, None,
                   self.PAGE_SIZE, None)

    def _select(self, key: str | None) -> None:
        if self.selected is not None and key != self.selected:
            self.pinned.discard(self.selected)
        self.selected = key
        if self.detail is not None and self.detail_key(self.detail) != key:
            self.detail = None
        if self._detail_timer is not None:
            self._detail_timer.stop()
            self._detail_timer = None
        if key is None:
            self.detail = None
            self._render_detail(None)
            return
        self._detail_timer = self.set_timer(0.08, lambda: self._fetch_detail(key))

    def detail_key(self, detail: Any) -> str | None:
        return getattr(detail, "number", None)

    @on(DetailLoaded)
    def _detail_loaded(self, event: DetailLoaded) -> None:
        event.stop()
        if event.key != self.selected:
            return
        self.detail = event.detail
        self._render_detail(event.detail)
        if event.detail is not None and event.key in self.table.rows:
            self.detail_changed_row(event.key, event.detail)

    def detail_changed_row(self, key: str, detail: Any) -> None:
        """Hook: the fresh detail of a shown row (e.g. its new status into the row's cell)."""

    def _render_detail(self, detail: Any) -> None:
        self.query_one("#detail-empty").display = detail is None
        self.show_detail(detail)

    # ------------------------------------------------------------------ filter / search / sort

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
            self.query_state = ListQuery(**{**self.query_state.__dict__, "sort": self.DEFAULT_SORT,
                                            "descending": self.DEFAULT_DESCENDING})
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
        table.refresh()

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
        name = next((n for n in self.FILTERS if _tab_id(n) == event.tab.id), self.FILTERS[0])
        if name != self.query_state.status:
            self.set_query(status=name)

    def action_filter(self, index: int) -> None:
        if index >= len(self.FILTERS):
            return
        tabs = self.query("#filters")
        name = self.FILTERS[index]
        if tabs and hasattr(tabs.first(), "active"):
            tabs.first().active = _tab_id(name)  # type: ignore[attr-defined]
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
            return
        if self.focused is not None and self.focused.id == "search":
            self.table.focus()
            event.stop()
        elif self.detail_open:
            self.toggle_detail(False)
            event.stop()

    # ------------------------------------------------------------------ actions

    def target(self) -> str | None:
        """The record under the cursor now, when the key is pressed (whatever is still loading)."""
        key = self.table.key_at_cursor() if self.table.row_count else None
        if key is None:
            self.notify(f"Select a {self.NOUN} first.", severity="warning", markup=False)
        return key

    def target_detail(self, key: str) -> Any:
        """The loaded detail of ``key`` (None while it is still loading)."""
        return self.detail if self.detail is not None and self.detail_key(self.detail) == key else None

    def act(self, key: str, work_fn: Callable[[], str], *, advance: bool | None = None, keep: str | None = None) -> None:
        """Run ``work_fn`` (a typed service call returning the message to show) in a thread worker;
        then the window is read again, the cursor on ``key`` (or the row after it when it left)."""
        self._act(key, work_fn, self.AUTO_ADVANCE if advance is None else advance, keep)

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
