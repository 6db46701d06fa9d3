"""The record browser's window on a list: reading keyset pages in thread workers, the bounded
window of pages (dropped and reread by token), showing them in the table in place, the cursor
kept on its record, the detail of the selected record, live rereads and the "N of M" line.
``BrowserScreen`` (screen.py) adds the layout, the filter tabs, search, sort and actions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import get_current_worker

from screens.browser.parts import Chunk, Column, CountsLoaded, DetailLoaded, ListQuery, Page, PageLoaded, cut
from screens.browser.table import RecordTable
from screens.textual_compat import measure_table_now
from screens.widgets import ReportsWorkerErrors, data

if TYPE_CHECKING:
    from textual import getters

    from screens.console_app import ConsoleApp


class ListWindow(ReportsWorkerErrors, Screen[None]):
    """The loading and showing half of ``BrowserScreen`` (see the package's docstring)."""

    if TYPE_CHECKING:  # self.app is the console's app (screens/console_app.py)
        app = getters.app(ConsoleApp)

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
    REMOVE_IN_PLACE: ClassVar[int] = 8  # a reread removes up to this many rows in place, else rebuilds
    DEFER_CHROME: ClassVar[bool] = False  # tabs, search, header and footer mounted after the first paint
    SEARCH_PLACEHOLDER: ClassVar[str] = "/ search"
    EMPTY_DETAIL: ClassVar[str] = "Select a record."
    NOUN: ClassVar[str] = "record"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        first = self.DEFAULT_FILTER or self.FILTERS[0]
        self.query_state = ListQuery(
            status=first, search="", sort=self.DEFAULT_SORT, descending=self.DEFAULT_DESCENDING
        )
        self.counts: dict[str, int] = {}
        self.generation = 0
        self.selected: str | None = None
        self.detail: Any = None
        self.records: dict[str, Any] = {}  # the rows in the window, by key
        self.window: list[Chunk] = []
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
        self._action_pins: dict[Any, str] = {}  # an action's worker -> the record it pinned when it started

    @property
    def awaiting_rows(self) -> bool:
        """A page this list asked for (a new filter, search or sort, a reread, a scroll) is on its way
        (the app runs no full garbage collection meanwhile: app/tui.py ``_maybe_collect``)."""
        return self._fetching

    @property
    def table(self) -> RecordTable:
        return self.query_one(f"#{self.TABLE_ID}", RecordTable)

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

    def reload(self, keep: str | None = None, *, quiet: bool = False) -> None:
        """Read the list again: ``quiet`` (same question: a change, F5, an action) rereads the window
        in place with one keyset query from its first page's token; otherwise (new filter, search,
        sort) from the top. Then the counts, and the detail when quiet."""
        self.generation += 1
        self._fetching = True
        if not quiet:
            self._keep_pending = None
        elif keep is not None:
            self._keep_pending = keep
        else:
            # a reread that overtakes one asked to land on a record (an action's, a new request's)
            # lands there too: a live change right after the commit otherwise put the cursor back
            keep = self._keep_pending
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
        self._load(
            self.generation,
            self.query_state,
            "reset",
            reverse,
            start,
            size,
            keep if keep is not None else self.selected,
        )
        if quiet:
            self._load_counts(self.generation, self.query_state.search)
        else:
            # a new question (filter, search, sort): its first page is read alone and painted, its
            # counts are read after it (two statements at once on a 2-core machine slowed the page
            # by the count's time at 1M rows); meanwhile the counts shown are the old question's,
            # marked stale ("…" in the info line, the tabs dimmed) until the new ones arrive
            self._counts_after_page = self.generation
            self._set_counts_stale(True)
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
        if self._actions_in_flight:
            # an action of this screen is committing or committed: its own reread (after
            # ActionDone) starts later than this change and shows it; reading now as well would
            # read the window twice (or, on a refusal, the worker's end rereads instead)
            self._changed_during_action = True
            return
        self.reload(keep=self.selected, quiet=True)

    _acted_through = 0  # the change counter after this screen's last action (its reread shows up to there)
    _actions_in_flight = 0  # actions started (act) whose ActionDone or failure has not arrived yet
    _changed_during_action = False  # a live change arrived while an action was in flight

    def _action_settled(self) -> None:
        self._actions_in_flight = max(0, self._actions_in_flight - 1)

    def _only_own(self, change: Any) -> bool:
        events = list(getattr(change, "events", None) or [])
        me = getattr(getattr(self.app, "actor", None), "user_name", None)
        latest = getattr(change, "latest", None)
        return (
            bool(events)
            and latest is not None
            and latest <= self._acted_through
            and events[-1].id == latest
            and all(e.operator == me for e in events)
        )

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
    def _load(
        self, generation: int, q: ListQuery, kind: str, reverse: bool, start: Any, limit: int, keep: str | None
    ) -> None:
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
        self.post_message(PageLoaded(generation, kind, Chunk(reverse, start, page.after), rows, keep))

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
        if self.fetch_counts.__func__ is ListWindow.fetch_counts:  # type: ignore[attr-defined]
            self.post_message(CountsLoaded(counts))
        if q.sort:
            index = next((i for i, c in enumerate(self.columns) if (c.sort or c.key) == q.sort), None)
            if index is not None:
                out.sort(key=lambda r: self.row_cells(r)[index].plain.casefold(), reverse=q.descending)
        return out

    def _load_failed(self, generation: int) -> None:
        if generation == self.generation:
            self._fetching = False
        self._start_deferred_counts(generation)

    _counts_after_page: int | None = None  # the generation whose counts wait for its first page
    counts_stale = False  # the counts shown answer an older question (the new ones are on their way)

    def _start_deferred_counts(self, generation: int) -> None:
        if self._counts_after_page is not None and self._counts_after_page == generation:
            self._counts_after_page = None
            self._load_counts(generation, self.query_state.search)

    def _set_counts_stale(self, stale: bool) -> None:
        """Hook (``BrowserScreen`` dims its tabs); the info line shows "…" for the total meanwhile."""
        self.counts_stale = stale

    def _counts_unchanged(self, generation: int) -> None:
        """The counts of ``generation`` came with its rows or not at all (``BrowserScreen``)."""
        self.counts_stale = False

    @work(thread=True, group="browser.counts", exit_on_error=False)  # answers are matched, not cancelled
    def _load_counts(self, generation: int, search: str) -> None:
        counts = self.fetch_counts(search)
        if get_current_worker().is_cancelled:
            return
        if counts is not None:
            self.post_message(CountsLoaded(counts, generation))
        elif self.counts_stale:
            try:  # counted with the rows (LOCAL, posted before the page) or not at all: no longer stale
                self.app.call_from_thread(self._counts_unchanged, generation)
            except RuntimeError:
                pass  # the app is closing

    _keep_pending: str | None = None  # where a quiet reread still on its way is to put the cursor
    _detail_seq = 0  # reads of a detail started so far
    _detail_shown_seq = 0  # the read whose answer is shown

    def _fetch_detail(self, key: str) -> None:
        self._detail_seq += 1
        self._read_detail(key, self._detail_seq)

    @work(thread=True, group="browser.detail", exit_on_error=False)  # answers are matched, not cancelled
    def _read_detail(self, key: str, seq: int) -> None:
        detail = self.fetch_detail(key)
        if not get_current_worker().is_cancelled:
            self.post_message(DetailLoaded(key, detail, seq))

    def _fetch_detail_now(self, key: str) -> None:
        if self._detail_timer is not None:
            self._detail_timer.stop()
            self._detail_timer = None
        self._fetch_detail(key)

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
            self._keep_pending = None  # the newest reread has landed (older answers never get here)
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
            for key in self.kept - {target}:
                # kept with the record read before the change: its row takes its fresh state from a
                # read of the record (the one under the cursor gets its own through the detail)
                self._read_detail(key, 0)
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
        if event.kind == "reset":
            # after this frame: the page is painted before the count's statement competes with it
            self.call_after_refresh(self._start_deferred_counts, event.generation)
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
            (self.above if not keep_bottom else self.below).append(
                (chunk.reverse, chunk.start, len(chunk.keys) or self.PAGE_SIZE)
            )
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
        if not all(k in gone for k in current[:n_gone]) or keys[: len(kept)] != kept:
            self._show_window(self.selected, None)  # not the simple shape: rebuild
            return
        cursor_key = table.key_at_cursor()
        offset = table.cursor_row - int(table.scroll_y) if table.row_count else 0
        with self.app.batch_update():
            table.remove_rows(current[:n_gone])  # one renumbering, not one per row
            for key in keys[len(kept) :]:
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
                for key in keys[len(current) :]:
                    table.add_row(*self._cells(self.records[key]), key=key)
                self._update_info()
                return
            shown = set(keys)
            kept = [k for k in current if k in shown]
            if len(current) - len(kept) <= self.REMOVE_IN_PLACE and keys[: len(kept)] == kept:
                # the same rows, a few gone, new ones after them (a reread after a change): the rows
                # that left are removed, the others updated cell by cell, the new ones appended;
                # the table is not rebuilt and its unchanged cells keep their rendering
                table.remove_rows([key for key in current if key not in shown])
                for key in kept:
                    for column, cell in zip(self.columns, self._cells(self.records[key])):
                        if table.get_cell(key, column.key) != cell:
                            table.update_cell(key, column.key, cell)
                for key in keys[len(kept) :]:
                    table.add_row(*self._cells(self.records[key]), key=key)
            else:
                table.clear()
                for key in keys:
                    table.add_row(*self._cells(self.records[key]), key=key)
            # the column widths from these rows before the first frame shows them (not drawn twice)
            measure_table_now(table)
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
            for k in previous[at + 1 :]:
                if k in positions:
                    return positions[k]
            for k in reversed(previous[:at]):
                if k in positions:
                    return positions[k]
            return min(at, len(keys) - 1)
        return 0

    def _cells(self, row: Any) -> list[Text]:
        return [cut(cell, c.width) for c, cell in zip(self.columns, self.row_cells(row))]

    def total(self) -> int | None:
        if self.counts_stale:
            return None
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

    def _reset_from(self, reverse: bool) -> None:
        self.generation += 1
        self.above.clear()
        self.below.clear()
        self._fetching = True
        self._load(
            self.generation,
            self.query_state,
            "jump-end" if reverse else "jump-top",
            reverse,
            None,
            self.PAGE_SIZE,
            None,
        )

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
            if event.key in self.kept and event.detail is not None and event.key in self.table.rows:
                self.detail_changed_row(event.key, event.detail)
            return
        if event.seq and event.seq < self._detail_shown_seq:
            # two reads of this record were in flight (one from before an action or a live change, one
            # after) and the older answered last, on a loaded machine: the newer one is already shown
            return
        self._detail_shown_seq = max(self._detail_shown_seq, event.seq)
        self.detail = event.detail
        self._render_detail(event.detail)
        if event.detail is not None and event.key in self.table.rows:
            self.detail_changed_row(event.key, event.detail)

    def detail_changed_row(self, key: str, detail: Any) -> None:
        """Hook: the fresh detail of a shown row (e.g. its new status into the row's cell)."""

    def _render_detail(self, detail: Any) -> None:
        self.query_one("#detail-empty").display = detail is None
        self.show_detail(detail)

    async def _mount_deferred(self) -> None:
        """Hook: the chrome mounted after the first paint (``BrowserScreen``)."""
