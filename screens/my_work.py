"""My work: the inbox of work items across document types (user requests, changes, cases).

Items assigned to me (or everyone's, with **m**), overdue first. Approve, reject (a reason is
required), request a change, delegate; mark several with space and approve / reject them at
once, each item's result reported. The workflow tick (time limits, escalation, reminders)
runs when the screen opens (so the list is current) and, app-wide, every minute while the
console is open (``RegdeskApp.action_workflow_tick``); the list is reread every minute.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Button, OptionList, Static
from textual.widgets.option_list import Option

from screens.browser import BrowserScreen, Column, ListQuery, Page
from screens.dialogs import CommentDialog, ConfirmDialog, Dialog, FieldError  # noqa: F401
from screens.guarded import GuardedActions
from screens.widgets import data, labelled

if TYPE_CHECKING:
    from services.workflow import ActionResult, WorkItemView

TICK_SECONDS = 60
COLUMNS = [
    Column("sel", " "),
    Column("id", "Item"),
    Column("document", "Document", width=22),
    Column("step", "Step", width=14),
    Column("due", "Due", width=24),
    Column("age", "Age"),
    Column("summary", "Summary", width=34),
    Column("assignee", "Assigned to", width=14),
    Column("via", "Assigned via", width=18),
]
FILTERS = ["All", "Overdue", "Waiting for me", "My submissions"]


def age_text(minutes: int) -> str:
    if minutes < 60:
        return f"{minutes}m"
    if minutes < 48 * 60:
        return f"{minutes // 60}h {minutes % 60:02d}m"
    return f"{minutes // (24 * 60)}d {minutes % (24 * 60) // 60}h"


# --------------------------------------------------------------------------- dialogs


class DelegateDialog(Dialog[str]):
    """Pick the operator who takes the item. Returns the user name, or None."""

    AUTO_FOCUS = "#operators"
    DEFAULT_CSS = """
    DelegateDialog #delegate-dialog { width: 70; height: auto; max-height: 80%; border: thick $primary;
                                      background: $surface; padding: 1 2; }
    DelegateDialog #operators { height: auto; max-height: 16; }
    """

    BINDINGS = [Binding("ctrl+s", "pick", "Delegate", id="delegate.ok", tooltip="Delegate to the highlighted operator")]

    def __init__(self, item_label: str, operators: list[tuple[str, str]]) -> None:
        super().__init__()
        self.item_label, self.operators = item_label, operators

    def action_pick(self) -> None:
        options = self.query_one("#operators", OptionList)
        if options.highlighted is not None:
            self.dismiss(options.get_option_at_index(options.highlighted).id)

    def compose(self) -> ComposeResult:
        with Vertical(id="delegate-dialog", classes="dialog"):
            yield Static(data(f"Delegate {self.item_label} to…", "bold"), classes="dialog-title")
            yield OptionList(
                *[Option(Content.assemble((user, "bold"), "  ", name), id=user) for user, name in self.operators],
                id="operators",
            )

    @on(OptionList.OptionSelected, "#operators")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)


class ResultsDialog(Dialog[None]):
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
            yield Static(
                data(f"{self.title_text}: {ok} done, {len(self.results) - ok} failed", "bold"), classes="dialog-title"
            )
            with VerticalScroll(id="results-body"):
                yield Static(body)
            yield Button("OK", id="results-ok", variant="primary")

    @on(Button.Pressed, "#results-ok")
    def _ok(self) -> None:
        self.dismiss(None)


# --------------------------------------------------------------------------- the screen


class MyWorkScreen(GuardedActions, BrowserScreen):
    TITLE = "My work"
    AUTO_FOCUS = "#mywork"
    TABLE_ID = "mywork"
    COLUMNS = COLUMNS
    FILTERS = FILTERS
    # list_work returns one bounded list (500: the most urgent first), searched and filtered by the
    # service through its indexes, so a search or a tab finds every open item; sorted here
    LOCAL = True
    AUTO_ADVANCE = True
    SEARCH_PLACEHOLDER = "/ search work items"
    EMPTY_DETAIL = "No work item selected."
    NOUN = "work item"
    DEFAULT_CSS = """
    MyWorkScreen #detail { width: 52; }
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
* **m** switches between my items and everyone's (with the *Assigned to* column); **f5** rereads.
* Your own submissions are marked *yours*: they wait for someone else, not for you.
* You cannot approve a document you submitted while *Disallow approval by submitter* is on.
* Time limits, escalations and reminders are applied every minute while the console is open
  (and by `regdesk workflow tick` from cron).
