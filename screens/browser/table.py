"""The record browser's list widget."""

from __future__ import annotations

from textual.coordinate import Coordinate
from textual.message import Message

from screens.widgets import RequestTable


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
        return str(self.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value)

    def action_scroll_bottom(self) -> None:
        super().action_scroll_bottom()
        self.post_message(self.JumpEnd(top=False))

    def action_scroll_top(self) -> None:
        super().action_scroll_top()
        self.post_message(self.JumpEnd(top=True))
