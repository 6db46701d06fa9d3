"""Dialogs: typed results (``ModalScreen[Result | None]``), Escape dismisses with ``None``.

Service calls run in thread workers; a ``ValidationFailed`` becomes an inline error under
each named field, any other refusal a notification. Values from customers are shown as data.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, Generic, TypeVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Select, Static
from textual.worker import Worker, WorkerState, get_current_worker

from screens.console_app import TypedApp
from screens.widgets import data, error_text, labelled
from services.text import strip_controls

if TYPE_CHECKING:
    from services.signup import CreatePreview, RequestDetail

T = TypeVar("T")


def _field_id(name: str) -> str:
    return f"f-{name.replace('_', '-')}"


class FieldError(Static):
    """An inline error under one field (data: the message may quote customer input)."""

    def show(self, message: str | None) -> None:
        self.update(data(message or ""))
        self.set_class(bool(message), "-visible")


class Dialog(TypedApp, ModalScreen[T], Generic[T]):
    """The one dialog base: a typed result (``Dialog[Result]``; Escape dismisses with ``None``),
    centred, the first field focused (``AUTO_FOCUS``), the confirm key (ctrl+s) in its footer,
    and refusals kept on screen: a ``ValidationFailed`` goes under each named field, any other
    refusal on the dialog's own error line (``#e-dialog``) and in a notification. A refusal never
    closes the dialog, so nothing typed is lost."""

    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog > .dialog { max-height: 100%; }
    Dialog Footer { dock: bottom; }
    Dialog #e-dialog { color: $text-error; height: auto; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel", tooltip="Close without doing anything"),
    ]

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_resize(self, event: Any) -> None:
        self.set_class(event.size.width < 110, "-narrow")  # 80x24: one column, the preview below a toggle

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        own = cls.__dict__.get("compose")
        if own is not None and not getattr(own, "_with_footer", False):
            def compose(self: Any) -> ComposeResult:  # the confirm key in the footer, in the first frame
                from screens.footer import KeyFooter

                yield from own(self)
                yield KeyFooter(compact=True, show_command_palette=False)

            compose._with_footer = True  # type: ignore[attr-defined]
            cls.compose = compose  # type: ignore[method-assign]

    def on_mount(self) -> None:
        self.set_class(self.app.size.width < 110, "-narrow")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.show_error(event.worker.error)

    def show_error(self, exc: BaseException) -> None:
        from services.errors import ValidationFailed

        if isinstance(exc, ValidationFailed) and self.show_field_errors(exc.errors):
            return
        line = self.query("#e-dialog")
        if line:
            line.first(FieldError).show(error_text(exc))
        self.app.notify(error_text(exc), title="Refused", severity="warning", markup=False, timeout=8)

    def show_field_errors(self, errors: dict[str, str]) -> bool:
        """Put each error under its field; False when none of them has a field here."""
        shown = False
        for err in self.query(FieldError):
            name = (err.id or "").removeprefix("e-").replace("-", "_")
            if name == "dialog":
                continue
            message = errors.get(name)
            err.show(message)
            shown = shown or bool(message)
        return shown


# --------------------------------------------------------------------------- confirm and comment


class ConfirmDialog(Dialog[bool]):
    """Irreversible or bulk actions: a one-line summary of what will happen; ctrl+s/Enter confirms."""

    AUTO_FOCUS = "#ok"
    BINDINGS = [Binding("ctrl+s", "ok", "Confirm", id="confirm.ok", tooltip="Do it")]

    def __init__(self, title: str, summary: str, *, ok: str = "OK", variant: str = "warning") -> None:
        super().__init__()
        self.title_text, self.summary, self.ok, self.variant = title, summary, ok, variant

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="confirm-dialog"):
            yield Static(data(self.title_text, "bold"), classes="dialog-title")
            yield Static(data(self.summary), id="confirm-summary")
            with Horizontal(classes="buttons"):
                yield Button(self.ok, id="ok", variant=self.variant)  # type: ignore[arg-type]
                yield Button("Cancel", id="cancel")

    @on(Button.Pressed, "#ok")
    def action_ok(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class CommentDialog(Dialog[str]):
    """A reason (required) or a comment (optional). Returns the text ("" for none), or None."""

    AUTO_FOCUS = "#f-comment"
    BINDINGS = [Binding("ctrl+s", "ok", "OK", id="comment.ok", tooltip="Confirm")]

    def __init__(self, title: str, prompt: str, *, required: bool, button: str = "OK", variant: str = "primary") -> None:
        super().__init__()
        self.title_text, self.prompt, self.required, self.button, self.variant = title, prompt, required, button, variant

    def compose(self) -> ComposeResult:
        with Vertical(id="comment-dialog", classes="dialog"):
            yield Static(data(self.title_text, "bold"), classes="dialog-title")
            yield Label(data(self.prompt))
            yield Input(id="f-comment", max_length=1000,
                        placeholder="required" if self.required else "optional comment for the history")
            yield FieldError(id="e-comment", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button(self.button, id="ok", variant=self.variant)  # type: ignore[arg-type]
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def action_ok(self) -> None:
        text = self.query_one("#f-comment", Input).value.strip()
        if self.required and not text:
            self.query_one("#e-comment", FieldError).show("a reason is required")
            return
        self.dismiss(text)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


# --------------------------------------------------------------------------- a form of a few fields


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

    def __init__(self, title: Content, fields: list[FieldSpec], *, required: tuple[str, ...] = (), ok: str = "OK",
                 submit: Callable[[dict[str, str]], Any] | None = None) -> None:
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
                        yield Select(options, value=f.value if f.value in f.choices else f.choices[0],
                                     allow_blank=False, id=f"fd-{f.name}")
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


# --------------------------------------------------------------------------- reject


class RejectDialog(Dialog[str]):
    """Reject asks for the reason (required). Returns the reason, or None."""

    AUTO_FOCUS = "#f-reason"
    BINDINGS = [Binding("ctrl+s", "ok", "Reject", id="reject.ok", tooltip="Reject the request with this reason")]

    def __init__(self, number: str, company: str) -> None:
        super().__init__()
        self.number, self.company = number, company

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="reject-dialog"):
            yield Static(Content.assemble(("Reject ", "bold"), (self.number, "bold"), " — ", strip_controls(self.company)),
                         classes="dialog-title")
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


# --------------------------------------------------------------------------- new request

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
                    with Horizontal(classes="field"):
                        yield Label(label, classes="field-label")
                        with Vertical(classes="field-input"):
                            yield Input(id=_field_id(name), placeholder=placeholder,
                                        value="en-us" if name == "language" else "")
                            yield FieldError(id=f"e-{name.replace('_', '-')}", classes="field-error")
            yield FieldError(id="e-request", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Submit", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def values(self) -> dict[str, str]:
        return {name: self.query_one(f"#{_field_id(name)}", Input).value for name, _, _ in SIGNUP_FIELDS}

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


# --------------------------------------------------------------------------- create customer


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return "" if value is None else str(value)


class CreateCustomerDialog(Dialog[Any]):
    """Create new customer (AX form): new vs existing account, template, role, editable values, preview.

    One per app (``CreateCustomerDialog.of(app)``): installed on the app and composed once, while
    the console is idle after its first paint (``warm``); each ``c`` refills it (``open_for``) with
    the request's values, the template/role defaults from ``app.create_choices`` and the preview
    from ``app.create_prepared``, so opening it composes nothing."""

    AUTO_FOCUS = "#mode"
    BINDINGS = [Binding("ctrl+s", "ok", "Create", id="create.ok", tooltip="Create the customer, contact and user request")]
    DEBOUNCE = 0.25
    SCREEN_NAME = "create-customer"

    def __init__(self, detail: RequestDetail | None = None) -> None:
        super().__init__()
        self.detail = detail
        self.number = detail.number if detail is not None else ""
        self._filled: dict[str, str] = {}  # what we put in each field (to tell user edits apart)
        self._edited: dict[str, str] = {}
        self._timer = None
        self._ready = False
        self._mode = "new"
        self._composed = False
        self._shown_choices: Any = None
        self.preview: CreatePreview | None = None

    # ------------------------------------------------------------------ one per app

    @classmethod
    def of(cls, app: Any) -> CreateCustomerDialog:
        """The app's one Create dialog, installed (so closing it keeps it) but not yet composed."""
        dialog = getattr(app, "create_dialog", None)
        if dialog is None:
            dialog = cls()
            app.create_dialog = dialog
            app.install_screen(dialog, name=cls.SCREEN_NAME)
        return dialog

    @classmethod
    def warm(cls, app: Any) -> None:
        """Compose the app's dialog off screen (call while idle): the next ``c`` only refills it."""
        dialog = cls.of(app)
        if not dialog.is_running:
            from screens.textual_compat import register_screen

            register_screen(app, cls.SCREEN_NAME)  # composes and mounts the installed screen without showing it

    def open_for(self, detail: RequestDetail) -> None:
        """Point the dialog at ``detail`` (before it is pushed): everything of the last request goes."""
        self.detail = detail
        self.number = detail.number
        if self._composed:
            self._refill()

    def _candidates(self) -> list[tuple[str, str]]:
        return _create_candidates(self.detail) if self.detail is not None else []

    def compose(self) -> ComposeResult:
        from services.customers import FIELDS

        with Vertical(classes="dialog wide", id="create-dialog"):
            yield Static("", classes="dialog-title", id="create-title")
            with Horizontal(id="create-body"):
                with VerticalScroll(classes="form", id="create-form"):
                    with RadioSet(id="mode"):
                        yield RadioButton("Create new customer", value=True, id="mode-new")
                        yield RadioButton("Existing customer account (new contact)", id="mode-existing")
                    yield FieldError(id="e-mode", classes="field-error")
                    with Horizontal(classes="field", id="existing-row"):
                        yield Label("Existing account", classes="field-label")
                        with Vertical(classes="field-input"):
                            yield Input(id="f-existing-account", placeholder="customer account")
                            yield Static("", classes="hint", id="existing-hint")
                            yield FieldError(id="e-existing-account", classes="field-error")
                    with Horizontal(classes="field"):
                        yield Label("Template", classes="field-label")
                        with Vertical(classes="field-input"):
                            yield Select([], id="f-template", prompt="(no template)")
                            yield FieldError(id="e-template", classes="field-error")
                    with Horizontal(classes="field"):
                        yield Label("User role", classes="field-label")
                        with Vertical(classes="field-input"):
                            yield Select([], id="f-role", prompt="(choose a role)")
                            yield FieldError(id="e-role", classes="field-error")
                    yield Static("Customer values (from the request and the template; editable)", classes="section-title",
                                 id="values-title")
                    with Vertical(id="values"):  # composed once per app (warm), so all of them here
                        for spec in FIELDS.values():
                            with Horizontal(classes="field"):
                                yield Label(spec.label, classes="field-label")
                                with Vertical(classes="field-input"):
                                    yield Input(id=_field_id(spec.name), placeholder="yes/no" if spec.kind == "bool" else "")
                                    yield FieldError(id=f"e-{spec.name.replace('_', '-')}", classes="field-error")
                with VerticalScroll(id="preview", classes="preview"):
                    yield Static("Preview", classes="section-title")
                    yield Static("loading…", id="preview-body")
            yield FieldError(id="e-status", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("OK", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def _on_screen_resume(self, event: Any) -> None:
        # runs before Screen's own handler: the styles of this screen were set when it was composed and
        # are kept up to date by its class changes (-narrow, focus); restyling its ~400 nodes on every
        # open is most of what opening it would cost
        if self._composed:
            event.refresh_styles = False

    def on_mount(self) -> None:
        self._composed = True
        if self.detail is not None:
            self._refill()

    def _refill(self) -> None:
        """Show ``self.detail``: title, mode, values, selections and preview, nothing left of the last one."""
        from services.customers import FIELDS

        d = self.detail
        assert d is not None
        self.workers.cancel_group(self, "preview")
        self.workers.cancel_group(self, "choices")
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._ready = False
        self.preview = None
        self._edited.clear()
        self._filled.clear()
        candidates = self._candidates()
        who = strip_controls(f"{d.company} ({d.first_name} {d.last_name})")
        self.query_one("#create-title", Static).update(
            Content.assemble(("Create customer from ", "bold"), (d.number, "bold"), " — ", who))
        self._mode = "existing" if candidates and d.customer_account else "new"
        # only the button to press: the set releases the other one (turning one off is refused by RadioSet)
        self.query_one(f"#mode-{self._mode}", RadioButton).value = True
        existing = self.query_one("#f-existing-account", Input)
        existing.value = candidates[0][0] if candidates else ""
        hint = self.query_one("#existing-hint", Static)
        hint.update(labelled([(k, v) for k, v in candidates], width=12) if candidates else "")
        hint.display = bool(candidates)
        for err in self.query(FieldError):
            err.show(None)
        prepared = getattr(self.app, "create_prepared", None)
        fresh = prepared[2] if prepared is not None and prepared[0] == d.number else None
        values = fresh.values if fresh is not None and fresh.mode == "new" else {}
        for spec in FIELDS.values():
            text = _shown(values.get(spec.name)) if spec.name in values else ""
            self._filled[spec.name] = text
            field = self.query_one(f"#{_field_id(spec.name)}", Input)
            if field.value != text:
                field.value = text
        self.query_one("#preview-body", Static).update("loading…")
        self._sync_mode()
        self.query_one("#create-form", VerticalScroll).scroll_home(animate=False)
        self.query_one("#mode", RadioSet).focus()
        self.set_class(self.app.size.width < 110, "-narrow")
        cached = getattr(self.app, "create_choices", None)
        if cached is None:
            self._load_choices()
            return
        # prepared before the key was pressed (prepare_create): ready in the first frame
        self._show_choices(cached, preview=False)
        if prepared is not None and prepared[0] == d.number and prepared[1] == self.request_args():
            self._show_preview(prepared[2])
        else:
            self._schedule_preview(0)

    # ------------------------------------------------------------------ state

    @property
    def mode(self) -> str:
        return self._mode

    def _sync_mode(self) -> None:
        existing = self.mode == "existing"
        self.query_one("#existing-row").display = existing
        self.query_one("#values").display = not existing
        self.query_one("#values-title").display = not existing
        self.query_one("#f-template", Select).disabled = existing

    def request_args(self) -> dict[str, Any]:
        template = self.query_one("#f-template", Select).value
        role = self.query_one("#f-role", Select).value
        return {
            "mode": self.mode,
            "template": template if isinstance(template, str) else None,
            "role": role if isinstance(role, str) else None,
            "values": dict(self._edited) if self.mode == "new" else None,
            "existing_account": self.query_one("#f-existing-account", Input).value.strip() or None,
        }

    # ------------------------------------------------------------------ workers

    @work(thread=True, exclusive=True, group="choices", exit_on_error=False)
    def _load_choices(self) -> None:
        from services import signup

        number = self.number
        choices = self.app.call(signup.create_choices)
        self.app.create_choices = choices
        if not get_current_worker().is_cancelled and number == self.number:
            self.app.call_from_thread(self._show_choices, choices)

    def _show_choices(self, choices: Any, preview: bool = True) -> None:
        tsel = self.query_one("#f-template", Select)
        rsel = self.query_one("#f-role", Select)
        if self._shown_choices is not choices:  # the options once per console (create_choices is read once)
            self._shown_choices = choices
            tsel.set_options([(Text.assemble((t.name, "bold"), " ", data(t.description)), t.name)
                              for t in choices.templates])
            rsel.set_options([(Text.assemble((r.name, "bold"), " ", data(r.description)), r.name)
                              for r in choices.roles])
        # admin-set defaults (parameters signup.default_template / default_role), else nothing chosen
        if choices.default_template:
            tsel.value = choices.default_template
        else:
            tsel.clear()
        if choices.default_role:
            rsel.value = choices.default_role
        else:
            rsel.clear()
        # no default role set: nothing preselected; OK then asks for one (never the most privileged by accident)
        self._ready = True
        if preview:
            self._schedule_preview(0)

    def _schedule_preview(self, delay: float | None = None) -> None:
        if not self._ready:
            return
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(self.DEBOUNCE if delay is None else delay, self._preview)

    def _preview(self) -> None:
        self._timer = None
        self._run_preview(self.request_args())

    @work(thread=True, exclusive=True, group="preview", exit_on_error=False)
    def _run_preview(self, args: dict[str, Any]) -> None:
        from services import signup

        number = self.number
        preview = self.app.call(signup.preview_create, number, **args)
        if not get_current_worker().is_cancelled and number == self.number:  # not of an earlier request
            self.app.call_from_thread(self._show_preview, preview)

    def _show_preview(self, preview: CreatePreview) -> None:
        self.preview = preview
        if preview.mode == "new":
            for name, value in preview.values.items():
                if name in self._edited:
                    continue
                try:
                    field = self.query_one(f"#{_field_id(name)}", Input)
                except Exception:
                    continue
                text = _shown(value)
                self._filled[name] = text
                if field.value != text:
                    field.value = text
        self.show_field_errors(preview.errors)
        self.query_one("#preview-body", Static).update(self._preview_text(preview))

    def _preview_text(self, p: CreatePreview) -> Text:
        v = p.values
        head = Text()
        if p.mode == "new":
            head.append("A new customer", style="bold")
            head.append(" (account number assigned on OK)\n")
        else:
            head.append("A new contact on customer ", style="bold")
            head.append_text(data(p.account or "?", style="bold"))
            head.append("\n")
        rows = [("Name", v.get("name")), ("Party type", v.get("party_type")), ("Group", v.get("customer_group")),
                ("Currency", v.get("currency")), ("Terms", v.get("terms_of_payment")),
                ("Payment", v.get("method_of_payment")), ("Credit limit", _shown(v.get("credit_limit"))),
                ("Tax group", v.get("tax_group")), ("E-mail", v.get("email")), ("Phone", v.get("phone")),
                ("Address", " ".join(str(x) for x in (v.get("street"), v.get("zip"), v.get("city"), v.get("country")) if x))]
        head.append_text(labelled(rows, width=14))
        head.append("\n\nContact person\n", style="bold")
        c = p.contact
        head.append_text(labelled([("Name", f"{c.get('first_name', '')} {c.get('last_name', '')}"), ("E-mail", c.get("email")),
                                   ("Phone", c.get("phone"))], width=14))
        head.append("\n\nPortal user\n", style="bold")
        head.append_text(labelled([("User name", self.detail.user_name), ("Role", p.role)], width=14))
        if p.errors:
            head.append("\n\nTo fix before OK\n", style="bold red")
            for name, message in p.errors.items():
                head.append(f"• {name}: ", style="red")
                head.append_text(data(message))
                head.append("\n")
        else:
            head.append("\n\nReady: OK creates it.", style="bold green")
        return head

    @work(thread=True, exclusive=True, group="create", exit_on_error=False)
    def _create(self, args: dict[str, Any]) -> None:
        from services import signup

        role = args.pop("role") or ""
        number = self.number
        result = self.app.call(signup.create_customer, number, role=role, **args)
        self.app.call_from_thread(self._created, number, result)

    def _created(self, number: str, result: Any) -> None:
        if number == self.number and self.is_current:  # still open on that request
            self.dismiss(result)

    # ------------------------------------------------------------------ events

    @on(RadioSet.Changed, "#mode")
    def _mode_changed(self, event: RadioSet.Changed) -> None:
        self._mode = "existing" if event.pressed.id == "mode-existing" else "new"
        self._sync_mode()
        self._schedule_preview()

    @on(Select.Changed)
    def _select_changed(self, event: Select.Changed) -> None:
        if event.select.id == "f-template":
            # a new template: its values replace the template fields the user has not typed over
            from services.customers import TEMPLATE_FIELDS

            for name in TEMPLATE_FIELDS:
                if self._edited.get(name) == self._filled.get(name):
                    self._edited.pop(name, None)
        self._schedule_preview()

    @on(Input.Changed)
    def _input_changed(self, event: Input.Changed) -> None:
        input_id = event.input.id or ""
        if event.value != event.input.value:
            return  # superseded by a later change (a refill, or the next key): that one's event follows
        if input_id == "f-existing-account":
            self._schedule_preview()
            return
        name = input_id.removeprefix("f-").replace("-", "_")
        if self._filled.get(name) == event.value and name not in self._edited:
            return  # our own fill
        self._edited[name] = event.value
        self._schedule_preview()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def action_ok(self) -> None:
        args = self.request_args()
        if not args["role"]:
            self.query_one("#e-role", FieldError).show("choose the user role the portal user gets")
            return
        self._create(args)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


def prepare_create(app: Any, detail: RequestDetail) -> None:
    """Thread: what the Create dialog needs, read before its key is pressed (templates and roles
    once per console; the default preview of this request), so it opens ready."""
    from services import signup

    if getattr(app, "create_choices", None) is None:
        app.create_choices = app.call(signup.create_choices)
    choices = app.create_choices
    existing = bool(detail.customer_account) and bool(_create_candidates(detail))
    args = {"mode": "existing" if existing else "new", "template": None if existing else choices.default_template,
            "role": choices.default_role,
            "values": None if existing else {}, "existing_account": _create_candidates(detail)[0][0]
            if _create_candidates(detail) else None}
    preview = app.call(signup.preview_create, detail.number, **args)
    app.create_prepared = (detail.number, args, preview)


def _create_candidates(detail: RequestDetail) -> list[tuple[str, str]]:
    seen: dict[str, str] = {}
    if detail.customer_account:
        seen[detail.customer_account] = "given by the requester"
    for hint in detail.duplicates:
        if hint.kind in ("customer", "contact") and hint.key not in seen:
            seen[hint.key] = f"{hint.label} ({hint.reason})"
    return list(seen.items())


# --------------------------------------------------------------------------- help


class HelpDialog(TypedApp, ModalScreen[None]):
    """The help of one screen: what it is for and its keys."""

    BINDINGS = [
        Binding("escape,f1,q", "close", "Close", id="help.close", tooltip="Close the help"),
    ]

    def __init__(self, title: str, help_text: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.help_title, self.help_text, self.keys = title, help_text, keys

    def compose(self) -> ComposeResult:
        from textual.widgets import Markdown

        with Vertical(classes="dialog wide", id="help-dialog"):
            yield Static(f"Help — {self.help_title}", classes="dialog-title", markup=False)
            with VerticalScroll():
                yield Markdown(self.help_text)
                yield Static("Keys", classes="section-title")
                yield Static(labelled(self.keys, width=14))
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close")

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(None)


__all__ = ["Dialog", "ConfirmDialog", "CommentDialog", "FormDialog", "FieldSpec", "parse_date", "RejectDialog",
           "NewRequestDialog", "CreateCustomerDialog", "HelpDialog", "FieldError"]