"""
    BINDINGS = [
        Binding("a", "approve", "Approve", id="mywork.approve", tooltip="Approve the selected work item"),
        Binding(
            "ctrl+a",
            "approve_comment",
            "Approve…",
            id="mywork.approve_comment",
            show=False,
            tooltip="Approve the selected work item with a comment",
        ),
        Binding("r", "reject", "Reject", id="mywork.reject", tooltip="Reject the selected work item (reason required)"),
        Binding(
            "c",
            "request_change",
            "Request change",
            id="mywork.change",
            tooltip="Send the document back to its submitter for changes",
        ),
        Binding("d", "delegate", "Delegate", id="mywork.delegate", tooltip="Hand the work item to another operator"),
        Binding("space", "mark", "Mark", id="mywork.mark", tooltip="Mark or unmark the item for a bulk action"),
        Binding(
            "A", "bulk('approve')", "Approve marked", id="mywork.bulk_approve", tooltip="Approve every marked item"
        ),
        Binding("R", "bulk('reject')", "Reject marked", id="mywork.bulk_reject", tooltip="Reject every marked item"),
        Binding("m", "toggle_mine", "Mine/all", id="mywork.mine", tooltip="Show my items or everyone's"),
        Binding("f5", "reread", "Reread", id="mywork.reread", tooltip="Reread the work items"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mine = True
        self.marked: set[str] = set()

    @property
    def rows(self) -> dict[str, WorkItemView]:
        return self.records

    # ------------------------------------------------------------------ the list

    def fetch(self, q: ListQuery, after: Any, limit: int, reverse: bool) -> Page:
        from services import workflow

        return Page(self.app.call(workflow.list_work, self.mine, search=q.search or None, view=q.status))

    def fetch_counts(self, search: str) -> dict[str, int] | None:
        """Every open item per tab (the service counts them), not the rows of the bounded list."""
        from services import workflow

        return dict(self.app.call(workflow.work_counts, self.mine, search=search or None))

    def row_filter(self, w: Any) -> str | None:
        return "Overdue" if w.overdue else None

    def _local(self, q: ListQuery, rows: list[Any]) -> list[Any]:
        """The service searched and filtered the rows (``fetch``); only a column's sort is here."""
        return super()._local(ListQuery("All", "", q.sort, q.descending), rows)

    def row_key(self, w: Any) -> str:
        return str(w.id)

    def row_cells(self, w: Any) -> list[Text]:
        key = str(w.id)
        style = "bold red" if w.overdue else ""
        own = w.submitter == getattr(self.app.actor, "user_name", None)
        summary = data(w.summary or "—", "dim" if own else "")
        if own:
            summary = Text.assemble(("yours · ", "italic"), summary)
        return [
            Text("●" if key in self.marked else " ", style="bold"),
            Text(key, style=style),
            data(f"{w.doc_title} {w.doc_key}", style),
            data(w.step),
            Text(f"{w.due_at:%Y-%m-%d %H:%M}" + (" overdue" if w.overdue else ""), style=style)
            if w.due_at
            else Text("—", style="dim"),
            Text(age_text(w.age_minutes)),
            summary,
            data(w.assignee),
            data(w.assigned_via),
        ]

    def fetch_detail(self, key: str) -> Any:
        from services import workflow

        return self.app.call(workflow.show_item, int(key))

    def detail_key(self, detail: Any) -> str | None:
        return getattr(self, "_detail_for", None) if detail is not None else None

    def _fetch_detail(self, key: str) -> None:  # type: ignore[override]
        self._detail_for = key
        super()._fetch_detail(key)

    def compose_detail(self) -> ComposeResult:
        for wid, title in (("mw-item", "Work item"), ("mw-history", "Workflow")):
            w = Static(id=wid, classes="mw-section")
            w.border_title = title
            w.display = False
            yield w

    def _show_item(self, key: str | None) -> None:
        w = self.records.get(key) if key else None
        item = self.query_one("#mw-item", Static)
        item.display = w is not None
        if w is None:
            return
        item.update(
            labelled(
                [
                    ("Document", f"{w.doc_title} {w.doc_key}"),
                    ("Summary", w.summary),
                    ("Step", w.step),
                    ("Assigned to", w.assignee),
                    ("Via", w.assigned_via),
                    ("Submitted by", w.submitter),
                    ("Assigned", w.assigned_at),
                    ("Due", w.due_at),
                    ("Age", age_text(w.age_minutes)),
                    ("Delegated from", w.delegated_from),
                ],
                width=15,
            )
        )

    def _select(self, key: str | None) -> None:  # type: ignore[override]
        super()._select(key)
        self._show_item(key)  # the row has what the item section shows: at once
        self.query_one("#detail-empty").display = key is None

    def show_detail(self, d: Any) -> None:
        hist = self.query_one("#mw-history", Static)
        hist.display = d is not None
        if d is None:
            return
        hist.border_title = f"Workflow: {d.definition}"
        out = Text()
        for i, it in enumerate(d.items):
            if i:
                out.append("\n")
            out.append(f"{it.step}: ", style="bold")
            out.append_text(data(it.assignee))
            out.append(
                f"  {it.status.replace('_', ' ')}",
                style="green" if it.status == "approved" else "red" if it.status == "rejected" else "",
            )
            if it.comment:
                out.append("\n   ")
                out.append_text(data(it.comment, "italic"))
        hist.update(out)

    # ------------------------------------------------------------------ actions (on the item under the cursor at key time)

    def _current(self) -> WorkItemView | None:
        key = self.target()
        return self.records.get(key) if key is not None else None

    def action_toggle_mine(self) -> None:
        self.mine = not self.mine
        self.marked.clear()
        self.notify("everyone's open items" if not self.mine else "my items", severity="information", timeout=2)
        self.reload()

    def action_mark(self) -> None:
        w = self._current()
        if w is None:
            return
        key = str(w.id)
        self.marked ^= {key}
        table = self.table
        table.update_cell(key, "sel", Text("●" if key in self.marked else " ", style="bold"))
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)
        self._update_info()

    def action_approve(self) -> None:
        w = self._current()
        if w is not None:
            self._decide("approve", [w.id], None, str(w.id))

    def refusal(self, key: str, action: str) -> str | None:
        from services import workflow

        return self.app.call(workflow.refusal, int(key), action)

    def allows(self, detail: Any, action: str) -> bool:
        return False  # an item lists no actions: the service is asked each time (one read)

    def _item(self, key: str) -> WorkItemView | None:
        return self.records.get(key)

    def action_approve_comment(self) -> None:
        self.when_possible("approve", self._approve_comment)

    def _approve_comment(self, key: str, _detail: Any) -> None:
        if (w := self._item(key)) is None:
            return

        def done(comment: str | None) -> None:
            if comment is not None:
                self._decide("approve", [w.id], comment or None, str(w.id))

        self.app.push_screen(
            CommentDialog(
                f"Approve {w.doc_title} {w.doc_key}", "Comment (optional):", required=False, button="Approve"
            ),
            done,
        )

    def action_reject(self) -> None:
        self.when_possible("reject", self._reject)

    def _reject(self, key: str, _detail: Any) -> None:
        if (w := self._item(key)) is None:
            return

        def done(reason: str | None) -> None:
            if reason:
                self._decide("reject", [w.id], reason, str(w.id))

        self.app.push_screen(
            CommentDialog(
                f"Reject {w.doc_title} {w.doc_key}",
                "Reason (required):",
                required=True,
                button="Reject",
                variant="error",
            ),
            done,
        )

    def action_request_change(self) -> None:
        self.when_possible("request_change", self._request_change)

    def _request_change(self, key: str, _detail: Any) -> None:
        if (w := self._item(key)) is None:
            return

        def done(comment: str | None) -> None:
            if comment is not None:
                self._decide("request_change", [w.id], comment or None, str(w.id))

        self.app.push_screen(
            CommentDialog(
                f"Send {w.doc_title} {w.doc_key} back to {w.submitter}",
                "What should be changed?",
                required=False,
                button="Request change",
            ),
            done,
        )

    def action_delegate(self) -> None:
        self.when_possible("delegate", self._delegate_open)

    def _delegate_open(self, key: str, _detail: Any) -> None:
        if (w := self._item(key)) is not None:
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

    def _delegate(self, item_id: int, user: str) -> None:
        from services import workflow

        def run() -> str:
            r = self.app.call(workflow.delegate, item_id, user)
            return self._report([r])

        self.act(str(item_id), run)

    def action_bulk(self, action: str) -> None:
        ids = [int(k) for k in self.records if k in self.marked]
        if not ids:
            self.notify("Mark items with space first.", severity="warning")
            return
        key = self.table.key_at_cursor() or str(ids[0])
        what = ", ".join(f"{self.records[str(i)].doc_title} {self.records[str(i)].doc_key}" for i in ids[:3])
        what += f" and {len(ids) - 3} more" if len(ids) > 3 else ""
        if action == "approve":

            def confirmed(ok: bool | None) -> None:
                if ok:
                    self._decide("approve", ids, None, key)

            self.app.push_screen(
                ConfirmDialog(
                    f"Approve {len(ids)} marked items", f"Approve {len(ids)} item(s): {what}.", ok="Approve all"
                ),
                confirmed,
            )
            return

        def done(reason: str | None) -> None:
            if reason:
                self._decide("reject", ids, reason, key)

        self.app.push_screen(
            CommentDialog(
                f"Reject {len(ids)} marked items: {what}",
                "Reason (required, for each):",
                required=True,
                button="Reject",
                variant="error",
            ),
            done,
        )

    def _decide(self, action: str, ids: list[int], comment: str | None, key: str) -> None:
        from services import workflow

        def run() -> str:
            results = self.app.call(workflow.bulk_decide, ids, action, comment)
            return self._report(results)

        self.act(key, run)

    def _report(self, results: list[ActionResult]) -> str:
        """Thread: a single result becomes the message (a refusal raises); several open the results dialog."""
        from services.errors import InvalidTransition

        done = {str(r.item_id) for r in results if r.ok and r.item_id is not None}
        self.app.call_from_thread(lambda: self.marked.difference_update(done))
        if len(results) == 1:
            r = results[0]
            if not r.ok:
                raise InvalidTransition(r.message)
            return r.message
        self.app.call_from_thread(
            self.app.push_screen, ResultsDialog(f"{results[0].action.replace('_', ' ').capitalize()}", results)
        )
        return ""
