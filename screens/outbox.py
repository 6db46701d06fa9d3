"""The Outbox screen: e-mail pending, sent and dead, with a body preview and retry.

A banner says when no SMTP server is configured (the messages wait). Bodies are shown as
data with live links masked; a dead message shows its last error and can be retried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from screens.browser import BrowserScreen, Column, ListQuery, Page
from screens.widgets import data, labelled

if TYPE_CHECKING:
    from services.delivery import OutboxView

FILTERS = ["All", "pending", "sent", "dead"]
COLUMNS = [
    Column("id", "Id"),
    Column("queued", "Queued"),
    Column("status", "Status"),
    Column("tries", "Tries"),
    Column("to", "To", width=30),
    Column("subject", "Subject", width=40),
]
STATUS_STYLE = {"pending": "yellow", "sent": "green", "dead": "bold red"}
PAGE_SIZE = 200


def tab_id(name: str) -> str:
    return "ob-" + name.lower()


def smtp_problem(app: Any) -> str | None:
    """Whether SMTP is usable, from the settings the app resolves (config file / environment)."""
    from services.delivery import smtp_status

    return smtp_status(app.smtp_settings())


class OutboxScreen(BrowserScreen):
    TITLE = "Outbox"
    AUTO_FOCUS = "#outbox"
    TABLE_ID = "outbox"
    COLUMNS = COLUMNS
    FILTERS = FILTERS
    PAGE_SIZE = PAGE_SIZE
    SERVER_SEARCH = False
    SEARCH_PLACEHOLDER = "/ search this list"
    EMPTY_DETAIL = "Select a message."
    NOUN = "message"
    DEFAULT_CSS = """
    OutboxScreen #ob-banner { background: $warning 30%; color: $text; padding: 0 1; height: auto; display: none; }
    OutboxScreen #ob-banner.-visible { display: block; }
    OutboxScreen .ob-section { border: round $primary-darken-1; padding: 0 1; height: auto; }
    OutboxScreen #ob-error { border: round $error; }
    """
    HELP = """\
## Outbox — e-mail to customers

Every e-mail is written to the outbox in the same transaction as the change that causes it,
and delivered by `regdesk outbox send` (or `--watch`) over SMTP.

* **1**–**4** switch the filter: all, pending, sent, dead; **f5** rereads.
* A message the server refuses is retried with growing pauses (1, 2, 4 … minutes, at most an
  hour); after `mail.max_attempts` refusals it is *dead* with the last error kept.
* **t** retries the selected dead message (its tries start again) or makes a pending one due now.
* While the SMTP server is down nothing is lost: messages stay pending and go out later.
* Links in bodies are masked here: they are for the recipient only, and are removed from
  the stored body once the message is delivered.
"""
    BINDINGS = [
        Binding(
            "t",
            "retry",
            "Retry",
            id="outbox.retry",
            tooltip="Retry the selected dead message (or send a pending one now)",
        ),
        Binding("f5", "reread", "Reread", id="outbox.reread", tooltip="Reread the outbox"),
    ]

    @property
    def rows(self) -> dict[str, OutboxView]:
        return self.records

    def compose(self) -> ComposeResult:
        banner = Static(id="ob-banner")
        yield from super().compose()
        self._banner = banner

    def on_mount(self) -> None:
        self.mount(self._banner, after=self.query_one("Header"))

    # ------------------------------------------------------------------ the list

    def fetch(self, q: ListQuery, after: Any, limit: int, reverse: bool) -> Page:
        from services import delivery

        rows = self.app.call(delivery.list_messages, status=q.status, limit=limit, before_id=after)
        problem = smtp_problem(self.app)
        self.app.call_from_thread(self._show_banner, problem)
        return Page(rows, rows[-1].id if len(rows) == limit else None)

    def _show_banner(self, problem: str | None) -> None:
        banner = self.query_one("#ob-banner", Static)
        banner.set_class(bool(problem), "-visible")
        banner.update(Text("⚠ " + (problem or ""), style="bold"))

    def fetch_counts(self, search: str) -> dict[str, int] | None:
        if search:
            return None
        from services import delivery

        counts = self.app.call(delivery.counts)
        return {"All": sum(counts.values()), **counts}

    def fetch_detail(self, key: str) -> Any:
        return self.records.get(key)  # the row has everything the pane shows

    def detail_key(self, detail: Any) -> str | None:
        return str(detail.id) if detail is not None else None

    def row_key(self, row: Any) -> str:
        return str(row.id)

    def row_cells(self, m: Any) -> list[Text]:
        return [
            Text(str(m.id)),
            Text(f"{m.created_at:%Y-%m-%d %H:%M}"),
            Text(m.status, style=STATUS_STYLE.get(m.status, "")),
            Text(str(m.attempts)),
            data(m.recipient),
            data(m.subject),
        ]

    def compose_detail(self) -> ComposeResult:
        for wid, title in (("ob-header", "Message"), ("ob-error", "Last error"), ("ob-text", "Body")):
            w = Static(id=wid, classes="ob-section")
            w.border_title = title
            w.display = False
            yield w

    def show_detail(self, m: Any) -> None:
        header, error, body = (self.query_one(f"#{w}", Static) for w in ("ob-header", "ob-error", "ob-text"))
        header.display = body.display = m is not None
        error.display = bool(m and m.last_error)
        if m is None:
            return
        rows: list[tuple[str, Any]] = [
            ("To", m.recipient),
            ("Subject", m.subject),
            ("Status", m.status),
            ("Template", m.template),
            ("About", f"{m.entity_type} {m.entity_key}".strip()),
            ("Message-ID", m.message_id),
            ("Queued", m.created_at),
            ("Tries", m.attempts),
        ]
        if m.sent_at:
            rows.append(("Sent", m.sent_at))
        elif m.next_attempt_at and m.status == "pending":
            rows.append(("Next try", m.next_attempt_at))
        if m.leased:
            rows.append(("Now", "being sent"))
        header.update(labelled(rows, width=12))
        error.update(data(m.last_error or "", style="red"))
        body.update(data(m.body))

    def action_retry(self) -> None:
        key = self.target()
        if key is None:
            return
        from services import delivery

        def retry() -> str:
            view = self.app.call(delivery.retry, int(key))
            return f"message {view.id} to {view.recipient} is pending again"

        self.act(key, retry)
