"""Small building blocks shared by the screens: safe text, error reporting, the request list.

Every customer-supplied value reaches a widget through ``data()`` (controls stripped, a
``Text`` so it is never parsed as markup) or ``labelled()``.
"""

from __future__ import annotations

from datetime import datetime
from itertools import chain
from typing import Any, Iterable

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Span, Text
from textual.coordinate import Coordinate
from textual.geometry import Region
from textual.message import Message
from textual.message_pump import MessagePump
from textual.strip import Strip
from textual.widgets import DataTable, Static
from textual.widgets.data_table import CellKey, ColumnKey, RowKey
from textual.worker import Worker, WorkerState

from screens.textual_compat import TwoWayDict, line_crop
from services.text import strip_controls


def data(value: Any, style: str = "") -> Text:
    """Untrusted value -> Text shown literally (no markup, no terminal controls)."""
    if value is None:
        return Text("", style=style)
    if isinstance(value, datetime):
        value = f"{value:%Y-%m-%d %H:%M}"
    return Text(strip_controls(str(value), multiline=True), style=style)


def restore_cursor(table: DataTable, previous: str | None) -> str | None:
    """After a reload: the cursor back on the row keyed ``previous`` (else the first row).

    Returns the key of the row now under the cursor, or None when the table is empty.
    """
    if not table.row_count:
        return None
    try:
        index = table.get_row_index(previous) if previous is not None else 0
    except Exception:  # that row is gone (another filter, acted on...)
        index = 0
    table.move_cursor(row=index, animate=False, scroll=True)
    return str(table.coordinate_to_cell_key(Coordinate(index, 0)).row_key.value)


def history_text(history: Iterable[Any]) -> Text:
    """A record's audit trail (services.audit.AuditView items), oldest first, as data."""
    out = Text()
    for i, h in enumerate(history):
        if i:
            out.append("\n")
        out.append(f"{h.at:%Y-%m-%d %H:%M}  ", style="dim")
        out.append_text(data(h.operator, style="bold"))
        out.append("  ")
        out.append_text(data(h.action))
        before = (h.before or {}).get("status")
        after = (h.after or {}).get("status")
        if after and before and before != after:
            out.append("  ")
            out.append_text(data(f"{before} → {after}", style="italic"))
        if h.comment:
            out.append("\n    ")
            out.append_text(data(h.comment, style="italic"))
    return out or Text("no history", style="dim")


def labelled(rows: Iterable[tuple[str, Any]], width: int = 18) -> Text:
    """Label: value lines; labels are ours (styled), values are data."""
    out = Text()
    for i, (label, value) in enumerate(rows):
        if i:
            out.append("\n")
        out.append(f"{label:<{width}}", style="bold")
        out.append_text(data(value if value not in (None, "") else "—"))
    return out


def error_text(exc: BaseException) -> str:
    """A message for any error: a refusal's own words, else the kind of failure (never a traceback)."""
    from services.errors import RegdeskError

    if isinstance(exc, RegdeskError):
        return strip_controls(exc.message, multiline=True)
    if type(exc).__name__ == "OperationalError" and hasattr(exc, "orig"):  # the database went away (SQLAlchemy)
        return strip_controls(f"cannot use the database: {str(exc.orig).strip() or exc}")
    return strip_controls(f"unexpected {exc.__class__.__name__}: {exc}")


class Section(Static):
    """A block of the detail pane: ``show(text)`` repaints (and asks for a layout) only when the
    text differs from what it shows, so rereading a record repaints only what changed."""

    _shown: Text | None = None

    def show(self, text: Text) -> None:
        if self._shown is not None and text == self._shown:
            return
        before, self._shown = self._shown, text
        # a layout of the whole screen (20-30 ms while scrolling at load) only when the block's height
        # may change: the next record's detail usually has the same lines, none wider than the pane
        lines = self._lines(text)
        self.update(text, layout=before is None or lines is None or lines != self._lines(before))

    def _lines(self, text: Text) -> int | None:
        """How many lines the text takes here (None: wrapped or unknown, so its height may differ)."""
        width = self.content_region.width
        lines = text.plain.split("\n")
        if not width or self.styles.height is None or not self.styles.height.is_auto:
            return None
        return len(lines) if all(cell_len(line) <= width for line in lines) else None


