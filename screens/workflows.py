"""Workflows (admin): the definitions of every document type, their steps; activate,
deactivate, and import a definition file (TOML). A bad file is refused with each problem's
line and reason, and nothing changes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Checkbox, Input, Label, Static

from screens.browser import ActionDone, BrowserScreen, Column, ListQuery, Page
from screens.dialogs import ConfirmDialog, Dialog, FieldError
from screens.guarded import GuardedActions
from screens.widgets import data, labelled

if TYPE_CHECKING:
    from services.workflow_defs import DefinitionDetail, DefinitionView

COLUMNS = [
    Column("id", "Id"),
    Column("doc_type", "Document type", width=16),
    Column("name", "Name", width=26),
    Column("version", "Ver"),
    Column("active", "Active"),
    Column("steps", "Steps"),
    Column("running", "Running"),
    Column("imported", "Imported", width=24),
]
FILTERS = ["All", "Active", "Inactive"]


class ImportDialog(Dialog[Any]):
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


class WorkflowsScreen(GuardedActions, BrowserScreen):
    TITLE = "Workflows"
    AUTO_FOCUS = "#workflows"
    TABLE_ID = "workflows"
    COLUMNS = COLUMNS
    FILTERS = FILTERS
    LOCAL = True  # a few definitions: one list, filtered, searched and sorted here
    SEARCH_PLACEHOLDER = "/ search definitions"
    EMPTY_DETAIL = "No definition selected."
    NOUN = "definition"
    DEFAULT_CSS = """
    WorkflowsScreen #detail { width: 1fr; min-width: 50; }
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
        Binding(
            "d", "deactivate", "Deactivate", id="workflows.deactivate", tooltip="Deactivate the selected definition"
        ),
        Binding("f5", "reread", "Reread", id="workflows.reread", tooltip="Reread the definitions"),
    ]

    @property
    def rows(self) -> dict[str, DefinitionView]:
        return self.records

    def fetch(self, q: ListQuery, after: Any, limit: int, reverse: bool) -> Page:
        from services import workflow_defs

        return Page(self.app.call(workflow_defs.list_definitions))

    def row_filter(self, row: Any) -> str | None:
        return "Active" if row.active else "Inactive"

    def fetch_detail(self, key: str) -> DefinitionDetail:
        from services import workflow_defs

        return self.app.call(workflow_defs.show_definition, key)

    def detail_key(self, detail: Any) -> str | None:
        return str(detail.id) if detail is not None else None

    def refusal(self, key: str, action: str) -> str | None:
        from services import workflow_defs

        return self.app.call(workflow_defs.refusal, key, action)

    def allows(self, detail: Any, action: str) -> bool:
        return False  # a definition lists no actions: the service is asked (one read)

    def row_key(self, row: Any) -> str:
        return str(row.id)

    def detail_changed_row(self, key: str, detail: Any) -> None:
        row = self.records.get(key)
        if row is None or row.active == detail.active:
            return
        # a definition (de)activated in place: the row says so (and its record, for later repaints)
        self.records[key] = row.model_copy(update={"active": detail.active})
        self.table.update_cell(key, "active", self.row_cells(self.records[key])[4])

    def row_cells(self, d: Any) -> list[Text]:
        return [
            Text(str(d.id)),
            data(d.doc_type),
            data(d.name),
            Text(str(d.version)),
            Text("active", style="bold green") if d.active else Text("—", style="dim"),
            Text(str(d.steps)),
            Text(str(d.running)),
            data(f"{d.created_at:%Y-%m-%d} {d.created_by}"),
        ]

    def compose_detail(self) -> ComposeResult:
        for wid, title in (("wf-head", "Definition"), ("wf-steps", "Steps")):
            w = Static(id=wid, classes="wf-section")
            w.border_title = title
            w.display = False
            yield w

    def show_detail(self, d: DefinitionDetail | None) -> None:
        if d is None:
            self.query_one("#wf-head").display = self.query_one("#wf-steps").display = False
            return
        head, steps = self.query_one("#wf-head", Static), self.query_one("#wf-steps", Static)
        head.display = steps.display = True
        head.update(
            labelled(
                [
                    ("Document type", d.doc_type),
                    ("Name", f"{d.name} (version {d.version})"),
                    ("Active", "yes" if d.active else "no"),
                    ("Condition", d.condition or "(every document)"),
                    ("Priority", d.priority),
                    ("Description", d.description),
                    ("Running", d.running),
                    ("Imported", f"{d.created_at:%Y-%m-%d %H:%M} by {d.created_by}"),
                ],
                width=15,
            )
        )
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

    # ------------------------------------------------------------------ actions (on the definition under the cursor at key time)

    def action_import(self) -> None:
        def done(detail: DefinitionDetail | None) -> None:
            if detail is not None:
                state = "active" if detail.active else "inactive"
                self.post_message(
                    ActionDone(
                        str(detail.id),
                        f"imported {detail.doc_type} '{detail.name}' as version {detail.version} ({state})",
                    )
                )

        self.app.push_screen(ImportDialog(), done)

    def action_activate(self) -> None:
        if (key := self.target()) is not None:
            self._flip(key, True)

    def action_deactivate(self) -> None:
        self.when_possible("deactivate", self._deactivate)

    def _deactivate(self, key: str, _detail: Any) -> None:
        row = self.records.get(key)
        what = f"{row.doc_type} '{row.name}' version {row.version}" if row else f"definition {key}"
        running = f"; its {row.running} running workflow(s) keep going" if row and row.running else ""

        def done(ok: bool | None) -> None:
            if ok:
                self._flip(key, False)

        self.app.push_screen(
            ConfirmDialog(
                "Deactivate workflow", f"Deactivate {what}: new documents no longer start it{running}.", ok="Deactivate"
            ),
            done,
        )

    def _flip(self, key: str, on_: bool) -> None:
        from services import workflow_defs

        def run() -> str:
            d = self.app.call(workflow_defs.activate, key) if on_ else self.app.call(workflow_defs.deactivate, key)
            return f"{d.doc_type} '{d.name}' version {d.version} {'activated' if on_ else 'deactivated'}"

        self.act(key, run)
