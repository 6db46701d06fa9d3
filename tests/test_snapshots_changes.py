"""Snapshots of the customer approval console (fixed clock and size): the settings screen,
the edit form of a customer with a pending proposal, and the review pane with a conflict.
Plus Pilot checks of the same screens driven from the keyboard."""

from __future__ import annotations

from app.tui import make_app
from screens.changes import ChangesScreen
from screens.customers import CustomersScreen, EditCustomerDialog
from screens.dialogs import ConfirmDialog
from screens.settings import SettingsScreen
from services import changes, customers
from tests.conftest import HOSTILE
from tests.helpers import run_async, workers_done
from tests.test_console_registration import live_settled

SIZE = (150, 46)


def approvals(store, actor, *fields, behavior="propose"):
    admin = actor("admin1")
    store.call(changes.set_approvals, admin, True)
    store.call(changes.set_entity_behavior, admin, behavior)
    for f in fields:
        store.call(changes.set_field_approval, admin, f, True)


def pending(store, actor, clock):
    """C-000002 with a submitted proposal (name, credit limit); the credit limit changed since (conflict)."""
    approvals(store, actor, "name", "credit_limit")
    store.call(
        changes.edit_customer, actor("support1"), "C-000002", {"credit_limit": "900", "name": HOSTILE[0] + " Contoso"}
    )
    clock.advance(minutes=5)
    store.call(changes.set_approvals, actor("admin1"), False)
    store.call(changes.edit_customer, actor("sales1"), "C-000002", {"credit_limit": "450"})
    store.call(changes.set_approvals, actor("admin1"), True)
    clock.advance(minutes=5)
    store.call(changes.submit, actor("support1"), "C-000002")


async def settle(app, pilot, done):
    for _ in range(200):
        await workers_done(app)
        if done():
            break
        await pilot.pause(0.02)
    await workers_done(app)
    await pilot.pause()


def test_settings_screen(snap_compare, store, actor):
    approvals(store, actor, "credit_limit", "name", "bank_account")
    app = make_app(store, actor("admin1"))

    async def run_before(pilot) -> None:
        await pilot.press("f12")
        await settle(app, pilot, lambda: isinstance(app.screen, SettingsScreen) and app.screen.settings is not None)

    assert snap_compare(app, terminal_size=SIZE, run_before=live_settled(run_before, app))


def test_edit_form_with_pending_proposal(snap_compare, store, actor, clock):
    pending(store, actor, clock)
    app = make_app(store, actor("support1"))

    async def run_before(pilot) -> None:
        await pilot.press("f6")
        await settle(app, pilot, lambda: isinstance(app.screen, CustomersScreen) and app.screen.context is not None)
        await pilot.press("down")
        await settle(
            app, pilot, lambda: app.screen.context is not None and app.screen.context.customer.account == "C-000002"
        )
        await pilot.press("e")
        await settle(app, pilot, lambda: isinstance(app.screen, EditCustomerDialog))

    assert snap_compare(app, terminal_size=SIZE, run_before=live_settled(run_before, app))


def test_review_pane_with_conflict(snap_compare, store, actor, clock):
    pending(store, actor, clock)
    app = make_app(store, actor("approver1"))

    async def run_before(pilot) -> None:
        await pilot.press("f10")
        await settle(app, pilot, lambda: isinstance(app.screen, ChangesScreen) and app.screen.view is not None)

    assert snap_compare(app, terminal_size=SIZE, run_before=live_settled(run_before, app))


# ------------------------------------------------------------------ driven from the keyboard


@run_async
async def test_edit_form_saves_and_proposes(store, actor):
    approvals(store, actor, "credit_limit")
    app = make_app(store, actor("support1"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        await settle(app, pilot, lambda: isinstance(app.screen, CustomersScreen) and app.screen.context is not None)
        await pilot.press("e")
        await settle(app, pilot, lambda: isinstance(app.screen, EditCustomerDialog))
        dialog = app.screen
        dialog.query_one("#f-credit-limit").value = "1234.50"
        dialog.query_one("#f-city").value = "Tacoma"
        await pilot.press("ctrl+s")
        await settle(
            app,
            pilot,
            lambda: (
                isinstance(app.screen, CustomersScreen)
                and app.screen.context is not None
                and app.screen.context.proposal is not None
            ),
        )
        screen = app.screen
        assert screen.context.status == "Changes not submitted"
        assert [(x.field, x.original, x.proposed) for x in screen.context.proposal.lines] == [
            ("credit_limit", "0.00", "1234.50")
        ]
        await pilot.press("s")
        await settle(app, pilot, lambda: app.screen.context.status == "Changes pending approval")
    with store.read() as s:
        c = customers.get_customer(s, "C-000001")
    assert c.city == "Tacoma" and str(c.credit_limit) == "0.00"


@run_async
async def test_review_pane_approves_marked_lines(store, actor, clock):
    pending(store, actor, clock)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f10")
        await settle(app, pilot, lambda: isinstance(app.screen, ChangesScreen) and app.screen.view is not None)
        screen = app.screen
        assert screen.view.conflicts == 1
        screen.query_one("#chg-lines").focus()
        await pilot.press("space")  # the first line: name
        await pilot.press("o")  # apply marked lines: irreversible, so it asks with a one-line summary
        await settle(app, pilot, lambda: isinstance(app.screen, ConfirmDialog))
        assert "Apply 1 marked line(s)" in app.screen.summary and "reject the other" in app.screen.summary
        await pilot.press("ctrl+s")
        await settle(app, pilot, lambda: screen.view is None or screen.view.state != "Submitted")
    view = store.call(changes.show_proposal, actor("approver1"), "C-000002")
    assert view.state == "Partially approved"
    with store.read() as s:
        assert customers.get_customer(s, "C-000002").name == HOSTILE[0] + " Contoso"
