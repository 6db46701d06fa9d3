"""My work: the inbox of work items across document types (user requests, changes, cases).

Items assigned to me (or everyone's, with **m**), overdue first. Approve, reject (a reason is
required), request a change, delegate; mark several with space and approve / reject them at
once, each item's result reported. The workflow tick (time limits, escalation, reminders)
runs when the screen opens (so the list is current) and, app-wide, every minute while the
console is open (``RegdeskApp.action_workflow_tick``); the list is reread every minute.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from screens.dialogs import CommentDialog, Dialog, FieldError  # noqa: F401  (CommentDialog: used below)
from screens.widgets import ReportsWorkerErrors, data, labelled, restore_cursor

if TYPE_CHECKING:
    from services.workflow import ActionResult, InstanceDetail, TickReport, WorkItemView

TICK_SECONDS = 60
COLUMNS = [("sel", " "), ("id", "Item"), ("document", "Document"), ("step", "Step"), ("due", "Due"), ("age", "Age"),
           ("summary", "Summary"), ("via", "Assigned via")]


def age_text(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h {minutes % 60:02d}m"
    return f"{minutes // (24 * 60)}d {minutes % (24 * 60) // 60}h"


class Loaded(Message):
    def __init__(self, generation: int, rows: list[WorkItemView]) -> None:
        super().__init__()
        self.generation, self.rows = generation, rows


class DetailLoaded(Message):
    def __init__(self, item_id: int, detail: InstanceDetail) -> None:
        super().__init__()
        self.item_id, self.detail = item_id, detail


class Acted(Message):
    def __init__(self, results: list[ActionResult]) -> None:
        super().__init__()
        self.results = results


class Ticked(Message):
    def __init__(self, report: TickReport) -> None:
        super().__init__()
        self.report = report


# --------------------------------------------------------------------------- dialogs


class DelegateDialog(Dialog):
    """Pick the operator who takes the item. Returns the user name, or None."""

    AUTO_FOCUS = "#operators"
    DEFAULT_CSS = """
    DelegateDialog #delegate-dialog { width: 70; height: auto; max-height: 80%; border: thick $primary;
                                      background: $surface; padding: 1 2; }
    DelegateDialog #operators { height: auto; max-height: 16; }
    """

    def __init__(self, item_label: str, operators: list[tuple[str, str]]) -> None:
        super().__init__()
        self.item_label, self.operators = item_label, operators

    def compose(self) -> ComposeResult:
        with Vertical(id="delegate-dialog", classes="dialog"):
            yield Static(data(f"Delegate {self.item_label} to…", "bold"), classes="dialog-title")
            yield OptionList(*[Option(Content.assemble((user, "bold"), "  ", name), id=user)
                               for user, name in self.operators], id="operators")

    @on(OptionList.OptionSelected, "#operators")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class ResultsDialog(Dialog):
    """What happened to each item of a bulk action."""

    AUTO_FOCUS = "#results-ok"
    DEFAULT_CSS = """
    ResultsDialog #results-dialog { width: 100; height: auto; max-height: 80%; border: thick $primary;
                                    background: $surface; padding: 1 2; }
    ResultsDialog #results-body { height: auto; max-height: 24; }
    """

    def __init__(self, title: str, results: list[ActionResult]) -> None:
        super().__init__()
        self.title_text, self.results = title, results

    def compose(self) -> ComposeResult:
        ok = sum(1 for r in self.results if r.ok)
        body = Text()
        for i, r in enumerate(self.results):
            if i:
                body.append("\n")
            body.append("✓ " if r.ok else "✗ ", style="bold green" if r.ok else "bold red")
            body.append(f"{r.item_id if r.item_id is not None else '?'}  ", style="bold")
            body.append_text(data(r.message))
        with Vertical(id="results-dialog", classes="dialog"):
            yield Static(data(f"{self.title_text}: {ok} done, {len(self.results) - ok} failed", "bold"),
                         classes="dialog-title")
            with VerticalScroll(id="results-body"):
                yield Static(body)
            yield Button("OK", id="results-ok", variant="primary")

    @on(Button.Pressed, "#results-ok")
    def _ok(self) -> None:
        self.dismiss(None)


# --------------------------------------------------------------------------- the screen


class MyWorkScreen(ReportsWorkerErrors, Screen):
    TITLE = "My work"
    AUTO_FOCUS = "#mywork"
    DEFAULT_CSS = """
    MyWorkScreen #mw-body { height: 1fr; }
    MyWorkScreen #mw-list-pane { width: 1fr; }
    MyWorkScreen #mywork { height: 1fr; }
    MyWorkScreen #mw-info { height: 1; padding: 0 1; color: $text-muted; }
    MyWorkScreen #mw-detail { width: 52; border-left: solid $primary-darken-2; }
    MyWorkScreen .mw-section { border: round $primary-darken-1; padding: 0 1; height: auto; }
    """
    HELP = """\
