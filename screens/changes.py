"""The Changes area: the review pane for approvers.

The list shows proposed customer changes (by default the ones waiting for me); the detail
shows each line with its original, proposed and current value. A line whose current value
no longer equals its original is a *conflict*: highlighted, and never applied.
**a** approves every line, **space** marks lines and **o** approves only the marked ones
(the others are rejected), **c** comments on the line under the cursor, **r** rejects.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static, Tab, Tabs
from textual.worker import get_current_worker

from screens.widgets import ReportsWorkerErrors, data, labelled
from services.text import strip_controls

if TYPE_CHECKING:
    from services.changes import ProposalRow, ProposalView

FILTERS = ["Waiting for me", "Submitted", "Not submitted", "Approved", "Partially approved", "Rejected", "All"]
COLUMNS = [("number", "Proposal"), ("account", "Account"), ("customer", "Customer"), ("state", "State"),
           ("fields", "Fields"), ("by", "Proposed by"), ("submitted", "Submitted")]
STATE_STYLE = {"Submitted": "yellow", "Not submitted": "dim", "Approved": "green", "Partially approved": "cyan",
               "Rejected": "red", "Discarded": "dim"}


def tab_id(name: str) -> str:
    return "chg-" + name.lower().replace(" ", "-")


class RowsLoaded(Message):
    def __init__(self, generation: int, rows: list[ProposalRow]) -> None:
        super().__init__()
        self.generation, self.rows = generation, rows


class DetailLoaded(Message):
    def __init__(self, view: ProposalView | None, number: str) -> None:
        super().__init__()
        self.view, self.number = view, number


class Decided(Message):
    def __init__(self, message: str) -> None:
        super().__init__()
        self.message = message


class ChangesScreen(ReportsWorkerErrors, Screen):
    TITLE = "Changes"
    AUTO_FOCUS = "#proposals"
    DEFAULT_CSS = """
    ChangesScreen #chg-filter-bar { height: 3; }
    ChangesScreen #chg-body { height: 1fr; }
    ChangesScreen #chg-list-pane { width: 2fr; }
    ChangesScreen #proposals { height: 1fr; }
    ChangesScreen #chg-info { height: 1; padding: 0 1; color: $text-muted; }
    ChangesScreen #chg-detail { width: 3fr; border-left: solid $primary-darken-2; padding: 0 1; }
    ChangesScreen .chg-section { border: round $primary-darken-1; padding: 0 1; height: auto; }
    ChangesScreen #chg-lines { height: auto; max-height: 20; }
    ChangesScreen #chg-message { height: auto; color: $warning; }
    ChangesScreen #chg-selection { height: auto; color: $text-muted; }
    """
    HELP = """\
## Changes — review proposed customer changes

*Waiting for me* lists the submitted proposals you may decide: assigned to you by the
customer change workflow, or (with no active workflow) any submitted proposal you did not
propose or submit yourself — nobody approves their own changes.

Each line shows the customer's value when it was proposed (*Original*), the *Proposed*
value and the value now (*Current*). When Current differs from Original the customer was
changed some other way since: the line is a **CONFLICT** and is not applied.

* **a** approves every line and applies them in one transaction.
* **space** marks the line under the cursor; **o** approves only the marked lines — the
  others are rejected (give each a comment with **c**).
