"""Small building blocks shared by the screens: safe text, error reporting, the request list.

Every customer-supplied value reaches a widget through ``data()`` (controls stripped, a
``Text`` so it is never parsed as markup) or ``labelled()``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable
from textual.worker import Worker, WorkerState

from services.text import strip_controls


def data(value: Any, style: str = "") -> Text:
    """Untrusted value -> Text shown literally (no markup, no terminal controls)."""
    if value is None:
        return Text("", style=style)
    if isinstance(value, datetime):
        value = f"{value:%Y-%m-%d %H:%M}"
    return Text(strip_controls(str(value), multiline=True), style=style)


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


class ReportsWorkerErrors:
    """Mixin for screens: a worker that failed becomes a notification, never a traceback."""

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.app.notify(error_text(event.worker.error), title="Refused" if _is_refusal(event.worker.error) else "Error",
                            severity="warning" if _is_refusal(event.worker.error) else "error", markup=False,
                            timeout=8)


def _is_refusal(exc: BaseException) -> bool:
    from services.errors import RegdeskError

    return isinstance(exc, RegdeskError)


class RequestTable(DataTable):
    """The Registration list: rows keyed by request number; asks for more when scrolled near the end."""

    class NearEnd(Message):
        """The visible part of the table is close to the last loaded row."""

    MARGIN = 10

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._check_near_end()

    def watch_cursor_coordinate(self, old_value, new_value) -> None:  # type: ignore[override]
        super().watch_cursor_coordinate(old_value, new_value)
        self._check_near_end()

    def near_end(self) -> bool:
        if not self.row_count:
            return False
        visible_end = int(self.scroll_y) + self.scrollable_content_region.height
        return max(visible_end, self.cursor_row + 1) >= self.row_count - self.MARGIN

    def _check_near_end(self) -> None:
        if self.near_end():
            self.post_message(self.NearEnd())
