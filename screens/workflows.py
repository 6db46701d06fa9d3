"""Workflows (admin): the definitions of every document type, their steps; activate,
deactivate, and import a definition file (TOML). A bad file is refused with each problem's
line and reason, and nothing changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Checkbox, DataTable, Footer, Header, Input, Label, Static
from textual.worker import get_current_worker

from screens.dialogs import Dialog, FieldError
from screens.widgets import ReportsWorkerErrors, data, labelled, restore_cursor

if TYPE_CHECKING:
    from services.workflow_defs import DefinitionDetail, DefinitionView

COLUMNS = [("id", "Id"), ("doc_type", "Document type"), ("name", "Name"), ("version", "Ver"), ("active", "Active"),
           ("steps", "Steps"), ("running", "Running"), ("imported", "Imported")]


class Loaded(Message):
    def __init__(self, rows: list[DefinitionView]) -> None:
        super().__init__()
        self.rows = rows


class DetailLoaded(Message):
    def __init__(self, detail: DefinitionDetail) -> None:
        super().__init__()
        self.detail = detail


class Changed(Message):
    def __init__(self, detail: DefinitionDetail, what: str) -> None:
        super().__init__()
        self.detail, self.what = detail, what


class ImportDialog(Dialog):
    """Path of a definition file and whether to activate it. Imports in a worker; errors inline."""

    AUTO_FOCUS = "#f-path"
    BINDINGS = [Binding("ctrl+s", "ok", "Import", id="import.ok", tooltip="Import the file")]
    DEFAULT_CSS = """
    ImportDialog #import-dialog { width: 100; height: auto; max-height: 90%; border: thick $primary;
                                  background: $surface; padding: 1 2; }
    ImportDialog .buttons { height: auto; margin-top: 1; }
    ImportDialog .field-error { color: $error; display: none; height: auto; max-height: 20; }
    ImportDialog .field-error.-visible { display: block; }
    """

    def compose(self) -> ComposeResult:
        with Vertical(id="import-dialog", classes="dialog"):
            yield Static(Text("Import a workflow definition (TOML)", style="bold"), classes="dialog-title")
            yield Label("File:")
            yield Input(id="f-path", placeholder="path/to/definition.toml")
            yield Checkbox("Activate it at once", id="f-activate")
            yield FieldError(id="e-file", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Import", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def action_ok(self) -> None:
        path = self.query_one("#f-path", Input).value.strip()
        if not path:
            self.query_one("#e-file", FieldError).show("give the path of a definition file")
            return
        self._import(path, self.query_one("#f-activate", Checkbox).value)

    @work(thread=True, exclusive=True, group="workflows.import", exit_on_error=False)
    def _import(self, path: str, activate: bool) -> None:
        from services import workflow_defs

        detail = self.app.call(workflow_defs.import_file, path, activate)
        self.app.call_from_thread(self.dismiss, detail)

    def show_field_errors(self, errors: dict[str, str]) -> bool:
        # a refused file: every problem with its line, in the dialog
        lines = [f"{k}: {v}" for k, v in errors.items()]
        self.query_one("#e-file", FieldError).show("Not imported (nothing changed):\n" + "\n".join(lines))
        return True

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class WorkflowsScreen(ReportsWorkerErrors, Screen):
    TITLE = "Workflows"
    AUTO_FOCUS = "#workflows"
    DEFAULT_CSS = """
    WorkflowsScreen #wf-body { height: 1fr; }
    WorkflowsScreen #wf-list-pane { width: 1fr; }
    WorkflowsScreen #workflows { height: 1fr; }
    WorkflowsScreen #wf-info { height: 1; padding: 0 1; color: $text-muted; }
    WorkflowsScreen #wf-detail { width: 1fr; min-width: 50; border-left: solid $primary-darken-2; }
    WorkflowsScreen .wf-section { border: round $primary-darken-1; padding: 0 1; height: auto; }
    """
    HELP = """\
## Workflows — approval definitions

One engine runs every approval: user requests, proposed customer changes, cases. Each
definition has a condition on the document and ordered steps (assignee, completion policy,
time limit, escalation, automated actions).

* **i** imports a definition file (TOML) as a new version; **a** activates the selected
  version (the other version of the same name steps down), **d** deactivates it.
* Running workflows keep the version they started with.
* `regdesk workflow export TYPE` writes the file to edit; `regdesk workflow import FILE`
  reads it back. A bad file is refused with the line and the reason of each problem.
