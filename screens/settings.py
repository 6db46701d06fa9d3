"""The Settings area: customer approval parameters (D365 Accounts receivable parameters >
Customer approval). Admins change them; everyone else sees them read-only.

Every change is saved at once (and audited) by services.changes; a refusal is shown and the
screen rereads the stored values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Checkbox, Header, Label, Select, Static, Switch

from screens.footer import KeyFooter
from screens.widgets import ReportsWorkerErrors
from services.text import strip_controls

if TYPE_CHECKING:
    from textual import getters

    from screens.console_app import ConsoleApp
    from services.changes import ApprovalSettings

BEHAVIORS = [
    ("Allow changes without approval", "allow"),
    ("Reject changes", "reject"),
    ("Create change proposals", "propose"),
]


class SettingsLoaded(Message):
    def __init__(self, settings: ApprovalSettings, note: str | None = None) -> None:
        super().__init__()
        self.settings, self.note = settings, note


class SettingsScreen(ReportsWorkerErrors, Screen):
    TITLE = "Settings"
    AUTO_FOCUS = "#set-enabled"
    DEFAULT_CSS = """
    SettingsScreen #set-body { padding: 0 2; }
    SettingsScreen .set-section { border: round $primary-darken-1; padding: 0 1; height: auto; margin-bottom: 1; }
    SettingsScreen .set-row { height: 3; }
    SettingsScreen .set-label { width: 34; padding: 1 1 0 0; }
    SettingsScreen #set-behavior { width: 44; }
    SettingsScreen #set-fields { layout: grid; grid-size: 2; grid-gutter: 0 2; grid-rows: 1; height: auto; padding: 1 0; }
    SettingsScreen #set-fields Checkbox { width: 100%; }
    SettingsScreen #set-note { color: $text-muted; height: auto; padding: 0 1; }
    """

    if TYPE_CHECKING:  # self.app is the console's app (screens/console_app.py)
        app = getters.app(ConsoleApp)
    HELP = """\
## Settings — customer approval

* **Enable customer approvals**: when on, changes of the fields checked below keep the
  customer's value and become proposed changes that an approver must approve.
* **Data entity behavior** (imports, `regdesk customers import`): *Allow changes without
  approval* updates every field; *Reject changes* refuses the changes of checked fields and
  applies the rest; *Create change proposals* applies the rest and submits the checked
  fields' changes as a proposal.
* Only admins change these settings; every change is recorded in the audit trail.
* **f5** rereads.
"""
    BINDINGS = [Binding("f5", "reread", "Reread", id="settings.reread", tooltip="Reread the stored settings")]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.populating = True
        self.settings: ApprovalSettings | None = None

    def compose(self) -> ComposeResult:
        from services.params import CUSTOMER_APPROVAL_FIELDS

        yield Header()
        with VerticalScroll(id="set-body"):
            with Vertical(id="set-approval", classes="set-section"):
                with Horizontal(classes="set-row"):
                    yield Label("Enable customer approvals", classes="set-label")
                    yield Switch(id="set-enabled")
                with Horizontal(classes="set-row"):
                    yield Label("Data entity behavior", classes="set-label")
                    yield Select(BEHAVIORS, id="set-behavior", allow_blank=False, value="allow")
            with Vertical(id="set-fields-box", classes="set-section"):
                with Vertical(id="set-fields"):
                    for name, label in CUSTOMER_APPROVAL_FIELDS:
                        yield Checkbox(label, id=f"set-field-{name.replace('_', '-')}", compact=True)
            yield Static(id="set-note")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#set-approval").border_title = "Customer approval"
        self.query_one("#set-fields-box").border_title = "Fields that need approval (Enable)"
        self._load()

    def action_reread(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="settings.load", exit_on_error=False)
    def _load(self, note: str | None = None) -> None:
        from services import changes

        self.post_message(SettingsLoaded(self.app.call(changes.approval_settings), note))

    @on(SettingsLoaded)
    def _loaded(self, event: SettingsLoaded) -> None:
        s = self.settings = event.settings
        admin = self.app.actor.can("admin.parameters")
        self.populating = True
        with self.app.batch_update():
            self.query_one("#set-enabled", Switch).value = s.enabled
            self.query_one("#set-behavior", Select).value = s.entity_behavior
            for f in s.fields:
                self.query_one(f"#set-field-{f.name.replace('_', '-')}", Checkbox).value = f.enabled
            for widget in self.query("Switch, Select, Checkbox"):
                widget.disabled = not admin
        self.call_after_refresh(self._done_loading)
        enabled = sum(1 for f in s.fields if f.enabled)
        note = (
            f"{enabled} of {len(s.fields)} fields need approval"
            + ("" if s.enabled else " (approvals are off: every change is saved at once)")
            + ("" if admin else " — read-only: only admins change these settings")
        )
        self.query_one("#set-note", Static).update(Text(note + (f"\n{event.note}" if event.note else "")))

    def _done_loading(self) -> None:
        self.populating = False

    # ------------------------------------------------------------------ changes

    @on(Switch.Changed, "#set-enabled")
    def _enabled(self, event: Switch.Changed) -> None:
        if not self.populating and self.settings is not None and event.value != self.settings.enabled:
            self._save("approvals", "", event.value)

    @on(Select.Changed, "#set-behavior")
    def _behavior(self, event: Select.Changed) -> None:
        if not self.populating and self.settings is not None and event.value != self.settings.entity_behavior:
            self._save("behavior", "", event.value)

    @on(Checkbox.Changed)
    def _field(self, event: Checkbox.Changed) -> None:
        if self.populating or self.settings is None:
            return
        name = (event.checkbox.id or "").removeprefix("set-field-").replace("-", "_")
        current = next((f.enabled for f in self.settings.fields if f.name == name), None)
        if current is not None and current != event.value:
            self._save("field", name, event.value)

    @work(thread=True, exclusive=True, group="settings.save", exit_on_error=False)
    def _save(self, what: str, name: str, value: Any) -> None:
        from services import changes

        try:
            if what == "approvals":
                settings = self.app.call(changes.set_approvals, bool(value))
                note = f"customer approvals {'on' if value else 'off'}"
            elif what == "behavior":
                settings = self.app.call(changes.set_entity_behavior, str(value))
                note = f"data entity behavior: {settings.entity_behavior_label}"
            else:
                settings = self.app.call(changes.set_field_approval, name, bool(value))
                note = f"{name}: changes {'need' if value else 'do not need'} approval"
        except Exception:
            self._load()  # show the stored values again; the refusal is reported by the mixin
            raise
        self.app.call_from_thread(self.app.notify, strip_controls(note), title="Saved", markup=False)
        self.post_message(SettingsLoaded(settings))