## My work — approvals waiting for you

Work items of every document type (user requests, customer changes, cases) assigned to you,
overdue first. An item's assignees were fixed when its step started.

* **a** approve, **r** reject (a reason is required), **c** request a change (the document
  goes back to its submitter, who resubmits), **d** delegate to another operator.
* **space** marks items; **A** / **R** approve / reject every marked item (each item's result
  is shown; one failure does not stop the rest).
* **m** switches between my items and everyone's; **f5** rereads.
* You cannot approve a document you submitted while *Disallow approval by submitter* is on.
* Time limits, escalations and reminders are applied every minute while the console is open
  (and by `regdesk workflow tick` from cron).
"""
    BINDINGS = [
        Binding("a", "approve", "Approve", id="mywork.approve", tooltip="Approve the selected work item"),
        Binding("r", "reject", "Reject", id="mywork.reject", tooltip="Reject the selected work item (reason required)"),
        Binding("c", "request_change", "Request change", id="mywork.change",
                tooltip="Send the document back to its submitter for changes"),
        Binding("d", "delegate", "Delegate", id="mywork.delegate", tooltip="Hand the work item to another operator"),
        Binding("space", "mark", "Mark", id="mywork.mark", tooltip="Mark or unmark the item for a bulk action"),
        Binding("A", "bulk('approve')", "Approve marked", id="mywork.bulk_approve", tooltip="Approve every marked item"),
        Binding("R", "bulk('reject')", "Reject marked", id="mywork.bulk_reject", tooltip="Reject every marked item"),
        Binding("m", "toggle_mine", "Mine/all", id="mywork.mine", tooltip="Show my items or everyone's"),
        Binding("f5", "reread", "Reread", id="mywork.reread", tooltip="Reread the work items"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mine = True
        self.generation = 0
        self.rows: dict[str, WorkItemView] = {}
        self.marked: set[str] = set()
        self.selected: str | None = None
        self.detail: InstanceDetail | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="mw-body"):
            with Vertical(id="mw-list-pane"):
                table: DataTable = DataTable(id="mywork", cursor_type="row", zebra_stripes=True)
                for key, label in COLUMNS:
                    table.add_column(label, key=key)
                yield table
                yield Static("loading…", id="mw-info")
            with VerticalScroll(id="mw-detail"):
                yield Static(Text("No work item selected.", style="dim"), id="mw-empty")
                yield Static(id="mw-item", classes="mw-section")
                yield Static(id="mw-history", classes="mw-section")
        yield Footer()

    def on_mount(self) -> None:
        for wid, title in (("mw-item", "Work item"), ("mw-history", "Workflow")):
            w = self.query_one(f"#{wid}", Static)
            w.border_title = title
            w.display = False
        # no tick on open (the app runs it every minute, cron too); the app's live data rereads the list
        self.reload()

    # ------------------------------------------------------------------ loading

    def reload(self) -> None:
        self.generation += 1
        self._fetch(self.generation, self.mine)

    @work(thread=True, exclusive=True, group="mywork.list", exit_on_error=False)
    def _fetch(self, generation: int, mine: bool) -> None:
        from services import workflow

        rows = self.app.call(workflow.list_work, mine)
        if not get_current_worker().is_cancelled:
            self.post_message(Loaded(generation, rows))

    @work(thread=True, exclusive=True, group="mywork.tick", exit_on_error=False)
    def _tick(self) -> None:
        from services import workflow

        try:
            report = self.app.call(workflow.tick)
        except BaseException:
            self.post_message(Ticked(None))  # type: ignore[arg-type]  # still show the list
            raise
        self.post_message(Ticked(report))

    @on(Ticked)
    def _ticked(self, event: Ticked) -> None:
        r = event.report
        if r is not None and (r.escalations or r.automatic_approvals or r.automatic_rejections):
            self.notify(f"{r.escalations} escalation(s), {r.automatic_approvals + r.automatic_rejections} automatic "
                        "decision(s) after time limits", title="Workflow", markup=False)
        self.reload()

    @on(Loaded)
    def _loaded(self, event: Loaded) -> None:
        if event.generation != self.generation:
            return
        table = self.query_one("#mywork", DataTable)
        previous = self.selected
        with self.app.batch_update():
            table.clear()
            self.rows = {}
            for w in event.rows:
                key = str(w.id)
                self.rows[key] = w
                style = "bold red" if w.overdue else ""
                table.add_row(Text("●" if key in self.marked else " ", style="bold"), Text(key, style=style),
                              data(f"{w.doc_title} {w.doc_key}", style), data(w.step),
                              Text(f"{w.due_at:%Y-%m-%d %H:%M}" + (" overdue" if w.overdue else ""), style=style)
                              if w.due_at else Text("—", style="dim"),
                              Text(age_text(w.age_minutes)), data(w.summary),
                              data(w.assigned_via if self.mine else f"{w.assignee} ({w.assigned_via})"), key=key)
            self.marked &= set(self.rows)
            self._select(restore_cursor(table, previous))
        self._info()

    def _info(self) -> None:
        overdue = sum(1 for w in self.rows.values() if w.overdue)
        info = Text()
        info.append(f"{len(self.rows):,}", style="bold")
        info.append(" items assigned to me" if self.mine else " open items (everyone's)")
        if overdue:
            info.append(f"  ·  {overdue} overdue", style="bold red")
        if self.marked:
            info.append(f"  ·  {len(self.marked)} marked", style="bold")
        self.query_one("#mw-info", Static).update(info)

    @on(DataTable.RowHighlighted, "#mywork")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._select(event.row_key.value if event.row_key is not None else None)

    def _select(self, key: str | None) -> None:
        self.selected = key
        w = self.rows.get(key) if key else None
        self.query_one("#mw-empty").display = w is None
        item, hist = self.query_one("#mw-item", Static), self.query_one("#mw-history", Static)
        item.display = w is not None
        if w is None:
            hist.display = False
            self.detail = None
            return
        item.update(labelled([("Document", f"{w.doc_title} {w.doc_key}"), ("Summary", w.summary), ("Step", w.step),
                              ("Assigned to", w.assignee), ("Via", w.assigned_via), ("Submitted by", w.submitter),
                              ("Assigned", w.assigned_at), ("Due", w.due_at), ("Age", age_text(w.age_minutes)),
                              ("Delegated from", w.delegated_from)], width=15))
        self._load_detail(w.id)

    @work(thread=True, exclusive=True, group="mywork.detail", exit_on_error=False)
    def _load_detail(self, item_id: int) -> None:
        from services import workflow

        detail = self.app.call(workflow.show_item, item_id)
        if not get_current_worker().is_cancelled:
            self.post_message(DetailLoaded(item_id, detail))

    @on(DetailLoaded)
    def _detail_loaded(self, event: DetailLoaded) -> None:
        if self.selected != str(event.item_id):
            return
        d = self.detail = event.detail
        hist = self.query_one("#mw-history", Static)
        hist.display = True
        hist.border_title = f"Workflow: {d.definition}"
        out = Text()
        for i, it in enumerate(d.items):
            if i:
                out.append("\n")
            out.append(f"{it.step}: ", style="bold")
            out.append_text(data(it.assignee))
            out.append(f"  {it.status.replace('_', ' ')}", style="green" if it.status == "approved" else
                       "red" if it.status == "rejected" else "")
            if it.comment:
                out.append("\n   ")
                out.append_text(data(it.comment, "italic"))
        hist.update(out)

    # ------------------------------------------------------------------ actions

    def _current(self) -> WorkItemView | None:
        w = self.rows.get(self.selected) if self.selected else None
        if w is None:
            self.notify("No work item selected.", severity="warning")
        return w

    def action_reread(self) -> None:
        self.reload()

    def action_toggle_mine(self) -> None:
        self.mine = not self.mine
        self.marked.clear()
        self.reload()

    def action_mark(self) -> None:
        w = self._current()
        if w is None:
            return
        key = str(w.id)
        if key in self.marked:
            self.marked.discard(key)
        else:
            self.marked.add(key)
        table = self.query_one("#mywork", DataTable)
        table.update_cell(key, "sel", Text("●" if key in self.marked else " ", style="bold"))
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)
        self._info()

    def action_approve(self) -> None:
        w = self._current()
        if w is not None:
            self._act("approve", [w.id], None, "Approve")

    def action_reject(self) -> None:
        w = self._current()
        if w is None:
            return

        def done(reason: str | None) -> None:
            if reason:
                self._act("reject", [w.id], reason, "Reject")

        self.app.push_screen(CommentDialog(f"Reject {w.doc_title} {w.doc_key}", "Reason (required):", required=True,
                                           button="Reject", variant="error"), done)

    def action_request_change(self) -> None:
        w = self._current()
        if w is None:
            return

        def done(comment: str | None) -> None:
            if comment is not None:
                self._act("request_change", [w.id], comment or None, "Request change")

        self.app.push_screen(CommentDialog(f"Send {w.doc_title} {w.doc_key} back to {w.submitter}",
                                           "What should be changed?", required=False, button="Request change"), done)

    def action_delegate(self) -> None:
        w = self._current()
        if w is not None:
            self._delegate_pick(w.id, f"item {w.id} ({w.doc_title} {w.doc_key})")

    @work(thread=True, group="mywork.delegate", exit_on_error=False)
    def _delegate_pick(self, item_id: int, label: str) -> None:
        from services import workflow

        operators = self.app.call(workflow.operators_for_delegation)
        self.app.call_from_thread(self._delegate_dialog, item_id, label, operators)

    def _delegate_dialog(self, item_id: int, label: str, operators: list[tuple[str, str]]) -> None:
        def done(user: str | None) -> None:
            if user:
                self._delegate(item_id, user)

        self.app.push_screen(DelegateDialog(label, operators), done)

    @work(thread=True, group="mywork.act", exit_on_error=False)
    def _delegate(self, item_id: int, user: str) -> None:
        from services import workflow

        self.post_message(Acted([self.app.call(workflow.delegate, item_id, user)]))

    def action_bulk(self, action: str) -> None:
        ids = [int(k) for k in self.rows if k in self.marked]
        if not ids:
            self.notify("Mark items with space first.", severity="warning")
            return
        if action == "approve":
            self._act("approve", ids, None, f"Approve {len(ids)} items")
            return

        def done(reason: str | None) -> None:
            if reason:
                self._act("reject", ids, reason, f"Reject {len(ids)} items")

        self.app.push_screen(CommentDialog(f"Reject {len(ids)} marked items", "Reason (required, for each):",
                                           required=True, button="Reject", variant="error"), done)

    def _act(self, action: str, ids: list[int], comment: str | None, title: str) -> None:
        self._run(action, ids, comment, title)

    @work(thread=True, group="mywork.act", exit_on_error=False)
    def _run(self, action: str, ids: list[int], comment: str | None, title: str) -> None:
        from services import workflow

        results = self.app.call(workflow.bulk_decide, ids, action, comment)
        self.post_message(Acted(results))

    @on(Acted)
    def _acted(self, event: Acted) -> None:
        results = event.results
        for r in results:
            if r.ok and r.item_id is not None:
                self.marked.discard(str(r.item_id))
        if len(results) == 1:
            r = results[0]
            if r.ok:
                self.notify(r.message, title="Done", markup=False)
            else:
                self.notify(r.message, title="Refused", severity="warning", markup=False, timeout=8)
        else:
            self.app.push_screen(ResultsDialog(f"{results[0].action.replace('_', ' ').capitalize()}", results))
        self.reload()

    def palette_bindings(self) -> Iterable[Binding]:
        return [b for b in self.BINDINGS if isinstance(b, Binding)]
