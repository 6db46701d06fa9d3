"""The Cases area (seed 002): customer request cases by status, and the selected case as a
form in its five sections (Case information, Customer contact information, Description,
Resolution, Closure), its samples and its history. Every action is a key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Footer, Header, Input, Label, Static, Tab, Tabs, TextArea
from textual.worker import get_current_worker

from screens.widgets import ReportsWorkerErrors, data, labelled, restore_cursor

if TYPE_CHECKING:
    from services.cases import CaseDetail, CaseRow

FILTERS = ["All", "Open", "Pending Approval", "Approved", "Rejected", "Resolved", "Closed/Stopped", "Closed/Completed"]
STATUS_STYLE = {"Open": "yellow", "Pending Approval": "cyan", "Approved": "green", "Rejected": "red",
                "Resolved": "bold green", "Closed/Stopped": "dim", "Closed/Completed": "dim green"}
COLUMNS = [("number", "Number"), ("status", "Status"), ("title", "Title"), ("customer", "Customer"),
           ("priority", "Priority"), ("created", "Created")]
SECTIONS = (("info", "Case information"), ("contact", "Customer contact information"), ("description", "Description"),
            ("resolution", "Resolution"), ("closure", "Closure"), ("approval", "Approval"), ("samples", "Sample requests"),
            ("history", "History"))
LIMIT = 500


def tab_id(name: str) -> str:
    return "cs-" + name.lower().replace(" ", "-").replace("/", "-")


# ------------------------------------------------------------------ messages


class RowsLoaded(Message):
    def __init__(self, rows: list[CaseRow], counts: dict[str, int]) -> None:
        super().__init__()
        self.rows, self.counts = rows, counts


class DetailLoaded(Message):
    def __init__(self, detail: CaseDetail | None) -> None:
        super().__init__()
        self.detail = detail


class Done(Message):
    def __init__(self, number: str, text: str) -> None:
        super().__init__()
        self.number, self.text = number, text


# ------------------------------------------------------------------ a small form dialog


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    value: str = ""
    multiline: bool = False
    placeholder: str = ""


class FormDialog(ModalScreen[dict[str, str] | None]):
    """Asks for a few fields; returns {name: text}, or None on Escape. ``required`` fields must be filled."""

    DEFAULT_CSS = """
    FormDialog { align: center middle; }
    FormDialog > VerticalScroll { width: 84; height: auto; max-height: 90%; padding: 1 2;
                                  border: thick $accent; background: $surface; }
    FormDialog .fd-title { margin-bottom: 1; }
    FormDialog TextArea { height: 6; }
    FormDialog #fd-error { color: $error; height: auto; }
    FormDialog Horizontal { height: auto; margin-top: 1; }
    """
    AUTO_FOCUS = "Input, TextArea"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="formdialog.cancel", tooltip="Close without doing anything"),
        Binding("ctrl+s", "ok", "OK", id="formdialog.ok", tooltip="Save / confirm"),
    ]

    def __init__(self, title: Content, fields: list[FieldSpec], *, required: tuple[str, ...] = (), ok: str = "OK") -> None:
        super().__init__()
        self.title_content, self.fields, self.required, self.ok = title, fields, required, ok

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(self.title_content, classes="fd-title")
            for f in self.fields:
                yield Label(f.label + (" *" if f.name in self.required else ""), markup=False)
                if f.multiline:
                    yield TextArea(f.value, id=f"fd-{f.name}", soft_wrap=True)
                else:
                    yield Input(value=f.value, id=f"fd-{f.name}", placeholder=f.placeholder, max_length=1000)
            yield Static("", id="fd-error")
            with Horizontal():
                yield Button(self.ok, id="fd-ok", variant="primary")
                yield Button("Cancel", id="fd-cancel")

    def values(self) -> dict[str, str]:
        out = {}
        for f in self.fields:
            widget = self.query_one(f"#fd-{f.name}")
            out[f.name] = widget.text if isinstance(widget, TextArea) else widget.value  # type: ignore[attr-defined]
        return out

    @on(Input.Submitted)
    @on(Button.Pressed, "#fd-ok")
    def action_ok(self) -> None:
        values = self.values()
        missing = [f.label for f in self.fields if f.name in self.required and not values[f.name].strip()]
        if missing:
            self.query_one("#fd-error", Static).update(Text("required: " + ", ".join(missing)))
            return
        self.dismiss(values)

    @on(Button.Pressed, "#fd-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


# ------------------------------------------------------------------ the screen


class CasesScreen(ReportsWorkerErrors, Screen):
    TITLE = "Cases"
    AUTO_FOCUS = "#cases"
    DEFAULT_CSS = """
    CasesScreen #cs-filters { height: 3; }
    CasesScreen #cs-body { height: 1fr; }
    CasesScreen #cs-list-pane { width: 3fr; }
    CasesScreen #cases { height: 1fr; }
    CasesScreen #cs-count { height: 1; padding: 0 1; color: $text-muted; }
    CasesScreen #cs-form { width: 2fr; min-width: 56; border-left: solid $primary-darken-2; }
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
        Binding("w", "act('submit')", "Submit", id="cases.submit", tooltip="Submit the case for approval"),
        Binding("a", "act('approve')", "Approve", id="cases.approve", tooltip="Approve the case"),
        Binding("r", "reject", "Reject", id="cases.reject", tooltip="Reject the case (asks the reason)"),
        Binding("b", "act('recall')", "Recall", id="cases.recall", tooltip="Take your submitted case back", show=False),
        Binding("s", "resolve", "Resolution", id="cases.resolve", tooltip="Fill Resolution and Resolution date"),
        Binding("c", "close_case", "Close", id="cases.close", tooltip="Close the case (stopped or completed)"),
        Binding("m", "sample", "Sample", id="cases.sample", tooltip="Request a sample on the case"),
        Binding("f5", "reread", "Reread", id="cases.reread", tooltip="Reread the list and the case"),
        *[
            Binding(str(i + 1), f"filter({i})", name, id=f"cases.filter.{tab_id(name)}",
                    tooltip=f"Show {name} cases", show=False)
            for i, name in enumerate(FILTERS)
        ],
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.status = "All"
        self.selected: str | None = None
        self.detail: CaseDetail | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Tabs(*[Tab(name, id=tab_id(name)) for name in FILTERS], id="cs-filters")
        with Horizontal(id="cs-body"):
            with Vertical(id="cs-list-pane"):
                table: DataTable = DataTable(id="cases", cursor_type="row", zebra_stripes=True)
                for key, label in COLUMNS:
                    table.add_column(label, key=key)
                yield table
                yield Static("loading…", id="cs-count")
            with VerticalScroll(id="cs-form"):
                yield Static(Text("Select a case.", style="dim"), id="cs-empty")
                for section, _ in SECTIONS:
                    yield Static(id=f"cs-{section}", classes="cs-section")
        yield Footer()

    def on_mount(self) -> None:
        for section, title in SECTIONS:
            widget = self.query_one(f"#cs-{section}", Static)
            widget.border_title = title
            widget.display = False
        self.reload()

    # ------------------------------------------------------------------ loading

    def reload(self) -> None:
        self._fetch_rows(self.status)

    @work(thread=True, exclusive=True, group="cases.list", exit_on_error=False)
    def _fetch_rows(self, status: str) -> None:
        from services import cases

        page = self.app.call(cases.list_cases, status=status, limit=LIMIT)
        counts = self.app.call(cases.count_by_status)
        if not get_current_worker().is_cancelled:
            self.post_message(RowsLoaded(page.rows, counts))

    @work(thread=True, exclusive=True, group="cases.detail", exit_on_error=False)
    def _fetch_detail(self, number: str) -> None:
        from services import cases
        from services.errors import NotFound

        try:
            detail = self.app.call(cases.show_case, number)
        except NotFound:
            detail = None
        if not get_current_worker().is_cancelled:
            self.post_message(DetailLoaded(detail))

    @on(RowsLoaded)
    def _rows_loaded(self, event: RowsLoaded) -> None:
        table = self.query_one("#cases", DataTable)
        previous = self.selected
        with self.app.batch_update():
            table.clear()
            for row in event.rows:
                table.add_row(Text(row.number), Text(row.status, style=STATUS_STYLE.get(row.status, "")),
                              data(row.title), data(f"{row.customer_account} {row.customer_name}"), data(row.priority),
                              Text(f"{row.created_at:%Y-%m-%d %H:%M}"), key=row.number)
        total = event.counts.get(self.status, 0)
        self.query_one("#cs-count", Static).update(Text(f"{len(event.rows)} of {total} {self.status} cases"))
        key = restore_cursor(table, previous)
        if key is not None:
            self._select(key)
        else:
            self.selected = None
            self._show(None)

    @on(DataTable.RowHighlighted, "#cases")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key is not None and event.row_key.value != self.selected:
            self._select(str(event.row_key.value))

    def _select(self, number: str) -> None:
        self.selected = number
        self._fetch_detail(number)

    @on(DetailLoaded)
    def _detail_loaded(self, event: DetailLoaded) -> None:
        if event.detail is not None and event.detail.number != self.selected:
            return
        self._show(event.detail)

    def _show(self, d: CaseDetail | None) -> None:
        self.detail = d
        self.query_one("#cs-empty", Static).display = d is None
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
        info.append_text(labelled([("Title", d.title), ("Category", d.category), ("Priority", d.priority),
                                   ("Customer", f"{d.customer_account} {d.customer_name}"),
                                   ("Created by", f"{d.created_by} ({d.profile or 'no profile'})"),
                                   ("Created", d.created_at)]))
        get("info").update(info)
        get("contact").update(labelled([("Name", d.contact_name), ("E-mail", d.contact_email),
                                        ("Phone", d.contact_phone)]))
        get("description").update(data(d.description or "—"))
        get("resolution").update(labelled([("Resolution", d.resolution), ("Resolution date", d.resolution_date),
                                           ("Resolved", d.resolved_at)]))
        get("closure").update(labelled([("Closure reason", d.closure_reason), ("Closed by", d.closed_by),
                                        ("Closed", d.closed_at)]))
        get("approval").update(labelled([("Submitted by", d.submitted_by), ("Approved by", d.approved_by),
                                         ("Rejected by", d.rejected_by), ("Reject reason", d.reject_reason),
                                         ("Workflow", d.workflow), ("Actions", ", ".join(d.actions))]))
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

    # ------------------------------------------------------------------ actions

    def action_filter(self, index: int) -> None:
        if 0 <= index < len(FILTERS):
            self.query_one("#cs-filters", Tabs).active = tab_id(FILTERS[index])

    @on(Tabs.TabActivated, "#cs-filters")
    def _filter_changed(self, event: Tabs.TabActivated) -> None:
        name = next((f for f in FILTERS if tab_id(f) == event.tab.id), "All")
        if name != self.status:
            self.status = name
            self.reload()

    def action_reread(self) -> None:
        self.reload()

    def _need_case(self) -> CaseDetail | None:
        if self.detail is None:
            self.app.notify("Select a case first.", severity="warning", markup=False)
        return self.detail

    def action_new(self) -> None:
        fields = [FieldSpec("title", "Title"), FieldSpec("customer_account", "Customer account", placeholder="C-000001"),
                  FieldSpec("category", "Category", "Other", placeholder="Special condition, Product change, ..."),
                  FieldSpec("priority", "Priority", "Normal", placeholder="Low, Normal, High"),
                  FieldSpec("contact_name", "Contact name"), FieldSpec("contact_email", "Contact e-mail"),
                  FieldSpec("contact_phone", "Contact phone"), FieldSpec("description", "Description", multiline=True)]

        def done(values: dict[str, str] | None) -> None:
            if values is not None:
                self._run("create_case", None, values)

        self.app.push_screen(FormDialog(Content("New case"), fields, required=("title", "customer_account")), done)

    def action_edit(self) -> None:
        d = self._need_case()
        if d is None:
            return
        fields = [FieldSpec("title", "Title", d.title), FieldSpec("category", "Category", d.category),
                  FieldSpec("priority", "Priority", d.priority), FieldSpec("contact_name", "Contact name", d.contact_name),
                  FieldSpec("contact_email", "Contact e-mail", d.contact_email),
                  FieldSpec("contact_phone", "Contact phone", d.contact_phone),
                  FieldSpec("description", "Description", d.description, multiline=True)]

        def done(values: dict[str, str] | None) -> None:
            if values is not None:
                self._run("update_case", d.number, values, d.version)

        self.app.push_screen(FormDialog(Content.from_markup("Edit case [b]$n[/b]", n=d.number), fields,
                                        required=("title",), ok="Save"), done)

    def action_resolve(self) -> None:
        d = self._need_case()
        if d is None:
            return
        fields = [FieldSpec("resolution", "Resolution", d.resolution, multiline=True),
                  FieldSpec("resolution_date", "Resolution date", str(d.resolution_date or ""), placeholder="YYYY-MM-DD")]

        def done(values: dict[str, str] | None) -> None:
            if values is not None:
                self._run("update_case", d.number, values, d.version)

        self.app.push_screen(FormDialog(Content.from_markup("Resolution of [b]$n[/b] (both filled: Resolved)",
                                                            n=d.number), fields, ok="Save"), done)

    def action_reject(self) -> None:
        d = self._need_case()
        if d is None:
            return

        def done(values: dict[str, str] | None) -> None:
            if values is not None:
                self._run("reject", d.number, values["reason"])

        self.app.push_screen(FormDialog(Content.from_markup("Reject [b]$n[/b]", n=d.number),
                                        [FieldSpec("reason", "Reason")], required=("reason",), ok="Reject"), done)

    def action_close_case(self) -> None:
        d = self._need_case()
        if d is None:
            return
        kind = "completed" if d.status == "Resolved" else "stopped"

        def done(values: dict[str, str] | None) -> None:
            if values is not None:
                self._run("close", d.number, values["kind"].strip().lower(), values["reason"])

        self.app.push_screen(FormDialog(Content.from_markup("Close [b]$n[/b]", n=d.number),
                                        [FieldSpec("kind", "Stopped or completed", kind),
                                         FieldSpec("reason", "Closure reason")],
                                        required=("kind", "reason"), ok="Close case"), done)

    def action_sample(self) -> None:
        d = self._need_case()
        if d is None:
            return

        def done(values: dict[str, str] | None) -> None:
            if values is None:
                return
            qty = values["quantity"].strip()
            payload: dict[str, Any] = {**values, "quantity": int(qty) if qty.isdigit() else qty}
            self._run("add_sample", d.number, payload)

        self.app.push_screen(FormDialog(Content.from_markup("Sample request on [b]$n[/b]", n=d.number),
                                        [FieldSpec("product", "Product"), FieldSpec("quantity", "Quantity", "1"),
                                         FieldSpec("ship_to", "Ship to", multiline=True), FieldSpec("notes", "Notes")],
                                        required=("product",), ok="Request"), done)

    def action_act(self, action: str) -> None:
        d = self._need_case()
        if d is not None:
            self._run(action, d.number)

    @work(thread=True, group="cases.action", exit_on_error=False)
    def _run(self, fn_name: str, number: str | None, *args: Any) -> None:
        from services import cases

        fn = getattr(cases, fn_name)
        result = self.app.call(fn, *args) if number is None else self.app.call(fn, number, *args)
        target = getattr(result, "number", number) or ""
        if fn_name == "add_sample":
            text = f"sample {result.number} requested on {number}"
            target = number or ""
        else:
            text = f"{result.number}: {result.status}" + (f" — {result.message}" if getattr(result, "message", "") else "")
        self.post_message(Done(target, text))

    @on(Done)
    def _done(self, event: Done) -> None:
        self.app.notify(event.text, markup=False)
        if event.number:
            self.selected = event.number
        self.reload()
