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
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Static

from screens.browser import BrowserScreen, Column, CountsLoaded, ListQuery, Page
from screens.dialogs import CommentDialog, ConfirmDialog
from screens.guarded import GuardedActions
from screens.widgets import data, labelled
from services.text import strip_controls

if TYPE_CHECKING:
    from services.changes import ProposalView

FILTERS = ["Waiting for me", "Submitted", "Not submitted", "Approved", "Partially approved", "Rejected", "All"]
COLUMNS = [
    Column("number", "Proposal"),
    Column("account", "Account"),
    Column("customer", "Customer", width=26),
    Column("state", "State", width=18),
    Column("fields", "Fields", width=24),
    Column("by", "Proposed by", width=12),
    Column("submitted", "Submitted"),
]
STATE_STYLE = {
    "Submitted": "yellow",
    "Not submitted": "dim",
    "Approved": "green",
    "Partially approved": "cyan",
    "Rejected": "red",
    "Discarded": "dim",
}


class ChangesScreen(GuardedActions, BrowserScreen):
    TITLE = "Changes"
    AUTO_FOCUS = "#proposals"
    TABLE_ID = "proposals"
    COLUMNS = COLUMNS
    FILTERS = FILTERS
    LOCAL = True  # list_proposals returns one bounded list: filtered, searched and sorted here
    SEARCH_PLACEHOLDER = "/ search proposals"
    EMPTY_DETAIL = "Select a proposal."
    NOUN = "proposal"
    DEFAULT_CSS = """
    ChangesScreen #detail { width: 3fr; }
    ChangesScreen .list-pane { width: 2fr; }
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
        Binding(
            "A",
            "approve_comment",
            "Approve…",
            id="changes.approve_comment",
            show=False,
            tooltip="Approve every line with a comment for the history",
        ),
        Binding("space", "mark", "Mark line", id="changes.mark", tooltip="Mark or unmark the line under the cursor"),
        Binding(
            "o",
            "approve_marked",
            "Approve marked",
            id="changes.approve_marked",
            tooltip="Approve only the marked lines; the others are rejected",
        ),
        Binding("c", "comment", "Comment line", id="changes.comment", tooltip="A comment on the line under the cursor"),
        Binding("r", "reject", "Reject", id="changes.reject", tooltip="Reject the proposal (asks the reason)"),
        Binding("f5", "reread", "Reread", id="changes.reread", tooltip="Reread the list and the detail"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.marked: set[str] = set()
        self.comments: dict[str, str] = {}
        self._shown: str | None = None

    @property
    def view(self) -> ProposalView | None:
        return self.detail

    @property
    def filter(self) -> str:
        return self.query_state.status

    # ------------------------------------------------------------------ the list (one bounded list per filter)

    def fetch(self, q: ListQuery, after: Any, limit: int, reverse: bool) -> Page:
        from services import changes, list_counts

        self._all = self.app.call(changes.list_proposals, state="All")
        self._waiting = {r.number for r in self.app.call(changes.list_proposals, waiting_for_me=True)}
        self._kept = self.app.call(list_counts.proposals) if not q.search else None
        return Page(self._all)

    def row_filter(self, row: Any) -> str | None:
        return row.state

    def _local(self, q: ListQuery, rows: list[Any]) -> list[Any]:
        out = super()._local(ListQuery("All", q.search, q.sort, q.descending), rows)
        counts = {name: 0 for name in FILTERS}
        for r in out:
            counts["All"] += 1
            counts[r.state] = counts.get(r.state, 0) + 1
            if r.number in self._waiting:
                counts["Waiting for me"] += 1
        kept = getattr(self, "_kept", None)
        if kept:  # no search: the states' totals are the kept counters (the list itself is bounded)
            counts.update({name: kept[name] for name in FILTERS if name in kept})
        self.post_message(_Counts(counts))
        if q.status == "All":
            return out
        if q.status == "Waiting for me":
            return [r for r in out if r.number in self._waiting]
        return [r for r in out if r.state == q.status]

    def fetch_detail(self, key: str) -> ProposalView:
        from services import changes

        return self.app.call(changes.show_proposal, key)

    def row_key(self, row: Any) -> str:
        return row.number

    def detail_changed_row(self, key: str, detail: Any) -> None:
        row = self.records.get(key)
        if row is None or not detail.state or row.state == detail.state:
            return
        # a row kept in place after its decision: its new state, into the record too (a page answer
        # arriving after this detail repaints from it), as Registration and Prospects do
        self.records[key] = row.model_copy(update={"state": detail.state})
        self.table.update_cell(key, "state", data(detail.state, STATE_STYLE.get(detail.state, "")))

    def row_cells(self, r: Any) -> list[Text]:
        return [
            data(r.number),
            data(r.account),
            data(r.customer_name),
            data(r.state, STATE_STYLE.get(r.state, "")),
            data(r.fields),
            data(r.created_by),
            data(r.submitted_at),
        ]

    def compose_detail(self) -> ComposeResult:
        head = Static(id="chg-head", classes="chg-section")
        head.border_title = "Proposal"
        head.display = False
        yield head
        box = Vertical(id="chg-lines-box", classes="chg-section")
        box.border_title = "Proposed changes"
        box.display = False
        with box:
            lines: DataTable[Any] = DataTable(id="chg-lines", cursor_type="row")
            for key, label in (
                ("mark", "✓"),
                ("field", "Field"),
                ("original", "Original"),
                ("proposed", "Proposed"),
                ("current", "Current"),
                ("flag", "Conflict"),
                ("decision", "Decision"),
                ("comment", "Comment"),
            ):
                lines.add_column(label, key=key)
            yield lines
            yield Static(id="chg-selection")
        message = Static(id="chg-message")
        message.display = False
        yield message

    def show_detail(self, view: ProposalView | None) -> None:
        self.marked, self.comments = (
            (self.marked, self.comments) if view is not None and self._shown == view.number else (set(), {})
        )
        self._shown = view.number if view is not None else None
        for wid in ("#chg-head", "#chg-lines-box", "#chg-message"):
            self.query_one(wid).display = view is not None
        if view is None:
            return
        head = self.query_one("#chg-head", Static)
        head.border_title = f"Proposal {view.number}"
        head.update(
            labelled(
                [
                    ("Customer", f"{view.account} {view.customer_name}"),
                    ("State", view.state),
                    ("Proposed by", f"{view.created_by} ({view.source})"),
                    (
                        "Submitted",
                        f"{view.submitted_by or ''} {view.submitted_at:%Y-%m-%d %H:%M}" if view.submitted_at else "",
                    ),
                    ("Decided", f"{view.decided_by} {view.decided_at:%Y-%m-%d %H:%M}" if view.decided_at else ""),
                    ("Reason", view.reason or ""),
                    (
                        "Workflow",
                        f"instance {view.workflow_instance_id}"
                        if view.workflow_instance_id
                        else "single approver step",
                    ),
                ]
            )
        )
        self._fill_lines()
        message = self.query_one("#chg-message", Static)
        msg = Text()
        if view.conflicts and view.state == "Submitted":
            msg.append(
                f"{view.conflicts} line(s) in CONFLICT: the customer changed since they were proposed; "
                "they will not be applied.\n",
                style="bold red",
            )
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
                table.add_row(
                    Text("✓" if x.field in self.marked else " ", style="bold green"),
                    data(x.label),
                    data(x.original),
                    data(x.proposed, "bold"),
                    data(x.current, "bold red" if x.conflict else ""),
                    Text("CONFLICT", style="bold red") if x.conflict else Text(""),
                    data(x.decision),
                    data(self.comments.get(x.field, x.comment or "")),
                    key=x.field,
                )
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))
        marked = ", ".join(sorted(self.marked)) or "none"
        self.query_one("#chg-selection", Static).update(Text(f"marked for approval: {marked}"))

    def _line(self) -> str | None:
        table = self.query_one("#chg-lines", DataTable)
        if self.view is None or not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value)

    # ------------------------------------------------------------------ actions (on the proposal under the cursor at key time)

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

        def done(text: str | None) -> None:
            if text:
                self.comments[field] = text
                self._fill_lines()

        self.app.push_screen(CommentDialog(f"Comment on {field}", "Comment (kept with the line):", required=True), done)

    def _proposal(self) -> tuple[str, ProposalView] | None:
        number = self.target()
        if number is None:
            return None
        view = self.target_detail(number)
        if view is None:
            self.app.notify("The proposal is still loading; try again in a moment.", severity="information")
            return None
        return number, view

    def action_approve_all(self) -> None:
        if (p := self._proposal()) is not None:
            self._decide(p[0], p[1].account, "approve", None, dict(self.comments), None)

    def refusal(self, key: str, action: str) -> str | None:
        from services import changes

        return self.app.call(changes.refusal, key, action)

    def allows(self, detail: Any, action: str) -> bool:
        return False  # a proposal's view lists no actions: the service is asked each time (one read)

    def action_approve_comment(self) -> None:
        self.when_possible("approve", self._approve_comment)

    def _approve_comment(self, number: str, view: ProposalView) -> None:
        comments = dict(self.comments)

        def done(comment: str | None) -> None:
            if comment is not None:
                self._decide(number, view.account, "approve", None, comments, None, comment or None)

        self.app.push_screen(
            CommentDialog(
                f"Approve {number} — {view.account}", "Comment (optional):", required=False, button="Approve"
            ),
            done,
        )

    def action_approve_marked(self) -> None:
        if not self.marked:
            self.app.notify("Mark the lines to approve with space first (or a approves all).", severity="warning")
            return
        self.when_possible("approve", self._approve_marked)

    def _approve_marked(self, number: str, view: ProposalView) -> None:
        marked, comments = sorted(self.marked), dict(self.comments)
        others = [x.field for x in view.lines if x.field not in self.marked]
        summary = (
            f"Apply {len(marked)} marked line(s) of {number} ({', '.join(marked)}) to {view.account}"
            + (f"; reject the other {len(others)} ({', '.join(others)})" if others else "")
            + "."
        )

        def done(ok: bool | None) -> None:
            if ok:
                self._decide(number, view.account, "approve", marked, comments, None)

        self.app.push_screen(ConfirmDialog("Apply marked lines", summary, ok="Apply"), done)

    def action_reject(self) -> None:
        self.when_possible("reject", self._reject)

    def _reject(self, number: str, view: ProposalView) -> None:
        def done(reason: str | None) -> None:
            if reason:
                self._decide(number, view.account, "reject", None, {}, reason)

        self.app.push_screen(
            CommentDialog(
                f"Reject {number} — {view.account}",
                "Reason (required):",
                required=True,
                button="Reject",
                variant="error",
            ),
            done,
        )

    def _decide(
        self,
        number: str,
        account: str,
        action: str,
        only: list[str] | None,
        comments: dict[str, str],
        reason: str | None,
        comment: str | None = None,
    ) -> None:
        from services import changes

        def run() -> str:
            if action == "approve":
                result = self.app.call(changes.approve, account, only=only, comments=comments, comment=comment)
            else:
                result = self.app.call(changes.reject, account, reason or "")
            return strip_controls(result.message)

        self.marked, self.comments = set(), {}
        self.act(number, run)


class _Counts(CountsLoaded):
    pass
