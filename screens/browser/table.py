"""The record browser's list widget."""

from __future__ import annotations

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.coordinate import Coordinate
from textual.message import Message
from textual.strip import Strip

from screens.widgets import RequestTable


class RecordTable(RequestTable):
    """The list widget: rows keyed by record; the record under the cursor is read synchronously."""

    class JumpEnd(Message):
        def __init__(self, top: bool) -> None:
            super().__init__()
            self.top = top

    _marked: dict[int, tuple[Strip, Strip]]  # id(line as drawn) -> (that line, the line shown: itself or ending in "…")

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """The line as drawn, and when the pane's right edge cuts a cell's text (the table is wider than
        its pane), that cell's last visible character is "…".

        Whether a line is cut is worked out once per line drawn: the table's line cache hands back the
        same ``Strip`` while the line's row, position, crop and drawing are unchanged, and so is the
        answer. (It was worked out again for every line of every frame: each Down or PageDown asked
        ``_text_cut_at`` for the whole visible table, a row's renderables and a cell's width each time,
        on the event loop, ~10% of its time while a key was held.)"""
        strip = super()._render_line(y, x1, x2, base_style)
        if x2 >= self.virtual_size.width:
            return strip
        marked = self.__dict__.setdefault("_marked", {})
        known = marked.get(id(strip))
        if known is not None and known[0] is strip:
            return known[1]
        line = strip
        if self._text_cut_at(y, x2):
            width = strip.cell_length
            last = [seg for seg in strip.crop(width - 1, width) if seg.text]
            ellipsis = Strip([Segment("…", last[-1].style if last else base_style)])
            line = Strip.join([strip.crop(0, width - 1), ellipsis])
        if len(marked) > 8 * max(self.size.height, 10):
            marked.clear()  # the table's own line cache keeps the lines drawn; this one follows them
        marked[id(strip)] = (strip, line)
        return line

    def _text_cut_at(self, y: int, x: int) -> bool:
        """Whether the text of line ``y``'s cell that spans column ``x`` (of the whole table) goes on
        past ``x``: a cut ending in padding, or between columns, cuts no text. (The browser's rows have
        no labels and it fixes no columns: every column scrolls.)"""
        if self.fixed_columns:
            return False
        try:
            row_key, line_no = self._get_offsets(y)
        except LookupError:
            return False
        pad, start = self.cell_padding, 0
        for index, column in enumerate(self.ordered_columns):
            end = start + column.get_render_width(self)
            if start <= x < end:
                break
            start = end
        else:
            return False
        if x <= start + pad:
            return False  # not one character of this cell's text is visible
        row_index = self._row_locations.get(row_key)
        if row_index is not None:
            cells = self._get_row_renderables(row_index).cells
            cell = cells[index] if index < len(cells) else ""
        else:  # the header
            cell = column.label
        lines = (cell.plain if isinstance(cell, Text) else str(cell)).splitlines()
        text_width = cell_len(lines[line_no]) if line_no < len(lines) else 0
        return x < start + pad + min(text_width, column.get_render_width(self) - 2 * pad)

    def key_at_cursor(self) -> str | None:
        if not self.row_count:
            return None
        row = min(max(self.cursor_row, 0), self.row_count - 1)
        return str(self.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value)

    def action_scroll_bottom(self) -> None:
        super().action_scroll_bottom()
        self.post_message(self.JumpEnd(top=False))

    def action_scroll_top(self) -> None:
        super().action_scroll_top()
        self.post_message(self.JumpEnd(top=True))

    def action_scroll_end(self) -> None:
        """``End`` in a record list goes to the last record, as ``ctrl+end`` (DataTable scrolled the
        row cursor's table sideways to its last column)."""
        if self.cursor_type == "row":
            self.action_scroll_bottom()
        else:
            super().action_scroll_end()

    def action_scroll_home(self) -> None:
        """``Home``: the first record, as ``ctrl+home``."""
        if self.cursor_type == "row":
            self.action_scroll_top()
        else:
            super().action_scroll_home()
