"""Snapshots of every console area and every dialog of the dialog kit (fixed size and data).

Update after an intended change: ``pytest tests/test_snapshots_console.py --snapshot-update``
and look at the SVGs in ``__snapshots__``. Areas not here have their own snapshot files
(Registration, My work, User requests, Cases, Prospects, Changes, Settings).
"""

from __future__ import annotations

import pytest
from textual.content import Content
from textual.widgets import Input

from app.tui import make_app
from tests.helpers import until
from tests.test_console_registration import live_settled

SIZE = (120, 34)


def _no_blink(app) -> None:
    for screen in app.screen_stack:
        for widget in screen.query(Input):
            widget.cursor_blink = False


@pytest.mark.parametrize(
    "key,screen_name", [("f6", "CustomersScreen"), ("f8", "OutboxScreen"), ("f9", "WorkflowsScreen")]
)
def test_area(snap_compare, store, actor, key, screen_name):
    app = make_app(store, actor("admin1"))

    async def run_before(pilot) -> None:
        await pilot.press(key)
        await until(
            app, pilot, lambda: type(app.screen).__name__ == screen_name and not app.screen._fetching, screen_name
        )
        await until(app, pilot, lambda: app.screen.detail is not None or not app.screen.records, "detail")
        _no_blink(app)

    assert snap_compare(app, terminal_size=SIZE, run_before=live_settled(run_before, app))


def _dialogs():
    from screens.dialogs import (
        CommentDialog,
        ConfirmDialog,
        FieldSpec,
        FormDialog,
        HelpDialog,
        NewRequestDialog,
        RejectDialog,
    )
    from screens.my_work import DelegateDialog, ResultsDialog
    from screens.prospects import EmailChoiceDialog
    from screens.workflows import ImportDialog
    from services.prospects import EmailOwner
    from services.workflow import ActionResult

    return {
        "reject": lambda: RejectDialog("REG-000003", "[b]Litware[/b], Inc."),
        "new_request": lambda: NewRequestDialog(),
        "confirm": lambda: ConfirmDialog(
            "Apply marked lines",
            "Apply 1 marked line(s) of CP-000001 (name) to C-000002; reject the other 1 (credit_limit).",
            ok="Apply",
        ),
        "comment": lambda: CommentDialog(
            "Approve REG-000003", "Comment (optional, kept in the history):", required=False, button="Approve"
        ),
        "case_form": lambda: FormDialog(
            Content("New case"),
            [
                FieldSpec("title", "Title"),
                FieldSpec("customer_account", "Customer account", placeholder="C-000001"),
                FieldSpec("category", "Category", "Other", choices=("Special condition", "Other")),
                FieldSpec("priority", "Priority", "Normal", choices=("Low", "Normal", "High")),
                FieldSpec("resolution_date", "Resolution date", kind="date"),
                FieldSpec("description", "Description", multiline=True),
            ],
            required=("title", "customer_account"),
        ),
        "delegate": lambda: DelegateDialog(
            "item 3 (Case CASE-000001)", [("approver2", "Bob Approver"), ("admin1", "Ada Admin")]
        ),
        "results": lambda: ResultsDialog(
            "Approve",
            [
                ActionResult(item_id=1, action="approve", message="D-100 approved"),
                ActionResult(item_id=3, action="approve", ok=False, message="already decided by approver2"),
            ],
        ),
        "import": lambda: ImportDialog(),
        "email_choice": lambda: EmailChoiceDialog(
            "LEAD-000001",
            "ann@tailwind.example is the e-mail of contact C-000001-01",
            [EmailOwner(kind="contact", account="C-000001-01", name="Ann Lee", customer_name="Fabrikam")],
        ),
        "help": lambda: HelpDialog("Registration", "## Registration\n\nSign-up requests.", [("a", "Approve")]),
    }


@pytest.mark.parametrize("name", list(_dialogs()))
def test_dialog(snap_compare, store, actor, name):
    app = make_app(store, actor("approver1"))

    async def run_before(pilot) -> None:
        await until(app, pilot, lambda: app.screen.detail is not None or not app.screen.records, "list")
        app.push_screen(_dialogs()[name]())
        await pilot.pause()
        await until(app, pilot, lambda: app.screen.is_modal, "dialog")
        await pilot.pause()
        _no_blink(app)

    assert snap_compare(app, terminal_size=SIZE, run_before=live_settled(run_before, app))
