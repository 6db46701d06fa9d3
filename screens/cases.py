"""The Cases area (seed 002): customer request cases by status, and the selected case as a
form in its five sections (Case information, Customer contact information, Description,
Resolution, Closure), its samples and its history. Every action is a key.

The list is the record browser's (screens/browser/); the forms are the dialog kit's
``FormDialog`` whose service call runs inside the dialog, so a refused form stays open with
what was typed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import Static

from screens.browser import ActionDone, BrowserScreen, Column, ListQuery, Page
from screens.dialogs import CommentDialog, ConfirmDialog, FieldSpec, FormDialog
from screens.guarded import GuardedActions
from screens.widgets import data, labelled

if TYPE_CHECKING:
    from services.cases import CaseDetail

FILTERS = ["All", "Open", "Pending Approval", "Approved", "Rejected", "Resolved", "Closed/Stopped", "Closed/Completed"]
STATUS_STYLE = {
    "Open": "yellow",
    "Pending Approval": "cyan",
    "Approved": "green",
    "Rejected": "red",
    "Resolved": "bold green",
    "Closed/Stopped": "dim",
    "Closed/Completed": "dim green",
}
COLUMNS = [
    Column("number", "Number"),
    Column("status", "Status", width=16),
    Column("title", "Title", width=30),
    Column("customer", "Customer", width=24),
    Column("priority", "Priority", width=8),
    Column("created", "Created"),
]
SECTIONS = (
    ("info", "Case information"),
    ("contact", "Customer contact information"),
    ("description", "Description"),
    ("resolution", "Resolution"),
    ("closure", "Closure"),
    ("approval", "Approval"),
    ("samples", "Sample requests"),
    ("history", "History"),
)
CATEGORIES = ("Special condition", "Product change", "Price change", "Delivery", "Complaint", "Other")
PRIORITIES = ("Low", "Normal", "High")
CLOSURE_KINDS = ("stopped", "completed")

# the service's action names (services.cases.allowed_actions) as the operator reads them, and their keys
ACTION_LABELS = {
    "submit": "submit (w)",
    "approve": "approve (a)",
    "reject": "reject (r)",
    "resolve": "resolution (s)",
    "close_stopped": "close as stopped (c)",
    "close_completed": "close as completed (c)",
    "sample": "sample (m)",
    "edit": "edit (e)",
}


def possible_now(actions: list[str]) -> str:
    return ", ".join(ACTION_LABELS.get(a, a.replace("_", " ")) for a in actions)


__all__ = ["CasesScreen", "FormDialog", "FieldSpec"]


class CasesScreen(GuardedActions, BrowserScreen):
    TITLE = "Cases"
    AUTO_FOCUS = "#cases"
    TABLE_ID = "cases"
    COLUMNS = COLUMNS
    FILTERS = FILTERS
    PAGE_SIZE = 100
    SEARCH_PLACEHOLDER = "/ search number, title, customer"
    EMPTY_DETAIL = "Select a case."
    NOUN = "case"
    DEFAULT_CSS = """
    CasesScreen .cs-section { border: round $primary-darken-1; padding: 0 1; height: auto; }
    """
    HELP = """\
## Cases — customer requests (special conditions, product changes...)

Status order: *Open* on creation → *Pending Approval* when submitted → *Approved* (or
*Rejected*) by an approver. A case created by a sales rep is *Approved* at once.
*Resolved* is set by itself when Resolution and Resolution date are both filled (and goes
back to *Approved* if one is emptied). *Closed/Stopped* and *Closed/Completed* are set by
hand with a closure reason; completed needs a resolved case.

