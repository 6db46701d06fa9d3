"""Forms: ``FormDialog`` (a few fields, pick lists, dates as ``today``/``+3d``, the service call
run inside the dialog), ``RejectDialog`` and ``NewRequestDialog`` (a sign-up taken on the phone)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Callable

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.widgets import Button, Input, Label, Select, Static

from services.text import strip_controls

if TYPE_CHECKING:
    pass

from screens.dialogs.base import Dialog, FieldError, field_id, field_row


def parse_date(text: str, today: date | None = None) -> str:
    """A date typed by an operator: ``today``, ``+3d`` / ``-1d`` / ``+2w``, or ISO ``YYYY-MM-DD``
    (returned as ISO; anything else is returned unchanged for the service to refuse)."""
    raw = text.strip().lower()
    base = today or date.today()
    if raw in ("today", "t"):
        return base.isoformat()
    if raw == "tomorrow":
        return (base + timedelta(days=1)).isoformat()
    m = re.fullmatch(r"([+-])\s*(\d{1,4})\s*([dw]?)", raw)
    if m:
        n = int(m.group(2)) * (7 if m.group(3) == "w" else 1)
        return (base + timedelta(days=n if m.group(1) == "+" else -n)).isoformat()
    return text.strip()


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    value: str = ""
    multiline: bool = False
    placeholder: str = ""
    choices: tuple[str, ...] = ()  # a pick list: the value is one of these
    kind: str = "text"  # "text" or "date" (accepts today, +3d)


class FormDialog(Dialog[Any]):
    """A few fields; ``submit(values)`` (run in a thread worker) does the service call and its result
    is the dialog's. A refusal stays on screen under its field with everything typed kept. Without
    ``submit`` the values themselves are returned."""

    DEFAULT_CSS = """
    FormDialog #form-dialog { width: 88; height: auto; max-height: 100%; }
    FormDialog #fd-fields { height: auto; max-height: 24; }
    FormDialog TextArea { height: 5; }
    FormDialog Select { width: 1fr; }
    """
    AUTO_FOCUS = "#fd-fields Input, #fd-fields TextArea, #fd-fields Select"
    BINDINGS = [Binding("ctrl+s", "ok", "OK", id="formdialog.ok", tooltip="Save / confirm")]

    def __init__(
        self,
        title: Content,
        fields: list[FieldSpec],
        *,
        required: tuple[str, ...] = (),
        ok: str = "OK",
        submit: Callable[[dict[str, str]], Any] | None = None,
    ) -> None:
        super().__init__()
        self.title_content, self.fields, self.required, self.ok, self.submit = title, fields, required, ok, submit

    def compose(self) -> ComposeResult:
        from textual.widgets import TextArea

        with Vertical(classes="dialog", id="form-dialog"):
            yield Static(self.title_content, classes="dialog-title")
            with VerticalScroll(id="fd-fields"):
                for f in self.fields:
                    hint = "  (today, +3d or YYYY-MM-DD)" if f.kind == "date" else ""
                    yield Label(f.label + (" *" if f.name in self.required else "") + hint, markup=False)
                    if f.choices:
                        options = [(c, c) for c in f.choices]
                        yield Select(
                            options,
                            value=f.value if f.value in f.choices else f.choices[0],
                            allow_blank=False,
                            id=f"fd-{f.name}",
                        )
                    elif f.multiline:
                        yield TextArea(f.value, id=f"fd-{f.name}", soft_wrap=True)
                    else:
                        yield Input(value=f.value, id=f"fd-{f.name}", placeholder=f.placeholder, max_length=1000)
                    yield FieldError(id=f"e-{f.name.replace('_', '-')}", classes="field-error")
            yield FieldError(id="e-dialog", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button(self.ok, id="fd-ok", variant="primary")
                yield Button("Cancel", id="fd-cancel")

    def values(self) -> dict[str, str]:
        from textual.widgets import TextArea

        out = {}
        for f in self.fields:
            widget = self.query_one(f"#fd-{f.name}")
            if isinstance(widget, TextArea):
                value = widget.text
            elif isinstance(widget, Select):
                value = str(widget.value)
            else:
                value = widget.value  # type: ignore[attr-defined]
            out[f.name] = parse_date(value) if f.kind == "date" and value.strip() else value
        return out

    @on(Input.Submitted)
    @on(Button.Pressed, "#fd-ok")
    def action_ok(self) -> None:
        values = self.values()
        missing = {f.name: "required" for f in self.fields if f.name in self.required and not values[f.name].strip()}
        self.show_field_errors(missing)
        if missing:
            return
        self.query_one("#e-dialog", FieldError).show(None)
        if self.submit is None:
            self.dismiss(values)
        else:
            self._submit(values)

    @work(thread=True, exclusive=True, group="form.submit", exit_on_error=False)
    def _submit(self, values: dict[str, str]) -> None:
        assert self.submit is not None
        result = self.submit(values)
        self.app.call_from_thread(self.dismiss, result)

    @on(Button.Pressed, "#fd-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class RejectDialog(Dialog[str]):
    """Reject asks for the reason (required). Returns the reason, or None."""

    AUTO_FOCUS = "#f-reason"
    BINDINGS = [Binding("ctrl+s", "ok", "Reject", id="reject.ok", tooltip="Reject the request with this reason")]

    def __init__(self, number: str, company: str) -> None:
        super().__init__()
        self.number, self.company = number, company

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="reject-dialog"):
            yield Static(
                Content.assemble(("Reject ", "bold"), (self.number, "bold"), " — ", strip_controls(self.company)),
                classes="dialog-title",
            )
            yield Label("Reason (the customer is told):")
            yield Input(id="f-reason", placeholder="why the request is declined", max_length=1000)
            yield FieldError(id="e-reason", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Reject", id="ok", variant="error")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def action_ok(self) -> None:
        reason = self.query_one("#f-reason", Input).value.strip()
        if not reason:
            self.query_one("#e-reason", FieldError).show("a reason is required to reject a request")
            return
        self.dismiss(reason)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


SIGNUP_FIELDS: list[tuple[str, str, str]] = [
    ("company", "Company", "company name"),
    ("first_name", "First name", ""),
    ("last_name", "Last name", ""),
    ("email", "E-mail", "name@example.com"),
    ("user_name", "User name", "preferred portal logon"),
    ("phone", "Phone", ""),
    ("fax", "Fax", ""),
    ("street", "Street", ""),
    ("city", "City", ""),
    ("zip", "ZIP/postal code", ""),
    ("state", "State", ""),
    ("county", "County", ""),
    ("country", "Country/region", "ISO code, e.g. US"),
    ("language", "Language", "en-us"),
    ("customer_account", "Customer account", "if already a customer"),
]


class NewRequestDialog(Dialog[Any]):
    """Support staff take a sign-up request on the phone; submitted as the acting operator."""

    AUTO_FOCUS = "#f-company"
    BINDINGS = [Binding("ctrl+s", "submit", "Submit", id="new.submit", tooltip="Submit the request (status Requested)")]

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="new-request-dialog"):
            yield Static("New sign-up request (taken on behalf of the customer)", classes="dialog-title")
            with VerticalScroll(classes="form"):
                for name, label, placeholder in SIGNUP_FIELDS:
                    yield from field_row(
                        label,
                        Input(id=field_id(name), placeholder=placeholder, value="en-us" if name == "language" else ""),
                        name,
                    )
            yield FieldError(id="e-request", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Submit", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def values(self) -> dict[str, str]:
        return {name: self.query_one(f"#{field_id(name)}", Input).value for name, _, _ in SIGNUP_FIELDS}

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def action_submit(self) -> None:
        self._submit(self.values())

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @work(thread=True, exclusive=True, group="submit", exit_on_error=False)
    def _submit(self, values: dict[str, str]) -> None:
        from services import signup

        result = self.app.call(signup.submit, values)
        self.app.call_from_thread(self.dismiss, result)
