"""The dialog kit's base: ``Dialog[T]`` (centred, first field focused, the confirm key in its
footer, refusals kept on screen), the inline ``FieldError``, and the small dialogs every area
uses: ``ConfirmDialog``, ``CommentDialog``, ``HelpDialog``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static
from textual.worker import Worker, WorkerState

from screens.widgets import data, error_text, labelled

if TYPE_CHECKING:
    from textual import getters

    from screens.console_app import ConsoleApp

    pass


T = TypeVar("T")


def field_id(name: str) -> str:
    return f"f-{name.replace('_', '-')}"


def field_row(label: str, field: Widget, name: str) -> list[Widget]:
    """One line of a form: the label and its one-line field in a row of fixed height (laid out
    without measuring its children, which is most of what opening a long form costs), and the
    field's inline error under the row, hidden until there is one."""
    return [
        Horizontal(Label(label, classes="field-label"), field, classes="field-row"),
        FieldError(id=f"e-{name.replace('_', '-')}", classes="field-error under"),
    ]


class FieldError(Static):
    """An inline error under one field (data: the message may quote customer input)."""

    def show(self, message: str | None) -> None:
        self.update(data(message or ""))
        self.set_class(bool(message), "-visible")


class Dialog(ModalScreen[T], Generic[T]):
    """The one dialog base: a typed result (``Dialog[Result]``; Escape dismisses with ``None``),
    centred, the first field focused (``AUTO_FOCUS``), the confirm key (ctrl+s) in its footer,
    and refusals kept on screen: a ``ValidationFailed`` goes under each named field, any other
    refusal on the dialog's own error line (``#e-dialog``) and in a notification. A refusal never
    closes the dialog, so nothing typed is lost."""

    if TYPE_CHECKING:  # self.app is the console's app (screens/console_app.py)
        app = getters.app(ConsoleApp)

    DEFAULT_CSS = """
    Dialog { align: center middle; }
    Dialog > .dialog { max-height: 100%; }
    Dialog Footer { dock: bottom; }
    Dialog #e-dialog { color: $text-error; height: auto; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="dialog.cancel", tooltip="Close without doing anything"),
        # priority: acted on when the key arrives, in order with the text around it. As a plain
        # binding Tab moved the focus only once the key came back up from the field, after the
        # keys queued behind it (a burst "Acme Tab Ann") had been typed into the same field
        Binding("tab", "app.focus_next", "Next field", show=False, priority=True, id="dialog.next"),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False, priority=True, id="dialog.previous"),
    ]

    keys_ready = False  # its first field has the focus (or it has none): keys typed go to it

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_descendant_focus(self, event: Any) -> None:
        self._keys_now_ready()

    def on_unmount(self) -> None:
        self._keys_now_ready()

    def _keys_now_ready(self) -> None:
        # the app holds keys that come while a dialog mounts (ConsoleApp); they go to it now, in order
        if not self.keys_ready:
            self.keys_ready = True
            self.app.release_held_keys()

    def _no_focus_came(self) -> None:
        if self.focused is None:  # a dialog with nothing to focus: keys as usual
            self._keys_now_ready()

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
        self.call_after_refresh(self._no_focus_came)

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

    def __init__(
        self, title: str, prompt: str, *, required: bool, button: str = "OK", variant: str = "primary"
    ) -> None:
        super().__init__()
        self.title_text, self.prompt, self.required, self.button, self.variant = (
            title,
            prompt,
            required,
            button,
            variant,
        )

    def compose(self) -> ComposeResult:
        with Vertical(id="comment-dialog", classes="dialog"):
            yield Static(data(self.title_text, "bold"), classes="dialog-title")
            yield Label(data(self.prompt))
            yield Input(
                id="f-comment",
                max_length=1000,
                placeholder="required" if self.required else "optional comment for the history",
            )
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


class HelpDialog(ModalScreen[None]):
    """The help of one screen: what it is for and its keys."""

    if TYPE_CHECKING:  # self.app is the console's app (screens/console_app.py)
        app = getters.app(ConsoleApp)

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