* **1**–**8** switch the status filter; **f5** rereads.
* **n** new case, **e** edit case information/contact/description (Open or Rejected).
* **w** submit for approval, **a** approve, **r** reject (with a reason), **b** recall.
* **s** fill the Resolution section, **c** close (stopped or completed, with a reason).
* **m** request a sample (a separate record: no customer request is created).
"""
    BINDINGS = [
        Binding("n", "new", "New", id="cases.new", tooltip="Create a new case"),
        Binding("e", "edit", "Edit", id="cases.edit", tooltip="Edit the case information, contact and description"),
        Binding("w", "submit", "Submit", id="cases.submit", tooltip="Submit the case for approval"),
        Binding("a", "approve", "Approve", id="cases.approve", tooltip="Approve the case"),
        Binding(
            "A",
            "approve_comment",
            "Approve…",
            id="cases.approve_comment",
            show=False,
            tooltip="Approve the case with a comment",
        ),
        Binding("r", "reject", "Reject", id="cases.reject", tooltip="Reject the case (asks the reason)"),
        Binding("b", "recall", "Recall", id="cases.recall", tooltip="Take your submitted case back", show=False),
        Binding("s", "resolve", "Resolution", id="cases.resolve", tooltip="Fill Resolution and Resolution date"),
        Binding("c", "close_case", "Close", id="cases.close", tooltip="Close the case (stopped or completed)"),
        Binding("m", "sample", "Sample", id="cases.sample", tooltip="Request a sample on the case"),
        Binding("f5", "reread", "Reread", id="cases.reread", tooltip="Reread the list and the case"),
        Binding("o", "sort", "Sort", id="cases.sort", tooltip="Sort by the next column", show=False),
    ]

    # ------------------------------------------------------------------ the list

    def fetch(self, q: ListQuery, after: Any, limit: int, reverse: bool) -> Page:
        from services import cases

        page = self.app.call(cases.list_cases, status=q.status, search=q.search or None, after=after, limit=limit)
        return Page(page.rows, page.after)

    def fetch_counts(self, search: str) -> dict[str, int]:
        from services import cases

        return self.app.call(cases.count_by_status, search=search or None)

    def fetch_detail(self, key: str) -> CaseDetail | None:
        from services import cases
        from services.errors import NotFound

        try:
            return self.app.call(cases.show_case, key)
        except NotFound:
            return None

    def row_key(self, row: Any) -> str:
        return row.number

    def refusal(self, key: str, action: str) -> str | None:
        from services import cases

        return self.app.call(cases.refusal, key, action)

    def detail_changed_row(self, key: str, detail: Any) -> None:
        row = self.records.get(key)
        if row is None or not detail.status or row.status == detail.status:
            return
        # a row kept in place after its action: its new status, into the record too (a page answer
        # arriving after this detail repaints from it), as Registration and Prospects do
        self.records[key] = row.model_copy(update={"status": detail.status})
        self.table.update_cell(key, "status", Text(detail.status, style=STATUS_STYLE.get(detail.status, "")))

    def row_cells(self, row: Any) -> list[Text]:
        return [
            Text(row.number),
            Text(row.status, style=STATUS_STYLE.get(row.status, "")),
            data(row.title),
            data(f"{row.customer_account} {row.customer_name}"),
            data(row.priority),
            Text(f"{row.created_at:%Y-%m-%d %H:%M}"),
        ]

    def compose_detail(self) -> ComposeResult:
        for section, title in SECTIONS:
            widget = Static(id=f"cs-{section}", classes="cs-section")
            widget.border_title = title
            widget.display = False
            yield widget

    def show_detail(self, d: CaseDetail | None) -> None:
        for section, _ in SECTIONS:
            self.query_one(f"#cs-{section}", Static).display = d is not None
        if d is None:
            return
        get = lambda sid: self.query_one(f"#cs-{sid}", Static)  # noqa: E731
        status = Text(d.status, style=STATUS_STYLE.get(d.status, ""))
        info = labelled([("Number", d.number)])
        info.append("\n")
        info.append(f"{'Status':<18}", style="bold")
        info.append_text(status)
        info.append("\n")
        info.append_text(
            labelled(
                [
                    ("Title", d.title),
                    ("Category", d.category),
                    ("Priority", d.priority),
                    ("Customer", f"{d.customer_account} {d.customer_name}"),
                    ("Created by", f"{d.created_by} ({d.profile or 'no profile'})"),
                    ("Created", d.created_at),
                ]
            )
        )
        get("info").update(info)
        get("contact").update(
            labelled([("Name", d.contact_name), ("E-mail", d.contact_email), ("Phone", d.contact_phone)])
        )
        get("description").update(data(d.description or "—"))
        get("resolution").update(
            labelled(
                [("Resolution", d.resolution), ("Resolution date", d.resolution_date), ("Resolved", d.resolved_at)]
            )
        )
        get("closure").update(
            labelled([("Closure reason", d.closure_reason), ("Closed by", d.closed_by), ("Closed", d.closed_at)])
        )
        get("approval").update(
            labelled(
                [
                    ("Submitted by", d.submitted_by),
                    ("Approved by", d.approved_by),
                    ("Rejected by", d.rejected_by),
                    ("Reject reason", d.reject_reason),
                    ("Workflow", d.workflow),
                    ("Possible now", possible_now(d.actions)),
                ]
            )
        )
        samples = Text()
        for i, s in enumerate(d.samples):
            if i:
                samples.append("\n")
            samples.append_text(data(f"{s.number}  {s.status:<9} {s.quantity} x {s.product}"))
        get("samples").update(samples if d.samples else Text("none", style="dim"))
        history = Text()
        for i, e in enumerate(d.history[-12:]):
            if i:
                history.append("\n")
            history.append(f"{e.at:%Y-%m-%d %H:%M} ", style="dim")
            history.append_text(data(f"{e.operator} {e.action}" + (f": {e.comment}" if e.comment else "")))
        get("history").update(history)

    # ------------------------------------------------------------------ actions (on the case under the cursor at key time)

    def _case(self) -> tuple[str, CaseDetail | None] | None:
        number = self.target()
        return None if number is None else (number, self.target_detail(number))

    def _form(
        self,
        number: str | None,
        title: Content,
        fields: list[FieldSpec],
        submit: Callable[[dict[str, str]], Any],
        *,
        required: tuple[str, ...] = (),
        ok: str = "OK",
    ) -> None:
        """A form whose service call runs inside it; on success the list shows the result."""

        def done(result: Any) -> None:
            if result is None:
                return
            key = getattr(result, "number", None) if number is None else number
            text = f"{getattr(result, 'number', '')}: {getattr(result, 'status', 'done')}"
            if getattr(result, "message", ""):
                text += f" — {result.message}"
            self.post_message(ActionDone(key or "", text))

        self.app.push_screen(FormDialog(title, fields, required=required, ok=ok, submit=submit), done)

    def action_new(self) -> None:
        from services import cases

        fields = [
            FieldSpec("title", "Title"),
            FieldSpec("customer_account", "Customer account", placeholder="C-000001"),
            FieldSpec("category", "Category", "Other", choices=CATEGORIES),
            FieldSpec("priority", "Priority", "Normal", choices=PRIORITIES),
            FieldSpec("contact_name", "Contact name"),
            FieldSpec("contact_email", "Contact e-mail"),
            FieldSpec("contact_phone", "Contact phone"),
            FieldSpec("description", "Description", multiline=True),
        ]
        self._form(
            None,
            Content("New case"),
            fields,
            lambda v: self.app.call(cases.create_case, v),
            required=("title", "customer_account"),
        )

    def action_edit(self) -> None:
        self.when_possible("edit", self._edit)

    def _edit(self, number: str, d: CaseDetail) -> None:
        from services import cases

        fields = [
            FieldSpec("title", "Title", d.title),
            FieldSpec("category", "Category", d.category, choices=CATEGORIES),
            FieldSpec("priority", "Priority", d.priority, choices=PRIORITIES),
            FieldSpec("contact_name", "Contact name", d.contact_name or ""),
            FieldSpec("contact_email", "Contact e-mail", d.contact_email or ""),
            FieldSpec("contact_phone", "Contact phone", d.contact_phone or ""),
            FieldSpec("description", "Description", d.description or "", multiline=True),
        ]
        version = d.version
        self._form(
            number,
            Content.from_markup("Edit case [b]$n[/b]", n=number),
            fields,
            lambda v: self.app.call(cases.update_case, number, v, version),
            required=("title",),
            ok="Save",
        )

    def action_resolve(self) -> None:
        self.when_possible("resolve", self._resolve)

    def _resolve(self, number: str, d: CaseDetail) -> None:
        from services import cases

        version = d.version
        fields = [
            FieldSpec("resolution", "Resolution", d.resolution or "", multiline=True),
            FieldSpec(
                "resolution_date",
                "Resolution date",
                str(d.resolution_date or ""),
                placeholder="today",
                kind="date",
            ),
        ]
        self._form(
            number,
            Content.from_markup("Resolution of [b]$n[/b] (both filled: Resolved)", n=number),
            fields,
            lambda v: self.app.call(cases.update_case, number, v, version),
            ok="Save",
        )

    def action_reject(self) -> None:
        self.when_possible("reject", self._reject)

    def _reject(self, number: str, _d: CaseDetail) -> None:
        from services import cases

        self._form(
            number,
            Content.from_markup("Reject [b]$n[/b]", n=number),
            [FieldSpec("reason", "Reason")],
            lambda v: self.app.call(cases.reject, number, v["reason"]),
            required=("reason",),
            ok="Reject",
        )

    def action_close_case(self) -> None:
        self.when_possible("close", self._close_case)

    def _close_case(self, number: str, d: CaseDetail) -> None:
        from services import cases

        kind = "completed" if d.status == "Resolved" else "stopped"
        self._form(
            number,
            Content.from_markup("Close [b]$n[/b] (cannot be undone)", n=number),
            [
                FieldSpec("kind", "Stopped or completed", kind, choices=CLOSURE_KINDS),
                FieldSpec("reason", "Closure reason"),
            ],
            lambda v: self.app.call(cases.close, number, v["kind"], v["reason"]),
            required=("kind", "reason"),
            ok="Close case",
        )

    def action_sample(self) -> None:
        self.when_possible("sample", self._sample)

    def _sample(self, number: str, _d: CaseDetail) -> None:
        from services import cases

        def submit(values: dict[str, str]) -> Any:
            qty = values["quantity"].strip()
            return self.app.call(cases.add_sample, number, {**values, "quantity": int(qty) if qty.isdigit() else qty})

        self._form(
            number,
            Content.from_markup("Sample request on [b]$n[/b]", n=number),
            [
                FieldSpec("product", "Product"),
                FieldSpec("quantity", "Quantity", "1"),
                FieldSpec("ship_to", "Ship to", multiline=True),
                FieldSpec("notes", "Notes"),
            ],
            submit,
            required=("product",),
            ok="Request",
        )

    def _status_action(self, number: str, fn: Callable[..., Any], *args: Any) -> None:
        def run() -> str:
            r = self.app.call(fn, number, *args)
            return f"{r.number}: {r.status}" + (f" — {r.message}" if getattr(r, "message", "") else "")

        self.act(number, run)

    def action_submit(self) -> None:
        if (case := self._case()) is not None:
            from services import cases

            self._status_action(case[0], cases.submit)

    def action_approve(self) -> None:
        if (case := self._case()) is not None:
            from services import cases

            self._status_action(case[0], cases.approve)

    def action_approve_comment(self) -> None:
        self.when_possible("approve", self._approve_comment)

    def _approve_comment(self, number: str, _d: CaseDetail) -> None:
        from services import cases

        def done(comment: str | None) -> None:
            if comment is not None:
                self._status_action(number, cases.approve, comment or None)

        self.app.push_screen(
            CommentDialog(f"Approve {number}", "Comment (optional):", required=False, button="Approve"), done
        )

    def action_recall(self) -> None:
        if (case := self._case()) is not None:
            from services import cases

            self._status_action(case[0], cases.recall)


_ = ConfirmDialog  # the kit's confirmation (used by other areas)
