"""Defects found by trying the console by hand (tmux, the demo set, two operators side by side),
each written as the keys an operator sent. See the trial's findings for what was seen."""

from __future__ import annotations

import pytest
from textual import events

from app.tui import make_app
from screens.dialogs import CreateCustomerDialog
from tests.helpers import notes, run_async, until
from tests.test_console_browser import reg, wait_for
from tests.test_console_registration import SIZE, load_requests, set_create_defaults, settle, status_of, table


async def verified_tab(app, pilot, rows: int = 4) -> list[str]:
    await settle(app, pilot)
    await pilot.press("3")  # Verified by user
    await until(
        app,
        pilot,
        lambda: (
            reg(app).query_state.status == "Verified by user"
            and table(app).row_count == rows
            and reg(app).detail is not None
        ),
        "verified filter",
    )
    return [str(k.value) for k in table(app).rows]


def burst(app, *keys: str) -> None:
    """Keys sent in one ``tmux send-keys``: all queued before the first is handled."""
    for key in keys:
        app.post_message(events.Key(key, key if len(key) == 1 else None))


@run_async
async def test_a_then_c_at_once_opens_the_create_dialog_for_the_approved_request(store, actor):
    """`a` then `c` (the issue's "approve + create is a, c, confirm"): `c` came while the approve
    was still running, read the detail loaded before it (Verified: nothing to create) and was
    refused "REG-…: nothing to create"; the dialog never opened."""
    load_requests(store, actor)
    set_create_defaults(store)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        keys = await verified_tab(app, pilot)
        first = keys[0]
        assert reg(app).selected == first
        burst(app, "a", "c")
        await until(app, pilot, lambda: isinstance(app.screen, CreateCustomerDialog), "the Create dialog")
        assert app.screen.number == first
        assert status_of(store, first) == "Approved"
        assert not [n for n in notes(app) if "nothing to create" in n or "must be approved" in n], notes(app)
        await until(app, pilot, lambda: app.screen.preview is not None and app.screen._ready, "dialog ready")
        await pilot.press("ctrl+s")
        await until(app, pilot, lambda: status_of(store, first) == "Created", "created")


@run_async
async def test_a_then_c_when_the_approve_is_refused_opens_nothing(store, actor):
    """The deferred `c` of the test above must not open a dialog when the approve is refused."""
    load_requests(store, actor)
    set_create_defaults(store)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        keys = await verified_tab(app, pilot)
        from services import signup

        store.call(signup.reject, actor("approver2"), keys[0], "not a business")  # someone else, meanwhile
        burst(app, "a", "c")
        # refusals fail their workers: wait without workers_done (it re-raises them)
        await wait_for(app, pilot, lambda: any("rejected by approver2" in n for n in notes(app)), "the refusal")
        await wait_for(app, pilot, lambda: not reg(app)._approving, "the approval returned")
        await wait_for(app, pilot, lambda: all(w.is_finished for w in app.workers), "idle")
        await pilot.pause()
        assert not isinstance(app.screen, CreateCustomerDialog)
        assert status_of(store, keys[0]) == "Rejected"


@pytest.mark.xfail(
    strict=True,
    reason="screens/browser/screen.py: BrowserScreen.on_worker_state_changed calls super() and Textual "
    "also dispatches ReportsWorkerErrors.on_worker_state_changed along the MRO: every refusal is notified twice",
)
@run_async
async def test_one_refusal_is_one_notification(store, actor):
    load_requests(store, actor)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        keys = await verified_tab(app, pilot)
        await pilot.press("c")  # Verified, not approved: refused
        await until(app, pilot, lambda: any("must be approved" in n for n in notes(app)), "the refusal")
        await settle(app, pilot)
        refusals = [n for n in notes(app) if keys[0] in n and "must be approved" in n]
        assert len(refusals) == 1, refusals


@pytest.mark.xfail(
    strict=True,
    reason="screens/browser/window.py: rows kept in place after an action ('+N shown no longer …') keep "
    "the record read before the action unless the cursor stays on them until their detail is read",
)
@run_async
async def test_rows_approved_in_a_burst_all_show_approved(store, actor):
    """`a Down a Down a` on Verified by user: all three are approved, the header says so, but the
    first two rows still read "Verified by user" (only the row under the cursor got its detail)."""
    load_requests(store, actor)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        keys = await verified_tab(app, pilot)
        burst(app, "a", "down", "a", "down", "a")
        await until(app, pilot, lambda: all(status_of(store, k) == "Approved" for k in keys[:3]), "three approved")
        await until(app, pilot, lambda: reg(app).counts.get("Verified by user") == 1, "counts follow")
        await settle(app, pilot)
        shown = {k: table(app).get_cell(k, "status").plain for k in keys[:3] if k in reg(app).records}
        assert shown == {k: "Approved" for k in keys[:3]}, shown