class ReportsWorkerErrors(MessagePump):
    """Base for screens (``class X(ReportsWorkerErrors, Screen)``): a worker that failed becomes a
    notification, never a traceback."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.app.notify(
                error_text(event.worker.error),
                title="Refused" if _is_refusal(event.worker.error) else "Error",
                severity="warning" if _is_refusal(event.worker.error) else "error",
                markup=False,
                timeout=8,
            )


def _is_refusal(exc: BaseException) -> bool:
    from services.errors import RegdeskError

    return isinstance(exc, RegdeskError)


_AWAY = Coordinate(-2, -2)  # a cursor on no row (the header is row -1)
_MISSING = object()


def _same_cell(a: Any, b: Any) -> bool:
    """The same cell value, drawn the same (``Text.__eq__`` ignores the base style)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, Text):
        return a.plain == b.plain and a.style == b.style and a.spans == b.spans and a.justify == b.justify
    return bool(a == b)


_FAST = "fast"  # marks RequestTable's cell cache keys (their count is not DataTable's ``_update_count``)
_ROW = "row"  # marks RequestTable's row cache keys (``_render_row``), in the same cache


class RequestTable(DataTable):
    """The Registration list: rows keyed by request number; asks for more when scrolled near the end."""

    class NearEnd(Message):
        """The visible part of the table is close to the last loaded row."""

    class NearTop(Message):
        """The visible part of the table is close to the first loaded row (a bounded window may read above it)."""

    MARGIN = 10

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._check_near_end()
        if new_value < old_value:
            self._check_near_top()

    def watch_cursor_coordinate(self, old_value, new_value) -> None:  # type: ignore[override]
        super().watch_cursor_coordinate(old_value, new_value)
        self._check_near_end()
        if new_value.row < old_value.row:
            self._check_near_top()

    def near_top(self) -> bool:
        return bool(self.row_count) and min(int(self.scroll_y), self.cursor_row) <= self.MARGIN

    def _check_near_top(self) -> None:
        if self.near_top():
            self.post_message(self.NearTop())

    def near_end(self) -> bool:
        if not self.row_count:
            return False
        visible_end = int(self.scroll_y) + self.scrollable_content_region.height
        return max(visible_end, self.cursor_row + 1) >= self.row_count - self.MARGIN

    def _check_near_end(self) -> None:
        if self.near_end():
            self.post_message(self.NearEnd())

    # ------------------------------------------------------------------ cheaper measuring and cell path

    def _update_dimensions(self, new_rows: Iterable[Any]) -> None:
        """DataTable's column widths, measuring plain ``Text`` cells directly.

        A ``Text`` cell's width is what ``Text.__rich_measure__`` gives (its widest line), without
        building console options for every cell; rows with a label or an automatic height, or a
        cell of another kind, are measured the stock way (which also sets the virtual size).
        """
        rest = []
        columns = self.ordered_columns
        widths = [column.content_width for column in columns]
        for row_key in new_rows:
            row_index = self._row_locations.get(row_key)
            row = self.rows.get(row_key)
            if row_index is None or row is None:
                continue  # removed before the idle pass, as DataTable skips it
            cells = self._get_row_renderables(row_index).cells
            texts = [cell for cell in cells if isinstance(cell, Text) and type(cell) is Text]
            if row.label is not None or row.auto_height or len(texts) != len(cells):
                rest.append(row_key)
                continue
            for column, cell in zip(columns, texts):
                lines = cell.plain.splitlines()
                width = max(map(cell_len, lines)) if lines else 0
                if width > column.content_width:
                    column.content_width = width
        super()._update_dimensions(rest)
        if [column.content_width for column in columns] != widths:
            # a column grew: DataTable's cell and row caches are keyed on this count, not on the width,
            # so a cell drawn at the old width must not be served again (a snapshot under load once
            # showed a first row cut to "PRO-00" after PRO-000002 arrived; not reproduced on demand)
            self._update_count += 1

    def remove_rows(self, keys: Iterable[str]) -> None:
        """Remove these rows in one pass: what ``remove_row`` does for each, but the row positions are
        renumbered once (DataTable's ``remove_row`` renumbers every row each time: a page of 60 leaving
        a window of 300 was 60 passes over the table, on the event loop while scrolling)."""
        gone = {str(k) for k in keys} & {str(k.value) for k in self._row_locations}
        if not gone:
            return
        self._require_update_dimensions = True
        self.check_idle()
        locations = self._row_locations
        ordered = sorted(locations, key=locations.get)  # type: ignore[arg-type]
        renumbered: TwoWayDict[RowKey, int] = TwoWayDict({})
        for row_key in ordered:
            if row_key.value in gone:
                for column_key in self._data.get(row_key, {}):
                    self._updated_cells.discard(CellKey(row_key, column_key))
                del self.rows[row_key]
                del self._data[row_key]
            else:
                renumbered[row_key] = len(renumbered)
        self._row_locations = renumbered
        self.cursor_coordinate = self.cursor_coordinate
        self.hover_coordinate = self.hover_coordinate
        self._update_count += 1
        # the rows that stay are drawn as before (their cells are cached by row key; a line is keyed on
        # its row and the row's position): the caches stay, as after an append. A cell keeps the row
        # index it was drawn at in its style's meta: the mouse handlers below read the row from the
        # pointer's position instead
        self._appended += 1
        # no layout of the whole screen here: the table's height changes the virtual size when its
        # dimensions are updated (on idle), which asks for one then, only if it changed (a page dropped
        # and one appended, as while scrolling the bounded window, leave it as it was)
        self.refresh()

    def labels_changed(self) -> None:
        """The column labels were set in place (``columns[key].label = ...``): draw the header again
        (appends leave the caches' count as it was, so the header's line would be served from them).

        A label that no longer fits its column (a sort arrow appended) keeps its end visible: an
        automatic column widens to it; a fixed one shows the label cut with "…" and then the arrow
        (the arrow was cut off when the label filled its column)."""
        for column in self.columns.values():
            label = column.label
            width = cell_len(label.plain)
            if column.auto_width:
                if width > column.content_width:
                    column.content_width = width
                    self._require_update_dimensions = True  # the table's width changed
                    self.check_idle()
            elif width > column.width > 3 and label.plain.endswith((" ▲", " ▼")):
                arrow = label[-2:]
                name = label[:-2]
                name.truncate(column.width - 2, overflow="ellipsis")
                column.label = name + arrow
        self._update_count += 1
        self.refresh()

    _resized_to: Any = None

    def _on_resize(self, event: Any) -> None:
        """DataTable counts every Resize as an update of every row (its row cache is not keyed on the
        width); a Resize also comes when only the virtual size changed (rows appended): every visible
        row was drawn again. Passed on only when the table's own size changed."""
        if event.size == self._resized_to:
            event.prevent_default()  # DataTable's handler (the only one in the MRO) is not called
            return
        self._resized_to = event.size

    def _row_under_pointer(self, event: Any) -> None:
        """A cell's style carries the row index it was drawn at (DataTable's mouse handlers read it);
        a cell drawn before rows above it were removed is kept (``remove_rows``), so the pointer's
        row is worked out from its position and given to DataTable's handler (called after this
        one, along the MRO) in the event's style."""
        meta = event.style.meta
        if not meta or meta.get("row", -1) < 0:
            return
        header = self.header_height if self.show_header else 0
        if event.y < header:
            return
        try:
            row_key, _ = self._get_offsets(event.y + int(self.scroll_y))
        except LookupError:
            return
        row = self._row_locations.get(row_key) if row_key in self._row_locations else None
        if row is not None and row != meta["row"]:
            event.style = event.style + Style.from_meta({**meta, "row": row})

    async def _on_click(self, event: Any) -> None:
        self._row_under_pointer(event)

    def _on_mouse_move(self, event: Any) -> None:
        self._row_under_pointer(event)

    _row_drawn: dict[Any, int] | None = None  # row key -> updates of that row's cells (cache keys)

    def update_cell(self, row_key: Any, column_key: Any, value: Any, *, update_width: bool = False) -> None:
        """DataTable's ``update_cell``, which counts as an update of every row (all the caches): the
        detail's status written into its row on every selection drew every visible row again. The
        same value is not written; another one invalidates only its row's drawing (unless the column
        may widen)."""
        row = RowKey(row_key) if isinstance(row_key, str) else row_key
        column = ColumnKey(column_key) if isinstance(column_key, str) else column_key
        current = self._data.get(row, {}).get(column, _MISSING)
        if _same_cell(current, value):
            return
        before = self._update_count
        super().update_cell(row_key, column_key, value, update_width=update_width)
        if not update_width:
            self._appended += self._update_count - before
            if self._row_drawn is None:
                self._row_drawn = {}
            self._row_drawn[row] = self._row_drawn.get(row, 0) + 1

    def _drawn_version(self, row_key: Any) -> int:
        return self._row_drawn.get(row_key, 0) if self._row_drawn else 0

    def _drawn_state(self, row_key: Any) -> tuple[Any, ...]:
        """What every cached drawing of a row (line, row, cell) depends on besides its own inputs:
        the row's own redraws, the hover cursor, the table's updates (appends left out) and its
        pseudo classes. One place, so that the three caches cannot disagree on when to redraw."""
        return (
            self._drawn_version(row_key),
            self._show_hover_cursor,
            self._update_count - self._appended,
            self._pseudo_class_state,
        )

    _appended = 0  # rows appended: DataTable counts them as updates, the drawing of other rows is unchanged

    def add_row(self, *cells: Any, height: int | None = 1, key: str | None = None, label: Any = None) -> RowKey:
        """DataTable's ``add_row``; the row goes below the others, which are drawn as before, so the
        line and cell caches (keyed on ``_update_count - _appended``) stay: appending a page while
        scrolling drew every visible row again (DataTable keys them on every update)."""
        before = self._update_count
        row_key = super().add_row(*cells, height=height, key=key, label=label)
        self._appended += self._update_count - before
        return row_key

    # ------------------------------------------------------------------ lines cached across cursor moves

    def _get_row_region(self, row_index: int) -> Region:
        """DataTable's ``_get_row_region`` without summing the heights of every row above: when every
        row is one line high (the lines are as many as the rows), a row's line is its index. DataTable
        summed them for each of the three regions a cursor move asks for (the row left, the row
        reached, the one scrolled into view), up to 300 rows each in a scrolled window, per key."""
        locations = self._row_locations
        if not 0 <= row_index < len(locations) or len(self._y_offsets) != len(locations):
            return super()._get_row_region(row_index)
        row_width = sum(column.get_render_width(self) for column in self.columns.values()) + (
            self._row_label_column_width
        )
        y = row_index + (self.header_height if self.show_header else 0)
        return Region(0, y, max(self.size.width, row_width), 1)

    def _cursor_view(self, row_key: Any, cursor: Coordinate, hover: Coordinate) -> tuple[Coordinate, Coordinate]:
        """The cursor and hover positions as one row of a row-cursor table sees them: where they are
        when on this row, else ``_AWAY``. DataTable keys its line and row caches on the cursor's
        coordinate, so every cursor move missed the cache of every visible line and a scroll by one
        line (Down at the bottom of the view) drew all of them again (bench/console_bench.py: the
        table's drawing was what the event loop did in the stalls while a key was held); keyed on
        this view, only the rows the cursor left and reached, and the new line, are drawn. A row
        renders the same for every cursor position off it (DataTable's ``_should_highlight`` for a
        row cursor compares rows only)."""
        if self.cursor_type != "row":
            return cursor, hover
        row = self._row_locations.get(row_key) if row_key in self._row_locations else -1
        return (cursor if cursor.row == row else _AWAY, hover if hover.row == row else _AWAY)

    def _own_line_path(self) -> bool:
        """A body row's line is drawn by ``_render_line_in_row``'s own path (not DataTable's)."""
        return (
            self.cursor_type == "row"
            and not self.fixed_columns
            and not self.fixed_rows
            and not (self._labelled_row_exists and self.show_row_labels)
        )

    def _render_line_in_row(
        self, row_key: Any, line_no: int, base_style: Style, cursor_location: Coordinate, hover_location: Coordinate
    ) -> Any:
        cursor_location, hover_location = self._cursor_view(row_key, cursor_location, hover_location)
        row_index = self._row_locations.get(row_key) if row_key in self._row_locations else None
        if row_index is None or not self._own_line_path():
            return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)
        # DataTable's _render_line_in_row for a body row of a row-cursor table without labels or fixed
        # columns, the same segments (tests/test_request_table.py compares them), without what it
        # works out again for every row: the header's and the row's component styles (a style
        # computation each), the column widths and the background (an ancestor walk)
        row_style = self._row_style(row_index, base_style)
        cursor = cursor_location.row == row_index
        hover = hover_location.row == row_index
        row = self.rows.get(row_key)
        if row is not None and row.height == 1 and line_no == 0:
            # the row's cells drawn in one pass (``_render_row``), kept as one list: what each cell's
            # ``_render_cell`` gives, joined, with a cell's own pieces of one style already merged
            row_segments, table_width = self._render_row(row_key, row_index, row_style, cursor, hover)
            scrollable_row = [row_segments]
        else:
            render_cell = self._render_cell
            scrollable_row = []
            table_width = self._row_label_column_width
            for column_index, column in enumerate(self.ordered_columns):
                width = column.get_render_width(self)
                table_width += width
                scrollable_row.append(
                    render_cell(row_index, column_index, row_style, width, cursor=cursor, hover=hover)[line_no]
                )
        extend_style, _ = self._get_styles_to_render_cell(
            False,
            False,
            False,
            hover_location.row == (row_index or 0),
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            False,
            False,
        )
        extend_style = (
            row_style + extend_style + Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})
        )
        scrollable_row.append([Segment(" " * max(0, self.size.width - table_width), extend_style)])
        return [], scrollable_row

    _cell_styles: dict[Any, Style] | None = None  # a cell piece's style without the meta, by (pre style, piece style)

    def _render_row(
        self, row_key: Any, row_index: int, row_style: Style, cursor: bool, hover: bool
    ) -> tuple[list[Segment], int]:
        """A body row of height 1, all its cells: the segments ``_render_cell`` gives for each, joined
        (``_render_line`` simplifies the line: a cell's padding, text and filler of one style are
        one segment here already), and the row's width.

        ``_render_cell`` per cell looked up its own cache (a key of ten parts), read the table's
        reactive settings, the row's cells and the column's width again, and built the cell's style
        from its meta for every piece: drawing a page that had just arrived (a search, a sort, a
        filter) was ~1 ms a row, most of the key-to-repaint of a search that fills the screen. Here
        that is done once a row; a piece's style without the meta (the same few for every row) is
        kept, and the cell's meta (its position, which differs for every cell) is added last, which
        gives the same style (the meta and its link id are what the other parts never set). The
        result is cached on the row as the cells were (not on its position: see ``remove_rows``).
        A cell that is not a one-line ``Text`` fitting its column goes through ``_render_cell``."""
        cache_key = (row_key, row_style, cursor, hover, _ROW, *self._drawn_state(row_key))
        cache: Any = self._cell_render_cache  # keyed here on more than DataTable's key type says
        cached = cache.get(cache_key)
        if cached is not None:
            return cached
        columns = self.ordered_columns
        cells = self._get_row_renderables(row_index).cells
        pad = self.cell_padding
        show_cursor = self.show_cursor
        component_style, post_style = self._get_styles_to_render_cell(
            False,
            False,
            False,
            hover,
            cursor,
            show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        pre_style = row_style + component_style
        styles = self._cell_styles
        if styles is None or len(styles) > 512:
            styles = self._cell_styles = {}
        get_style = self.app.console.get_style
        spaces = " " * pad
        segments: list[Segment] = []
        append = segments.append
        table_width = self._row_label_column_width
        # the meta (with its link id) goes last: the other parts must have neither
        plain_styles = not (pre_style._meta or pre_style._link_id or post_style._meta or post_style._link_id)
        for column_index, column in enumerate(columns):
            width = column.get_render_width(self)
            table_width += width
            cell = cells[column_index] if column_index < len(cells) else None
            if (
                not plain_styles
                or type(cell) is not Text
                or cell.justify not in (None, "default", "left")
                or not cell.plain.isprintable()
                or cell_len(cell.plain) > width - 2 * pad
            ):
                segments.extend(
                    self._render_cell(row_index, column_index, row_style, width, cursor=cursor, hover=hover)[0]
                )
                continue
            plain = cell.plain
            fill = " " * (width - 2 * pad - cell_len(plain))
            if not cell.spans:
                pieces = [(plain, get_style(cell.style) if cell.style else None)] if plain else []
            else:
                if cell.style:  # as Rich's Text rendering does (Text.join): the base style becomes the first span
                    styled = Text(plain, end="")
                    styled.spans = [Span(0, len(cell), cell.style), *cell.spans]
                    cell = styled
                pieces = [(seg.text, seg.style) for seg in cell.render(self.app.console, end="") if seg.text]
            if any(style is not None and (style._meta or style._link_id) for _, style in pieces):
                segments.extend(  # a piece with meta or a link of its own: as ``_render_cell`` draws it
                    self._render_cell(row_index, column_index, row_style, width, cursor=cursor, hover=hover)[0]
                )
                continue
            blank = styles.get((pre_style, None, post_style))
            if blank is None:
                blank = styles[pre_style, None, post_style] = pre_style + post_style
            meta = Style.from_meta({"row": row_index, "column": column_index})
            text, text_style = spaces, blank  # the padding
            for piece, piece_style in pieces:
                key = (pre_style, piece_style, post_style)
                style = styles.get(key)
                if style is None:
                    style = styles[key] = pre_style + piece_style + post_style
                if style == text_style:
                    text += piece
                    continue
                if text:
                    append(Segment(text, text_style + meta))
                text, text_style = piece, style
            tail = fill + spaces
            if blank == text_style:
                text += tail
                tail = ""
            if text:
                append(Segment(text, text_style + meta))
            if tail:
                append(Segment(tail, blank + meta))
        result = (segments, table_width)
        cache[cache_key] = result
        return result

    _row_styles: dict[Any, Style] | None = None

    def _row_style(self, row_index: int, base_style: Style) -> Style:
        """DataTable's ``_get_row_style`` for a body row, kept until the styles change."""
        if not self.zebra_stripes:
            return base_style
        styles = self._row_styles
        if styles is None:
            styles = self._row_styles = {}
        odd = bool(row_index % 2)
        style = styles.get(odd)
        if style is None:
            style = styles[odd] = self._get_row_style(row_index, base_style)
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._row_styles = None

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """DataTable's ``_render_line`` with its cache keyed on ``_cursor_view`` and, for a body row
        drawn by ``_render_line_in_row``'s own path, on the row and its line rather than on the line's
        position and the row's index: rows dropped above (a page leaving the bounded window while
        scrolling down) move every row up and renumber it, and every visible line was drawn again
        in the frame that followed (and the screenful ahead), though each looks the same but for
        its zebra stripe (kept in the key: the parity of the index) and the index in its style's
        meta, which the pointer handlers work out from the pointer's position instead (as for the
        cells: ``remove_rows``, ``_row_under_pointer``)."""
        width = self.size.width
        try:
            row_key, y_offset_in_row = self._get_offsets(y)
        except LookupError:
            return Strip.blank(width, base_style)
        cursor, hover = self._cursor_view(row_key, self.cursor_coordinate, self.hover_coordinate)
        row_index = self._row_locations.get(row_key) if row_key in self._row_locations else None
        if row_index is not None and self._own_line_path():
            where: tuple[Any, ...] = (y_offset_in_row, row_key, row_index % 2)
        else:
            # rows removed above move the others up: the line at y is another row's; its meta, zebra
            where = (y, row_key, -1 if row_index is None else row_index)
        cache_key = (
            *where,
            x1,
            x2,
            width,
            cursor,
            hover,
            base_style,
            self.cursor_type,
            *self._drawn_state(row_key),
        )
        line_cache: Any = self._line_cache  # keyed here on more than DataTable's key type says
        if cache_key in line_cache:
            return line_cache[cache_key]
        fixed, scrollable = self._render_line_in_row(
            row_key, y_offset_in_row, base_style, cursor_location=cursor, hover_location=hover
        )
        fixed_width = sum(column.get_render_width(self) for column in self.ordered_columns[: self.fixed_columns])
        fixed_line: list[Segment] = list(chain.from_iterable(fixed)) if fixed else []
        scrollable_line: list[Segment] = list(chain.from_iterable(scrollable))
        segments = fixed_line + line_crop(scrollable_line, x1 + fixed_width, x2, width)
        strip = Strip(segments).adjust_cell_length(width, base_style).simplify()
        line_cache[cache_key] = strip
        return strip

    # ------------------------------------------------------------------ lines kept across frames

    def render_lines(self, crop: Region) -> list[Strip]:
        """The table's lines for the compositor, without Textual's styles cache in the common case.

        Textual's ``Widget.render_lines`` passes every line through its styles cache, which throws
        its lines away at every refresh of the widget (a scroll by one line, a row appended), then
        styles each line again: reads the widget's ``rich_style`` (an ancestor walk, once per line
        in ``DataTable.render_line``), pads, tints, builds a new ``Strip`` and another one through
        each line filter. For a table whose box is plain (no border, padding, outline, tint, hatch,
        opacity; the size of its content region) that styling leaves the line as it is, so here the
        line comes straight from ``_render_line``'s cache (the same ``Strip`` while the row is drawn
        the same) and the line filters' results are cached on it by Textual (``apply_filter``):
        a frame that only scrolls reuses every line it already drew. Anything else goes the stock
        way. (bench/console_bench.py: the table's drawing was most of the event loop's time while
        a key was held.)"""
        self._pseudo_class_state = self.get_pseudo_class_state()
        if not self._plain_box():
            return super().render_lines(crop)
        width = self.size.width
        base_background, background = self.background_colors
        filters = self.get_line_filters()
        base_style = self.rich_style  # DataTable.render_line reads it for every line
        scroll_x, scroll_y = self.scroll_offset
        header = self.header_height if self.show_header else 0
        render_line = self._render_line
        shown = self._lines_shown_for(width, scroll_x, base_style, background, filters)
        y_offsets = self._y_offsets if shown is not None else ()
        locations = self._row_locations
        cursor, hover = self.cursor_coordinate, self.hover_coordinate
        drawn = self._row_drawn
        strips = []
        for y in crop.line_range:
            line_y = y + scroll_y - header  # the body's line (the rows' offsets)
            if shown is None or y < header or not 0 <= line_y < len(y_offsets):
                strip = render_line(y + scroll_y if y >= header else y, scroll_x, scroll_x + width, base_style)
                for line_filter in filters:
                    strip = strip.apply_filter(line_filter, background)
                strips.append(strip)
                continue
            row_key, line_no = y_offsets[line_y]
            row = locations.get(row_key)
            key = (
                line_no,
                row_key,
                -1 if row is None else row % 2,  # as ``_render_line`` keys it (its zebra stripe)
                cursor if cursor.row == row else None,
                hover if hover.row == row else None,
                drawn.get(row_key, 0) if drawn else 0,
            )
            known = shown.get(key)
            if known is None:
                known = render_line(y + scroll_y, scroll_x, scroll_x + width, base_style)
                for line_filter in filters:
                    known = known.apply_filter(line_filter, background)
                shown[key] = known
            strips.append(known)
        if crop.column_span != (0, width):
            x1, x2 = crop.column_span
            strips = [strip.crop(x1, x2) for strip in strips]
        if not self._draw_ahead_pending and scroll_y != self._drawn_ahead_from:
            # scrolled since the last frame (a held key, PageDown): what comes next is probably below
            self._draw_ahead_pending = True
            self._drawn_ahead_from = scroll_y
            self.call_later(self._draw_ahead)  # after this frame is written (not after the next one)
        return strips

    _lines_shown: dict[Any, Strip] | None = None  # a body line as last shown, by its row and what it shows of it
    _lines_shown_state: Any = None  # what every line of ``_lines_shown`` was drawn with

    def _lines_shown_for(
        self, width: int, scroll_x: int, base_style: Style, background: Any, filters: Iterable[Any]
    ) -> dict[Any, Strip] | None:
        """The lines shown in earlier frames, if this frame draws them the same way (None: every line
        goes through ``_render_line``).

        ``_render_line``'s own cache answers a line already drawn, but it works out the line's key
        (the row at that line, what the row sees of the cursor, the table's size and state: a dozen
        reads, several of them reactive) for every line of every frame, and the line filters and the
        cut check run again on the answer: most of the event loop's time in a frame that scrolled
        by one line (a held Down), for ~35 lines of which one was new. Here that is read once per
        frame, and a line is found by what differs from line to line: its row and line in the row,
        the row's zebra stripe, the cursor and hover on that row, and the row's own redraws (keyed as
        ``_render_line`` keys it for the rows it draws by its own path: not on the line's position)."""
        if not self._own_line_path():
            return None
        state = (
            width,
            scroll_x,
            base_style,
            background,
            tuple(map(id, filters)),
            self.virtual_size.width,  # the cut check ("…" at the pane's edge)
            self.show_cursor,
            *self._drawn_state(None)[1:],  # hover shown, the table's updates, pseudo classes
            id(self._line_cache),
        )
        shown = self._lines_shown
        if shown is None or state != self._lines_shown_state or len(shown) > 8 * max(self.size.height, 10):
            shown = self._lines_shown = {}
            self._lines_shown_state = state
        return shown

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._lines_shown = None

    _draw_ahead_pending = False
    _drawn_ahead_from: int | None = None

    def _draw_ahead(self) -> None:
        """After a frame is painted: the lines of the next screenful below drawn into the line cache,
        so that PageDown (or the rows a held Down brings in) finds them there instead of drawing a
        screenful of new rows in the frame that shows them (bench/console_bench.py: that drawing
        was most of a PageDown's frame). Only lines not cached yet are drawn: ~nothing after a
        scroll by one line."""
        self._draw_ahead_pending = False
        if not self.is_attached or not self.row_count or not self._plain_box():
            return
        width = self.size.width
        scroll_x, scroll_y = self.scroll_offset
        height = self.size.height
        header = self.header_height if self.show_header else 0
        base_style = self.rich_style
        last = header + len(self._y_offsets)
        start, end = scroll_y + height, min(scroll_y + 2 * height - header, last)
        # the lines drawn ahead after the last frame are still in the line cache unless the table
        # changed meanwhile: a frame that scrolled by one line has one line to draw ahead, not a
        # screenful to look up again
        state = (width, scroll_x, base_style, *self._drawn_state(None)[1:], self._update_count, self.row_count)
        drawn_from, drawn_to = self._drawn_ahead if state == self._drawn_ahead_state else (0, 0)
        if drawn_from <= start <= drawn_to:
            start, drawn = drawn_to, (drawn_from, max(drawn_to, end))
        else:
            drawn = (start, max(start, end))
        self._drawn_ahead_state, self._drawn_ahead = state, drawn
        for y in range(start, end):
            self._render_line(y, scroll_x, scroll_x + width, base_style)

    _drawn_ahead_state: Any = None  # the table as the lines below were drawn ahead ...
    _drawn_ahead = (0, 0)  # ... these lines (from, to)

    def _plain_box(self) -> bool:
        """What Textual's styles cache would do to a content line leaves it as it is."""
        styles = self.styles
        if self.fixed_rows or self.BLANK or not (self.region.size == self.content_region.size == self.size):
            return False  # padding, a border or a scrollbar gutter inside the region
        if self.opacity != 1.0 or styles.text_opacity != 1.0 or styles.tint.a:
            return False
        if any(edge for edge, _ in styles.border) or any(edge for edge, _ in styles.outline):
            return False
        if styles.has_rule("hatch") and styles.hatch != "none":
            return False
        if self._border_title is not None or self._border_subtitle is not None:
            return False
        if self.auto_links:
            hover = self.hover_style
            if hover._link_id and hover._meta and "@click" in hover.meta:
                return False
        return True

    # ------------------------------------------------------------------ a cheaper cell path

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        """DataTable's cell rendering, without Rich's general path for the common cell.

        A body cell that is a one-line ``Text`` fitting its column, in a row of height 1, is
        the padding, the text's own segments and the filler, each styled as ``Styled`` would
        style it: the same segments as the stock path (tests/test_request_table.py compares
        them for a sample page, so a Textual upgrade that changes them fails there). Anything
        else (header, labels, fixed cells, wrapping, wider text) goes the stock way.
        """
        if row_index < 0 or column_index < 0 or self.fixed_rows or self.fixed_columns:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        if row_key is None or column_key is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        cache_key = (row_key, column_key, base_style, cursor, hover, _FAST, *self._drawn_state(row_key))
        cache: Any = self._cell_render_cache  # keyed here on more than DataTable's key type says
        if cache_key in cache:
            return cache[cache_key]
        row = self.rows.get(row_key)
        cells = self._get_row_renderables(row_index).cells
        cell = cells[column_index] if column_index < len(cells) else None
        pad = self.cell_padding
        if (
            row is None
            or row.height != 1
            or type(cell) is not Text
            or cell.justify not in (None, "default", "left")
            or not cell.plain.isprintable()
            or cell_len(cell.plain) > width - 2 * pad
        ):  # controls, \n, \t...
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        component_style, post_style = self._get_styles_to_render_cell(
            False,
            False,
            False,
            hover,
            cursor,
            self.show_cursor,
            self._show_hover_cursor,
            self.cursor_foreground_priority == "css",
            self.cursor_background_priority == "css",
        )
        pre_style = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style
        plain = cell.plain
        if not cell.spans:  # what Text.render gives for one style (or none) over the whole text
            segments = [Segment(plain, self.app.console.get_style(cell.style) if cell.style else None)] if plain else []
        else:
            if cell.style:  # as Rich's Text rendering does (Text.join): the base style becomes the first span
                styled = Text(plain, end="")
                styled.spans = [Span(0, len(cell), cell.style), *cell.spans]
                cell = styled
            segments = [segment for segment in cell.render(self.app.console, end="") if segment.text]
        fill = width - 2 * pad - cell_len(plain)
        null = Style.null()
        if pad:
            segments.insert(0, Segment(" " * pad, null))
        if fill:
            segments.append(Segment(" " * fill, null))
        if pad:
            segments.append(Segment(" " * pad, null))
        segments = list(Segment.apply_style(segments, pre_style, post_style))
        lines = [segments]
        cache[cache_key] = lines
        return lines
