"""Snapshots of the Registration screen and the Create customer dialog (fixed size, fixed clock).

Update after an intended change: ``pytest tests/test_snapshots_registration.py --snapshot-update``
and look at the SVGs in ``__snapshots__``. Recorded with the pinned Textual (pyproject.toml).
"""

from __future__ import annotations

from textual.widgets import Input

from app.tui import make_app
from screens.dialogs import CreateCustomerDialog
from screens.registration import RegistrationScreen
from tests.helpers import until
from tests.test_console_registration import live_settled, load_requests

SIZE = (140, 40)


def _no_blink(app) -> None:
    for screen in app.screen_stack:
        for widget in screen.query(Input):
            widget.cursor_blink = False


def test_registration_screen(snap_compare, store, actor):
    load_requests(store, actor)
    app = make_app(store, actor("approver1"))

    async def run_before(pilot) -> None:
        await until(
            app,
            pilot,
            lambda: (
                isinstance(app.screen, RegistrationScreen) and app.screen.detail is not None and bool(app.screen.counts)
            ),
            "list, counts and detail",
        )
        await pilot.press("down", "down", "down", "down", "down", "down", "down", "down", "down")  # Trey Research
        await until(
            app,
            pilot,
            lambda: app.screen.detail is not None and app.screen.detail.number == "REG-000010",
            "detail with duplicate hints",
        )
        _no_blink(app)

    assert snap_compare(app, terminal_size=SIZE, run_before=live_settled(run_before, app))


def test_registration_filtered_and_searched(snap_compare, store, actor):
    load_requests(store, actor)
    app = make_app(store, actor("approver1"))

    async def run_before(pilot) -> None:
        await until(app, pilot, lambda: isinstance(app.screen, RegistrationScreen) and bool(app.screen.counts), "list")
        await pilot.press("2")  # Requested, which holds the hostile demo request
        await until(
            app,
            pilot,
            lambda: (
                app.screen.query_state.status == "Requested"
                and app.screen.loaded == 3
                and app.screen.detail is not None
            ),
            "Requested filter",
        )
        await pilot.press("down", "down")
        await until(
            app,
            pilot,
            lambda: app.screen.detail is not None and app.screen.detail.number == "REG-000011",
            "hostile request shown",
        )
        _no_blink(app)

    assert snap_compare(app, terminal_size=SIZE, run_before=live_settled(run_before, app))


def test_create_customer_dialog(snap_compare, store, actor):
    load_requests(store, actor)
    from tests.test_console_registration import set_create_defaults

    set_create_defaults(store)
    app = make_app(store, actor("approver1"))

    async def run_before(pilot) -> None:
        await until(app, pilot, lambda: isinstance(app.screen, RegistrationScreen) and bool(app.screen.counts), "list")
        await pilot.press("4")  # Approved
        await until(
            app,
            pilot,
            lambda: (
                app.screen.query_state.status == "Approved"
                and app.screen.detail is not None
                and app.screen.detail.number == "REG-000006"
            ),
            "Approved filter",
        )
        await pilot.press("c")
        await until(
            app,
            pilot,
            lambda: isinstance(app.screen, CreateCustomerDialog) and app.screen.preview is not None,
            "dialog with preview",
        )
        dialog = app.screen
        dialog.query_one("#f-template").value = "DOMESTIC"
        await until(app, pilot, lambda: dialog.preview.values.get("terms_of_payment") == "Net30", "template preview")
        _no_blink(app)

    assert snap_compare(app, terminal_size=SIZE, run_before=live_settled(run_before, app))