* **r** rejects the proposal: the customer stays unchanged; a reason is required.
* **1**–**7** switch the filter; **f5** rereads.
"""
    BINDINGS = [
        Binding("a", "approve_all", "Approve all", id="changes.approve", tooltip="Approve every line and apply it"),
        Binding("space", "mark", "Mark line", id="changes.mark", tooltip="Mark or unmark the line under the cursor"),
        Binding("o", "approve_marked", "Approve marked", id="changes.approve_marked",
                tooltip="Approve only the marked lines; the others are rejected"),
        Binding("c", "comment", "Comment line", id="changes.comment", tooltip="A comment on the line under the cursor"),
        Binding("r", "reject", "Reject", id="changes.reject", tooltip="Reject the proposal (asks the reason)"),
        Binding("f5", "reread", "Reread", id="changes.reread", tooltip="Reread the list and the detail"),
        *[
            Binding(str(i + 1), f"filter({i})", name, id=f"changes.filter.{tab_id(name)}",
                    tooltip=f"Show: {name.lower()}", show=False)
            for i, name in enumerate(FILTERS)
        ],
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.filter = FILTERS[0]
        self.generation = 0
        self.selected: str | None = None
        self.view: ProposalView | None = None
        self.marked: set[str] = set()
        self.comments: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="chg-filter-bar"):
            yield Tabs(*[Tab(name, id=tab_id(name)) for name in FILTERS], id="chg-filters")
        with Horizontal(id="chg-body"):
            with Vertical(id="chg-list-pane"):
                table = DataTable(id="proposals", cursor_type="row", zebra_stripes=True)
                for key, label in COLUMNS:
                    table.add_column(label, key=key)
                yield table
                yield Static("loading…", id="chg-info")
            with VerticalScroll(id="chg-detail"):
                yield Static(Text("Select a proposal.", style="dim"), id="chg-empty")
                yield Static(id="chg-head", classes="chg-section")
                with Vertical(id="chg-lines-box", classes="chg-section"):
                    lines = DataTable(id="chg-lines", cursor_type="row")
                    for key, label in (("mark", "✓"), ("field", "Field"), ("original", "Original"),
                                       ("proposed", "Proposed"), ("current", "Current"), ("flag", "Conflict"),
                                       ("decision", "Decision"), ("comment", "Comment")):
                        lines.add_column(label, key=key)
                    yield lines
                    yield Static(id="chg-selection")
                yield Static(id="chg-message")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#chg-head").border_title = "Proposal"
        self.query_one("#chg-lines-box").border_title = "Proposed changes"
        for wid in ("#chg-head", "#chg-lines-box", "#chg-message"):
            self.query_one(wid).display = False
        self.reload()

    # ------------------------------------------------------------------ list

    def reload(self) -> None:
        self.generation += 1
        self._fetch(self.generation, self.filter)

    @work(thread=True, exclusive=True, group="changes.list", exit_on_error=False)
    def _fetch(self, generation: int, name: str) -> None:
        from services import changes

        if name == "Waiting for me":
            rows = self.app.call(changes.list_proposals, waiting_for_me=True)
        else:
            rows = self.app.call(changes.list_proposals, state=name)
        if not get_current_worker().is_cancelled:
            self.post_message(RowsLoaded(generation, rows))

    @on(RowsLoaded)
    def _rows(self, event: RowsLoaded) -> None:
        if event.generation != self.generation:
            return
        table = self.query_one("#proposals", DataTable)
        with self.app.batch_update():
            table.clear()
            for r in event.rows:
                table.add_row(data(r.number), data(r.account), data(r.customer_name),
                              data(r.state, STATE_STYLE.get(r.state, "")), data(r.fields), data(r.created_by),
                              data(r.submitted_at), key=r.number)
        self.query_one("#chg-info", Static).update(Text(f"{len(event.rows)} proposals — {self.filter}"))
        keys = [r.number for r in event.rows]
        if self.selected in keys:
            table.move_cursor(row=keys.index(self.selected))
            self._fetch_detail(self.selected)
        elif keys:
            self._select(keys[0])
        else:
            self.selected, self.view = None, None
            self._show(None)

    @on(Tabs.TabActivated, "#chg-filters")
    def _tab(self, event: Tabs.TabActivated) -> None:
        name = next(n for n in FILTERS if tab_id(n) == event.tab.id)
        if name != self.filter:
            self.filter = name
            self.reload()

    def action_filter(self, index: int) -> None:
        self.query_one("#chg-filters", Tabs).active = tab_id(FILTERS[index])

    @on(DataTable.RowHighlighted, "#proposals")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value != self.selected:
            self._select(str(event.row_key.value))

    def _select(self, number: str) -> None:
        self.selected = number
        self.marked, self.comments = set(), {}
        self._fetch_detail(number)

    @work(thread=True, exclusive=True, group="changes.detail", exit_on_error=False)
    def _fetch_detail(self, number: str) -> None:
        from services import changes

        view = self.app.call(changes.show_proposal, number)
        if not get_current_worker().is_cancelled:
            self.post_message(DetailLoaded(view, number))

    # ------------------------------------------------------------------ detail

    @on(DetailLoaded)
    def _detail(self, event: DetailLoaded) -> None:
        if event.number != self.selected:
            return
        self.view = event.view
        self._show(event.view)

    def _show(self, view: ProposalView | None) -> None:
        self.query_one("#chg-empty").display = view is None
        for wid in ("#chg-head", "#chg-lines-box", "#chg-message"):
            self.query_one(wid).display = view is not None
        if view is None:
            return
        head = self.query_one("#chg-head", Static)
        head.border_title = f"Proposal {view.number}"
        head.update(labelled([
            ("Customer", f"{view.account} {view.customer_name}"), ("State", view.state),
            ("Proposed by", f"{view.created_by} ({view.source})"),
            ("Submitted", f"{view.submitted_by or ''} {view.submitted_at:%Y-%m-%d %H:%M}" if view.submitted_at else ""),
            ("Decided", f"{view.decided_by} {view.decided_at:%Y-%m-%d %H:%M}" if view.decided_at else ""),
            ("Reason", view.reason or ""),
            ("Workflow", f"instance {view.workflow_instance_id}" if view.workflow_instance_id else "single approver step"),
        ]))
        self._fill_lines()
        message = self.query_one("#chg-message", Static)
        msg = Text()
        if view.conflicts and view.state == "Submitted":
            msg.append(f"{view.conflicts} line(s) in CONFLICT: the customer changed since they were proposed; "
                       "they will not be applied.\n", style="bold red")
        msg.append_text(data(view.message))
        message.update(msg)

    def _fill_lines(self) -> None:
        view = self.view
        if view is None:
            return
        table = self.query_one("#chg-lines", DataTable)
        row = table.cursor_row
        with self.app.batch_update():
            table.clear()
            for x in view.lines:
                table.add_row(Text("✓" if x.field in self.marked else " ", style="bold green"), data(x.label),
                              data(x.original), data(x.proposed, "bold"),
                              data(x.current, "bold red" if x.conflict else ""),
                              Text("CONFLICT", style="bold red") if x.conflict else Text(""), data(x.decision),
                              data(self.comments.get(x.field, x.comment or "")), key=x.field)
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))
        marked = ", ".join(sorted(self.marked)) or "none"
        self.query_one("#chg-selection", Static).update(Text(f"marked for approval: {marked}"))

    def _line(self) -> str | None:
        table = self.query_one("#chg-lines", DataTable)
        if self.view is None or not table.row_count:
            return None
        return str(table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value)

    # ------------------------------------------------------------------ actions

    def action_reread(self) -> None:
        self.reload()

    def action_mark(self) -> None:
        field = self._line()
        if field is None:
            return
        self.marked ^= {field}
        self._fill_lines()

    def action_comment(self) -> None:
        field = self._line()
        if field is None:
            return
        from screens.user_requests import TextDialog

        def done(text: str | None) -> None:
            if text:
                self.comments[field] = text
                self._fill_lines()

        self.app.push_screen(TextDialog(Content.assemble(("Comment on ", "bold"), field), "Comment (kept with the line):",
                                        required="type a comment, or Escape", value=self.comments.get(field, "")), done)

    def _number(self) -> str | None:
        if self.view is None:
            self.app.notify("Select a proposal first.", severity="warning")
            return None
        return self.view.account

    def action_approve_all(self) -> None:
        if (account := self._number()) is not None:
            self._decide(account, "approve", None, dict(self.comments), None)

    def action_approve_marked(self) -> None:
        if (account := self._number()) is None:
            return
        if not self.marked:
            self.app.notify("Mark the lines to approve with space first (or a approves all).", severity="warning")
            return
        self._decide(account, "approve", sorted(self.marked), dict(self.comments), None)

    def action_reject(self) -> None:
        if (account := self._number()) is None:
            return
        from screens.user_requests import TextDialog

        def done(reason: str | None) -> None:
            if reason:
                self._decide(account, "reject", None, {}, reason)

        title = Content.assemble(("Reject ", "bold"), (self.view.number if self.view else "", "bold"), " — ", account)
        self.app.push_screen(TextDialog(title, "Reason (required):", required="a reason is required", ok="Reject"), done)

    @work(thread=True, exclusive=True, group="changes.decide", exit_on_error=False)
    def _decide(self, account: str, action: str, only: list[str] | None, comments: dict[str, str],
                reason: str | None) -> None:
        from services import changes

        if action == "approve":
            result = self.app.call(changes.approve, account, only=only, comments=comments)
        else:
            result = self.app.call(changes.reject, account, reason or "")
        self.post_message(Decided(result.message))

    @on(Decided)
    def _decided(self, event: Decided) -> None:
        self.app.notify(strip_controls(event.message), title="Decided", markup=False, timeout=8)
        self.marked, self.comments = set(), {}
        self.reload()
