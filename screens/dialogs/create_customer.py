"""The Create customer dialog (one per app, composed while idle, refilled on each ``c``) and
``prepare_create``, which reads what it needs before its key is pressed."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.css.query import NoMatches
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Select, Static
from textual.worker import get_current_worker

from screens.widgets import data, labelled
from services.text import strip_controls

if TYPE_CHECKING:
    from textual.timer import Timer

    from services.signup import CreatePreview, RequestDetail

from screens.dialogs.base import Dialog, FieldError, field_id, field_row


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
    BINDINGS = [
        Binding("ctrl+s", "ok", "Create", id="create.ok", tooltip="Create the customer, contact and user request")
    ]
    DEBOUNCE = 0.25
    SCREEN_NAME = "create-customer"

    def __init__(self, detail: RequestDetail | None = None) -> None:
        super().__init__()
        self.detail = detail
        self.number = detail.number if detail is not None else ""
        self._filled: dict[str, str] = {}  # what we put in each field (to tell user edits apart)
        self._edited: dict[str, str] = {}
        self._timer: Timer | None = None
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
                    yield Static(
                        "Customer values (from the request and the template; editable)",
                        classes="section-title",
                        id="values-title",
                    )
                    with Vertical(id="values"):  # composed once per app (warm), so all of them here
                        for spec in FIELDS.values():
                            yield from field_row(
                                spec.label,
                                Input(id=field_id(spec.name), placeholder="yes/no" if spec.kind == "bool" else ""),
                                spec.name,
                            )
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
            Content.assemble(("Create customer from ", "bold"), (d.number, "bold"), " — ", who)
        )
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
            field = self.query_one(f"#{field_id(spec.name)}", Input)
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
            tsel.set_options(
                [(Text.assemble((t.name, "bold"), " ", data(t.description)), t.name) for t in choices.templates]
            )
            rsel.set_options(
                [(Text.assemble((r.name, "bold"), " ", data(r.description)), r.name) for r in choices.roles]
            )
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
            self._timer = None
        if delay == 0:
            # at once: a Textual timer of 0 s can die dividing by its interval and never fire
            self.call_later(self._preview)
            return
        self._timer = self.set_timer(self.DEBOUNCE if delay is None else delay, self._preview)

    def _preview(self) -> None:
        self._timer = None
        try:
            args = self.request_args()
        except NoMatches:
            # its fields are not composed yet (on_mount refills and previews then) or are being
            # removed one by one (the app is closing: #f-template was seen still there while
            # #f-existing-account was already gone): a preview queued then has nothing to read
            return
        self._run_preview(args)

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
                    field = self.query_one(f"#{field_id(name)}", Input)
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
        rows = [
            ("Name", v.get("name")),
            ("Party type", v.get("party_type")),
            ("Group", v.get("customer_group")),
            ("Currency", v.get("currency")),
            ("Terms", v.get("terms_of_payment")),
            ("Payment", v.get("method_of_payment")),
            ("Credit limit", _shown(v.get("credit_limit"))),
            ("Tax group", v.get("tax_group")),
            ("E-mail", v.get("email")),
            ("Phone", v.get("phone")),
            (
                "Address",
                " ".join(str(x) for x in (v.get("street"), v.get("zip"), v.get("city"), v.get("country")) if x),
            ),
        ]
        head.append_text(labelled(rows, width=14))
        head.append("\n\nContact person\n", style="bold")
        c = p.contact
        head.append_text(
            labelled(
                [
                    ("Name", f"{c.get('first_name', '')} {c.get('last_name', '')}"),
                    ("E-mail", c.get("email")),
                    ("Phone", c.get("phone")),
                ],
                width=14,
            )
        )
        head.append("\n\nPortal user\n", style="bold")
        head.append_text(
            labelled(
                [("User name", self.detail.user_name if self.detail is not None else ""), ("Role", p.role)], width=14
            )
        )
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
        from services.errors import RegdeskError, ValidationFailed

        role = args.pop("role") or ""
        number = self.number
        try:
            result = self.app.call(signup.create_customer, number, role=role, **args)
        except RegdeskError as exc:
            if not isinstance(exc, ValidationFailed):
                # refused as things stand now (e.g. another approver created it meanwhile): preview
                # again, so the dialog says why under its status line instead of a stale "Ready"
                self.app.call_from_thread(self._schedule_preview, 0)
            raise
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
    args = {
        "mode": "existing" if existing else "new",
        "template": None if existing else choices.default_template,
        "role": choices.default_role,
        "values": None if existing else {},
        "existing_account": _create_candidates(detail)[0][0] if _create_candidates(detail) else None,
    }
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
