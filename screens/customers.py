"""The Customers area: the list (searched and paged in SQL by account), the detail with the
"Changes pending approval" banner and the Proposed changes pane, and the edit form.

Saving with customer approvals on: the fields that need no approval are saved at once; the
others keep their value and become lines of the customer's proposal (Not submitted), shown
in the Proposed changes pane with the original and the new value. **d** discards the line
under the cursor, **D** discards them all, **s** submits them for approval.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.coordinate import Coordinate
from textual.validation import ValidationResult, Validator
from textual.widgets import Button, Checkbox, DataTable, Input, Label, Select, Static

from screens.browser import ActionDone, BrowserScreen, Column, ListQuery, Page
from screens.dialogs import Dialog, FieldError
from screens.widgets import data, labelled
from services.text import strip_controls

if TYPE_CHECKING:
    from services.changes import EditContext, EditResult

PAGE_SIZE = 100
COLUMNS = [
    Column("account", "Account", width=12),
    Column("name", "Name", width=34),
    Column("customer_group", "Group", width=8),
    Column("city", "City", width=18),
    Column("country", "Country", width=8),
    Column("blocked", "Blocked"),
]
DETAIL_FIELDS = [
    "name",
    "party_type",
    "customer_group",
    "currency",
    "credit_limit",
    "mandatory_credit_limit",
    "terms_of_payment",
    "method_of_payment",
    "payment_specification",
    "tax_group",
    "tax_exempt_number",
    "bank_account",
    "cash_discount",
    "cash_discount_base_days",
    "credit_rating",
    "exclude_interest_charges",
    "exclude_collection_fees",
    "invoice_account",
    "parent_account",
    "email",
    "phone",
    "street",
    "city",
    "zip",
    "country",
    "language",
    "blocked",
]


def proposed_table(table: DataTable, lines: list[Any], *, current: bool = False) -> None:
    """Fill a Proposed changes table: one row per line keyed by field; conflicts highlighted."""
    table.clear()
    for x in lines:
        cells = [data(x.label), data(x.original), data(x.proposed, "bold")]
        if current:
            cells.append(data(x.current, "bold red" if x.conflict else ""))
            cells.append(Text("CONFLICT", style="bold red") if x.conflict else Text(""))
            cells.append(data(x.decision))
        table.add_row(*cells, key=x.field)


class FieldValidator(Validator):
    """Per-field-type check without the database (the service checks again, with it)."""

    def __init__(self, field: str) -> None:
        super().__init__()
        self.field = field

    def validate(self, value: str) -> ValidationResult:
        from services.changes import field_error

        message = field_error(self.field, value)
        return self.failure(message) if message else self.success()


class EditCustomerDialog(Dialog):
    """The edit form, built from services.customers.FIELDS. Returns the EditResult, or None."""

    DEFAULT_CSS = """
    EditCustomerDialog { align: center middle; }
    EditCustomerDialog #edit-fields { height: 1fr; }
    EditCustomerDialog .edit-row { height: 1; }
    EditCustomerDialog .edit-label { width: 28; padding: 0 1 0 0; }
    EditCustomerDialog .edit-input { width: 44; }
    EditCustomerDialog .edit-note { width: 1fr; padding: 0 0 0 2; color: $text-muted; }
    EditCustomerDialog .edit-note.-proposed { color: $warning; }
    EditCustomerDialog #edit-banner { color: $warning; text-style: bold; height: auto; }
    EditCustomerDialog .field-error { display: none; color: $error; padding-left: 28; height: auto; }
    EditCustomerDialog .field-error.-visible { display: block; }
    EditCustomerDialog .buttons { height: auto; margin-top: 1; }
    """
    AUTO_FOCUS = "#f-name"
    BINDINGS = [Binding("ctrl+s", "save", "Save", id="editcustomer.save", tooltip="Save the changes")]

    def __init__(self, context: EditContext) -> None:
        super().__init__()
        self.context = context

    def compose(self) -> ComposeResult:
        c = self.context
        with Vertical(classes="dialog wide", id="edit-dialog"):
            yield Static(
                Content.assemble(("Edit customer ", "bold"), (c.customer.account, "bold"), " — ", c.customer.name),
                classes="dialog-title",
            )
            if c.status:
                yield Static(Text(c.status), id="edit-banner")
            with VerticalScroll(id="edit-fields"):
                for f in c.fields:
                    fid = "f-" + f.name.replace("_", "-")
                    with Horizontal(classes="edit-row"):
                        yield Label(Text(f.label + (" *" if f.needs_approval else "")), classes="edit-label")
                        if f.kind == "bool":
                            yield Checkbox(
                                "",
                                value=f.value == "yes",
                                id=fid,
                                disabled=f.locked,
                                classes="edit-input",
                                compact=True,
                            )
                        elif f.kind == "choice":
                            yield Select(
                                [(ch, ch) for ch in f.choices],
                                value=f.value,
                                allow_blank=False,
                                id=fid,
                                disabled=f.locked,
                                classes="edit-input",
                                compact=True,
                            )
                        else:
                            yield Input(
                                value=f.value,
                                id=fid,
                                disabled=f.locked,
                                classes="edit-input",
                                max_length=f.max_length or 40,
                                validators=[FieldValidator(f.name)],
                                validate_on=["changed", "submitted"],
                                compact=True,
                            )
                        note = ""
                        if f.locked:
                            note = "locked: pending approval" + (
                                f" (proposed: {f.proposed})" if f.proposed is not None else ""
                            )
                        elif f.proposed is not None:
                            note = f"proposed: {f.proposed}"
                        elif f.needs_approval:
                            note = "needs approval"
                        yield Static(data(note), classes="edit-note" + (" -proposed" if f.proposed is not None else ""))
                    yield FieldError(id="e-" + f.name.replace("_", "-"), classes="field-error")
            yield Static(
                Text(
                    "* changes of this field need approval: it keeps its value and the change is proposed", style="dim"
                )
            )
            with Horizontal(classes="buttons"):
                yield Button("Save", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    @on(Input.Changed)
    def _validate(self, event: Input.Changed) -> None:
        name = (event.input.id or "").removeprefix("f-")
        err = self.query(f"#e-{name}").first(FieldError) if self.query(f"#e-{name}") else None
        if err is not None and event.validation_result is not None:
            err.show(
                None if event.validation_result.is_valid else "; ".join(event.validation_result.failure_descriptions)
            )

    def values(self) -> dict[str, Any]:
        """The fields whose value differs from the customer's."""
        out: dict[str, Any] = {}
        for f in self.context.fields:
            if f.locked:
                continue
            widget = self.query_one("#f-" + f.name.replace("_", "-"))
            if isinstance(widget, Checkbox):
                value: Any = "yes" if widget.value else "no"
            elif isinstance(widget, Select):
                value = str(widget.value)
            else:
                value = widget.value  # type: ignore[attr-defined]
            if value != f.value:
                out[f.name] = value
        return out

    @on(Button.Pressed, "#ok")
    def action_save(self) -> None:
        values = self.values()
        if not values:
            self.dismiss(None)
            return
        self._save(values)

    @work(thread=True, exclusive=True, group="customers.edit", exit_on_error=False)
    def _save(self, values: dict[str, Any]) -> None:
        from services import changes

        result = self.app.call(
            changes.edit_customer, self.context.customer.account, values, expected_version=self.context.customer.version
        )
        self.app.call_from_thread(self.dismiss, result)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class CustomersScreen(BrowserScreen):
    TITLE = "Customers"
    AUTO_FOCUS = "#customers"
    TABLE_ID = "customers"
    COLUMNS = COLUMNS
    DEFAULT_SORT = ""
    PAGE_SIZE = PAGE_SIZE
    SEARCH_PLACEHOLDER = "/ search: account, name, e-mail, city"
    EMPTY_DETAIL = "Select a customer."
    NOUN = "customer"
    DEFAULT_CSS = """
    CustomersScreen #detail { width: 80; }
    CustomersScreen .cu-section { border: round $primary-darken-1; padding: 0 1; height: auto; }
    CustomersScreen #cu-banner { height: auto; padding: 0 1; background: $warning-muted; color: $text; text-style: bold; }
    CustomersScreen #cu-proposed { height: auto; max-height: 12; }
    CustomersScreen #cu-proposal-msg { height: auto; color: $warning; }
    """
    HELP = """\
## Customers — master data and proposed changes

Type in the search box (**/**) to filter by account, name, e-mail or city; the list is read
page by page from the database as you scroll, whatever the number of customers.

* **e** edits the selected customer. With customer approvals on (Settings, f12), fields
  marked * keep their value: the change becomes a line of the *Proposed changes* pane
  (original and new value) and is **not submitted** until you press **s**.
* **d** discards the proposed change under the cursor in the pane, **D** discards them all.
* **s** submits the proposed changes: the customer shows *Changes pending approval* and the
  fields that need approval are locked until an approver decides (Changes, f10).
* **f5** rereads.
"""
    BINDINGS = [
        Binding("e", "edit", "Edit", id="customers.edit", tooltip="Edit the selected customer"),
        Binding(
            "s",
            "submit",
            "Submit changes",
            id="customers.submit",
            tooltip="Submit the proposed changes for approval (Workflow > Submit)",
        ),
        Binding(
            "d",
            "discard",
            "Discard",
            id="customers.discard",
            tooltip="Discard the proposed change under the cursor in the Proposed changes pane",
        ),
        Binding("D", "discard_all", "Discard all", id="customers.discard_all", tooltip="Discard every proposed change"),
        Binding("slash", "search", "Search", id="customers.search", tooltip="Search customers"),
        Binding("f5", "reread", "Reread", id="customers.reread", tooltip="Reread the list and the detail"),
    ]

    @property
    def context(self) -> EditContext | None:
        return self.detail

    # ------------------------------------------------------------------ list

    def fetch(self, q: ListQuery, after: Any, limit: int, reverse: bool) -> Page:
        from services import customers

        rows = self.app.call(customers.list_customers, search=q.search or None, after=after, limit=limit)
        return Page(rows, rows[-1].account if len(rows) == limit else None)

    def fetch_counts(self, search: str) -> dict[str, int] | None:
        from services import list_counts

        return {"All": self.app.call(list_counts.customers, search=search or None)}

    def fetch_detail(self, key: str) -> EditContext:
        from services import changes

        return self.app.call(changes.edit_context, key)

    def detail_key(self, detail: Any) -> str | None:
        return detail.customer.account if detail is not None else None

    def row_key(self, row: Any) -> str:
        return str(row.account)

    def row_cells(self, r: Any) -> list[Text]:
        return [
            data(r.account),
            data(r.name),
            data(r.customer_group),
            data(r.city),
            data(r.country),
            Text("yes" if r.blocked else ""),
        ]

    # ------------------------------------------------------------------ detail

    def compose_detail(self) -> ComposeResult:
        yield Static(id="cu-banner")
        yield Static(id="cu-fields", classes="cu-section")
        with Vertical(id="cu-proposal", classes="cu-section"):
            table: DataTable[Any] = DataTable(id="cu-proposed", cursor_type="row")
            table.add_column("Field", key="field")
            table.add_column("Original", key="original")
            table.add_column("New", key="new")
            yield table
            yield Static(id="cu-proposal-msg")
        yield Static(id="cu-history", classes="cu-section")

    def on_mount(self) -> None:
        self.query_one("#cu-fields").border_title = "Customer"
        self.query_one("#cu-proposal").border_title = "Proposed changes"
        self.query_one("#cu-history").border_title = "History"
        for wid in ("#cu-banner", "#cu-fields", "#cu-proposal", "#cu-history"):
            self.query_one(wid).display = False

    def show_detail(self, c: EditContext | None) -> None:
        for wid in ("#cu-banner", "#cu-fields", "#cu-proposal", "#cu-history"):
            self.query_one(wid).display = c is not None
        if c is None:
            return
        banner = self.query_one("#cu-banner", Static)
        banner.display = bool(c.status)
        banner.update(Text(c.status or ""))
        values = {f.name: f for f in c.fields}
        fields = self.query_one("#cu-fields", Static)
        fields.border_title = f"Customer {c.customer.account}"
        rows = []
        for name in DETAIL_FIELDS:
            f = values[name]
            shown = ("Yes" if f.value == "yes" else "No") if f.kind == "bool" else f.value
            if f.proposed is not None:
                shown = f"{shown}   → {f.proposed} (proposed)"
            rows.append((f.label + (" *" if f.needs_approval else ""), shown))
        fields.update(labelled(rows, width=26))
        pane = self.query_one("#cu-proposal")
        pane.display = c.proposal is not None
        if c.proposal is not None:
            proposed_table(self.query_one("#cu-proposed", DataTable), c.proposal.lines)
            pane.border_title = f"Proposed changes — {c.proposal.number} ({c.proposal.state})"
            self.query_one("#cu-proposal-msg", Static).update(data(c.proposal.message))
        history = self.query_one("#cu-history", Static)
        text = Text()
        for e in c.history[-12:]:
            if text:
                text.append("\n")
            text.append(f"{e.at:%Y-%m-%d %H:%M} ", style="dim")
            text.append_text(data(e.operator, "bold"))
            text.append(" ")
            text.append_text(data(e.action))
            if e.comment:
                text.append(" — ")
                text.append_text(data(e.comment, "italic"))
        history.update(text)

    # ------------------------------------------------------------------ actions (on the customer under the cursor at key time)

    def action_edit(self) -> None:
        account = self.target()
        if account is None:
            return
        context = self.target_detail(account)
        if context is None:
            self.app.hold_keys()  # what is typed until the dialog opens belongs in it, not in the list
            self._edit_when_loaded(account)
            return
        self._open_edit(account, context)

    @work(thread=True, group="customers.open-edit", exit_on_error=False)
    def _edit_when_loaded(self, account: str) -> None:
        try:
            context = self.fetch_detail(account)
        except BaseException:
            self.app.call_from_thread(self.app.release_held_keys)
            raise
        self.app.call_from_thread(self._open_edit, account, context)

    def _open_edit(self, account: str, context: EditContext) -> None:
        def done(result: EditResult | None) -> None:
            if result is not None:
                self.post_message(ActionDone(account, strip_controls(f"{result.account}: {result.message}")))

        self.app.push_screen(EditCustomerDialog(context), done)

    def _proposal_account(self) -> str | None:
        account = self.target()
        if account is None:
            return None
        context = self.target_detail(account)
        if context is None or context.proposal is None:
            self.app.notify("This customer has no proposed changes.", severity="warning")
            return None
        return account

    def action_submit(self) -> None:
        if (account := self._proposal_account()) is None:
            return
        from services import changes

        def submit() -> str:
            view = self.app.call(changes.submit, account)
            return f"{account}: {view.number} submitted: {view.status}"

        self.act(account, submit)

    def action_discard(self) -> None:
        if (account := self._proposal_account()) is None:
            return
        table = self.query_one("#cu-proposed", DataTable)
        if not table.row_count:
            return
        field = str(table.coordinate_to_cell_key(Coordinate(table.cursor_row, 0)).row_key.value)
        from services import changes

        def discard() -> str:
            self.app.call(changes.discard, account, field)
            return f"{account}: {field} discarded"

        self.act(account, discard)

    def action_discard_all(self) -> None:
        if (account := self._proposal_account()) is None:
            return
        from screens.dialogs import ConfirmDialog
        from services import changes

        def discard_all() -> str:
            self.app.call(changes.discard, account, None)
            return f"{account}: every proposed change discarded"

        def done(ok: bool | None) -> None:
            if ok:
                self.act(account, discard_all)

        self.app.push_screen(
            ConfirmDialog(
                "Discard every proposed change", f"Discard every proposed change of {account}?", ok="Discard all"
            ),
            done,
        )
