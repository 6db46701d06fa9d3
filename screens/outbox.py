"""The Outbox screen: e-mail pending, sent and dead, with a body preview and retry.

A banner says when no SMTP server is configured (the messages wait). Bodies are shown as
data with live links masked; a dead message shows its last error and can be retried.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, Tab, Tabs
from textual.worker import get_current_worker

from screens.widgets import ReportsWorkerErrors, RequestTable, data, labelled, restore_cursor

if TYPE_CHECKING:
    from services.delivery import OutboxView

FILTERS = ["All", "pending", "sent", "dead"]
COLUMNS = [("id", "Id"), ("queued", "Queued"), ("status", "Status"), ("tries", "Tries"), ("to", "To"),
           ("subject", "Subject")]
STATUS_STYLE = {"pending": "yellow", "sent": "green", "dead": "bold red"}
PAGE_SIZE = 200


def tab_id(name: str) -> str:
    return "ob-" + name.lower()


class Loaded(Message):
    def __init__(self, generation: int, rows: list[OutboxView], counts: dict[str, int], smtp_problem: str | None,
                 first: bool) -> None:
        super().__init__()
        self.generation, self.rows, self.counts, self.smtp_problem, self.first = generation, rows, counts, smtp_problem, first


class Retried(Message):
    def __init__(self, view: OutboxView) -> None:
        super().__init__()
        self.view = view


def smtp_problem(app: Any) -> str | None:
    """Whether SMTP is usable, from the app's settings when it has them, else the config/env."""
    from services.delivery import smtp_status

    settings = getattr(app, "settings", None)
    if settings is None or not hasattr(settings, "smtp"):
        from app.settings import resolve

        settings = resolve()
    return smtp_status(settings.smtp)