* With no active workflow, a user request waits in Submitted for manual processing.
"""
    BINDINGS = [
        Binding("i", "import", "Import", id="workflows.import", tooltip="Import a definition file (TOML)"),
        Binding("a", "activate", "Activate", id="workflows.activate", tooltip="Activate the selected definition"),
        Binding("d", "deactivate", "Deactivate", id="workflows.deactivate", tooltip="Deactivate the selected definition"),
        Binding("f5", "reread", "Reread", id="workflows.reread", tooltip="Reread the definitions"),
    ]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows: dict[str, DefinitionView] = {}
        self.selected: str | None = None
        self.detail: DefinitionDetail | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="wf-body"):
            with Vertical(id="wf-list-pane"):
                table: DataTable = DataTable(id="workflows", cursor_type="row", zebra_stripes=True)
                for key, label in COLUMNS:
                    table.add_column(label, key=key)
                yield table
                yield Static("loading…", id="wf-info")
            with VerticalScroll(id="wf-detail"):
                yield Static(Text("No definition selected.", style="dim"), id="wf-empty")
                yield Static(id="wf-head", classes="wf-section")
                yield Static(id="wf-steps", classes="wf-section")
        yield Footer()

    def on_mount(self) -> None:
        for wid, title in (("wf-head", "Definition"), ("wf-steps", "Steps")):
            w = self.query_one(f"#{wid}", Static)
            w.border_title = title
            w.display = False
        self.reload()

    def reload(self) -> None:
        self._fetch()

    @work(thread=True, exclusive=True, group="workflows.list", exit_on_error=False)
    def _fetch(self) -> None:
        from services import workflow_defs

        rows = self.app.call(workflow_defs.list_definitions)
        if not get_current_worker().is_cancelled:
            self.post_message(Loaded(rows))

    @on(Loaded)
    def _loaded(self, event: Loaded) -> None:
        table = self.query_one("#workflows", DataTable)
        previous = self.selected
        with self.app.batch_update():
            table.clear()
            self.rows = {}
            for d in event.rows:
                key = str(d.id)
                self.rows[key] = d
                table.add_row(Text(key), data(d.doc_type), data(d.name), Text(str(d.version)),
                              Text("active", style="bold green") if d.active else Text("—", style="dim"),
                              Text(str(d.steps)), Text(str(d.running)), data(f"{d.created_at:%Y-%m-%d} {d.created_by}"),
                              key=key)
            self._select(restore_cursor(table, previous))
        active = sum(1 for d in self.rows.values() if d.active)
        self.query_one("#wf-info", Static).update(Text(f"{len(self.rows)} definitions, {active} active"))

    @on(DataTable.RowHighlighted, "#workflows")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._select(event.row_key.value if event.row_key is not None else None)

    def _select(self, key: str | None) -> None:
        self.selected = key
        self.query_one("#wf-empty").display = key is None
        if key is None:
            self.query_one("#wf-head").display = self.query_one("#wf-steps").display = False
            return
        self._load_detail(key)

    @work(thread=True, exclusive=True, group="workflows.detail", exit_on_error=False)
    def _load_detail(self, key: str) -> None:
        from services import workflow_defs

        detail = self.app.call(workflow_defs.show_definition, key)
        if not get_current_worker().is_cancelled:
            self.post_message(DetailLoaded(detail))

    @on(DetailLoaded)
    def _detail_loaded(self, event: DetailLoaded) -> None:
        d = self.detail = event.detail
        if self.selected != str(d.id):
            return
        head, steps = self.query_one("#wf-head", Static), self.query_one("#wf-steps", Static)
        head.display = steps.display = True
        head.update(labelled([("Document type", d.doc_type), ("Name", f"{d.name} (version {d.version})"),
                              ("Active", "yes" if d.active else "no"), ("Condition", d.condition or "(every document)"),
                              ("Priority", d.priority), ("Description", d.description), ("Running", d.running),
                              ("Imported", f"{d.created_at:%Y-%m-%d %H:%M} by {d.created_by}")], width=15))
        out = Text()
        for i, s in enumerate(d.step_list):
            if i:
                out.append("\n\n")
            out.append(f"{s.sequence}. ", style="bold")
            out.append_text(data(s.name, "bold"))
            if s.kind == "automated":
                out.append("  automated: ")
                out.append_text(data(s.action))
            else:
                out.append(f"\n   {s.assignee}, policy {s.policy}")
                if s.time_limit_hours:
                    out.append(f", {s.time_limit_hours} h")
                if s.escalation:
                    out.append("\n   escalation: " + " → ".join(s.escalation) + f" → {s.final_action}")
                if s.reminder_hours:
                    out.append(f"\n   reminder every {s.reminder_hours} h")
            if s.condition:
                out.append("\n   only if ")
                out.append_text(data(s.condition, "italic"))
        steps.update(out)

    # ------------------------------------------------------------------ actions

    def action_reread(self) -> None:
        self.reload()

    def action_import(self) -> None:
        def done(detail: DefinitionDetail | None) -> None:
            if detail is not None:
                self.selected = str(detail.id)
                state = "active" if detail.active else "inactive"
                self.notify(f"imported {detail.doc_type} '{detail.name}' as version {detail.version} ({state})",
                            title="Import", markup=False)
                self.reload()

        self.app.push_screen(ImportDialog(), done)

    def action_activate(self) -> None:
        if self.selected:
            self._flip(self.selected, True)

    def action_deactivate(self) -> None:
        if self.selected:
            self._flip(self.selected, False)

    @work(thread=True, group="workflows.flip", exit_on_error=False)
    def _flip(self, key: str, on_: bool) -> None:
        from services import workflow_defs

        detail = self.app.call(workflow_defs.activate if on_ else workflow_defs.deactivate, key)
        self.post_message(Changed(detail, "activated" if on_ else "deactivated"))

    @on(Changed)
    def _changed(self, event: Changed) -> None:
        d = event.detail
        self.notify(f"{d.doc_type} '{d.name}' version {d.version} {event.what}", title="Workflows", markup=False)
        self.reload()

    def palette_bindings(self) -> Iterable[Binding]:
        return [b for b in self.BINDINGS if isinstance(b, Binding)]