class OutboxScreen(ReportsWorkerErrors, Screen):
    TITLE = "Outbox"
    AUTO_FOCUS = "#outbox"
    DEFAULT_CSS = """
    OutboxScreen #ob-banner { background: $warning 30%; color: $text; padding: 0 1; height: auto; display: none; }
    OutboxScreen #ob-banner.-visible { display: block; }
    OutboxScreen #ob-filters { height: 3; }
    OutboxScreen #ob-body { height: 1fr; }
    OutboxScreen #ob-list-pane { width: 3fr; }
    OutboxScreen #outbox { height: 1fr; }
    OutboxScreen #ob-info { height: 1; padding: 0 1; color: $text-muted; }
    OutboxScreen #ob-preview { width: 2fr; min-width: 50; border-left: solid $primary-darken-2; }
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
        Binding("t", "retry", "Retry", id="outbox.retry", tooltip="Retry the selected dead message (or send a pending one now)"),
        Binding("f5", "reread", "Reread", id="outbox.reread", tooltip="Reread the outbox"),
        *[
            Binding(str(i + 1), f"filter({i})", name, id=f"outbox.filter.{name.lower()}",
                    tooltip=f"Show {name.lower()} messages", show=False)
            for i, name in enumerate(FILTERS)
        ],
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.status = "All"
        self.generation = 0
        self.rows: dict[str, OutboxView] = {}
        self.selected: str | None = None
        self.last_id: int | None = None
        self.more = False
        self.loading = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="ob-banner")
        yield Tabs(*[Tab(name.capitalize() if name != "All" else name, id=tab_id(name)) for name in FILTERS], id="ob-filters")
        with Horizontal(id="ob-body"):
            with Vertical(id="ob-list-pane"):
                table = RequestTable(id="outbox", cursor_type="row", zebra_stripes=True)
                for key, label in COLUMNS:
                    table.add_column(label, key=key)
                yield table
                yield Static("loading…", id="ob-info")
            with VerticalScroll(id="ob-preview"):
                yield Static(Text("Select a message.", style="dim"), id="ob-empty")
                yield Static(id="ob-header", classes="ob-section")
                yield Static(id="ob-error", classes="ob-section")
                yield Static(id="ob-text", classes="ob-section")
        yield Footer()

    def on_mount(self) -> None:
        for wid, title in (("ob-header", "Message"), ("ob-error", "Last error"), ("ob-text", "Body")):
            w = self.query_one(f"#{wid}", Static)
            w.border_title = title
            w.display = False
        self.reload()

    def reload(self) -> None:
        self.generation += 1
        self.loading = True
        self._fetch(self.generation, self.status, None)

    @work(thread=True, exclusive=True, group="outbox.list", exit_on_error=False)
    def _fetch(self, generation: int, status: str, before_id: int | None) -> None:
        from services import delivery

        try:
            rows = self.app.call(delivery.list_messages, status=status, limit=PAGE_SIZE, before_id=before_id)
            counts = self.app.call(delivery.counts)
            problem = smtp_problem(self.app)
        except BaseException:
            self.app.call_from_thread(setattr, self, "loading", False)
            raise
        if not get_current_worker().is_cancelled:
            self.post_message(Loaded(generation, rows, counts, problem, before_id is None))

    @on(Loaded)
    def _loaded(self, event: Loaded) -> None:
        if event.generation != self.generation:
            return
        banner = self.query_one("#ob-banner", Static)
        banner.set_class(bool(event.smtp_problem), "-visible")
        banner.update(Text("⚠ " + (event.smtp_problem or ""), style="bold"))
        for name in FILTERS:
            n = sum(event.counts.values()) if name == "All" else event.counts.get(name, 0)
            label = name.capitalize() if name != "All" else name
            self.query_one(f"#{tab_id(name)}", Tab).label = f"{label} ({n:,})"
        table = self.query_one(RequestTable)
        with self.app.batch_update():
            if event.first:
                previous = self.selected
                table.clear()
                self.rows = {}
            for m in event.rows:
                key = str(m.id)
                self.rows[key] = m
                table.add_row(Text(key), Text(f"{m.created_at:%Y-%m-%d %H:%M}"),
                              Text(m.status, style=STATUS_STYLE.get(m.status, "")), Text(str(m.attempts)),
                              data(m.recipient), data(m.subject), key=key)
            self.more = len(event.rows) == PAGE_SIZE
            self.last_id = event.rows[-1].id if event.rows else self.last_id
            self.loading = False
            if event.first:
                self._show(restore_cursor(table, previous))
        info = Text()
        info.append(f"{len(self.rows):,}", style="bold")
        info.append(f" shown  ·  {self.status}")
        if self.more:
            info.append("  ·  more below", style="dim")
        self.query_one("#ob-info", Static).update(info)

    @on(RequestTable.NearEnd)
    def _near_end(self) -> None:
        if self.more and not self.loading and self.last_id is not None:
            self.loading = True
            self._fetch(self.generation, self.status, self.last_id)

    @on(RequestTable.RowHighlighted, "#outbox")
    def _highlighted(self, event: RequestTable.RowHighlighted) -> None:
        self._show(event.row_key.value if event.row_key is not None else None)

    def _show(self, key: str | None) -> None:
        self.selected = key
        m = self.rows.get(key) if key else None
        self.query_one("#ob-empty").display = m is None
        header, error, body = (self.query_one(f"#{w}", Static) for w in ("ob-header", "ob-error", "ob-text"))
        header.display = body.display = m is not None
        error.display = bool(m and m.last_error)
        if m is None:
            return
        rows: list[tuple[str, Any]] = [("To", m.recipient), ("Subject", m.subject), ("Status", m.status),
                                       ("Template", m.template), ("About", f"{m.entity_type} {m.entity_key}".strip()),
                                       ("Message-ID", m.message_id), ("Queued", m.created_at), ("Tries", m.attempts)]
        if m.sent_at:
            rows.append(("Sent", m.sent_at))
        elif m.next_attempt_at and m.status == "pending":
            rows.append(("Next try", m.next_attempt_at))
        if m.leased:
            rows.append(("Now", "being sent"))
        header.update(labelled(rows, width=12))
        error.update(data(m.last_error or "", style="red"))
        body.update(data(m.body))

    @on(Tabs.TabActivated, "#ob-filters")
    def _tab(self, event: Tabs.TabActivated) -> None:
        name = next((n for n in FILTERS if tab_id(n) == event.tab.id), "All")
        if name != self.status:
            self.status = name
            self.reload()

    def action_filter(self, index: int) -> None:
        self.query_one(Tabs).active = tab_id(FILTERS[index])

    def action_reread(self) -> None:
        self.reload()

    def action_retry(self) -> None:
        if self.selected is None:
            self.notify("Select a message first.", severity="warning")
            return
        self._retry(int(self.selected))

    @work(thread=True, group="outbox.retry", exit_on_error=False)
    def _retry(self, message_id: int) -> None:
        from services import delivery

        self.post_message(Retried(self.app.call(delivery.retry, message_id)))

    @on(Retried)
    def _retried(self, event: Retried) -> None:
        self.notify(f"message {event.view.id} to {event.view.recipient} is pending again", title="Retry", markup=False)
        self.reload()

    def palette_bindings(self) -> Iterable[Binding]:
        return [b for b in self.BINDINGS if isinstance(b, Binding)]
