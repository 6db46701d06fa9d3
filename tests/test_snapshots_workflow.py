"""The My work inbox and the Workflows view: a snapshot (fixed clock and size) and the keys."""

from __future__ import annotations

from app.tui import make_app
from screens.dialogs import ConfirmDialog
from screens.my_work import MyWorkScreen, ResultsDialog
from screens.workflows import ImportDialog, WorkflowsScreen
from tests.helpers import run_async, workers_done
from tests.test_console_registration import live_settled
from tests.test_workflow_engine import REVIEW, STAMP, define, flow, registered, status, submit  # noqa: F401

TIMED = 'name = "Review"\nassignee = "role:approver"\ntime_limit_hours = 8\nreminder_hours = 4'


def inbox_data(store, clock) -> None:
    define(store, flow(TIMED, STAMP))
    submit(store, "D-100", amount=10)
    clock.advance(hours=2)
    submit(store, "D-200", amount=20)
    clock.advance(hours=7, minutes=30)
    submit(store, "[b]D-300[/b]", amount=30)  # hostile key: shown as data
    clock.advance(minutes=15)


async def open_inbox(app, pilot, count: int) -> MyWorkScreen:
    await pilot.press("f3")
    for _ in range(300):
        await workers_done(app)
        screen = app.screen
        if isinstance(screen, MyWorkScreen) and len(screen.rows) == count and screen.detail is not None:
            break
        await pilot.pause(0.02)
    await workers_done(app)
    await pilot.pause()
    return app.screen


def test_my_work_inbox(snap_compare, store, actor, clock):
    inbox_data(store, clock)
    app = make_app(store, actor("approver1"))

    async def run_before(pilot) -> None:
        await open_inbox(app, pilot, 3)

    assert snap_compare(app, terminal_size=(150, 36), run_before=live_settled(run_before, app))


@run_async
async def test_inbox_keys_approve_reject_bulk(store, actor, clock):
    inbox_data(store, clock)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=(150, 40)) as pilot:
        screen = await open_inbox(app, pilot, 3)
        assert list(screen.rows) == [str(i) for i in (1, 3, 5)]  # overdue D-100 first
        assert screen.rows["1"].overdue and not screen.rows["3"].overdue
        await pilot.press("a")  # approve D-100
        for _ in range(200):
            await workers_done(app)
            if len(screen.rows) == 2:
                break
            await pilot.pause(0.02)
        assert status(store, "D-100") == "approved"
        await pilot.press("r")
        await pilot.pause()
        await pilot.press("enter")  # empty reason: refused inline
        await pilot.pause()
        assert "a reason is required" in str(app.screen.query_one("#e-comment").render())
        await pilot.press(*"not ours", "enter")
        for _ in range(200):
            await workers_done(app)
            if len(screen.rows) == 1:
                break
            await pilot.pause(0.02)
        assert status(store, "D-200") == "rejected"
        # mark the last one and an item approver2 decides meanwhile: bulk reports both
        await pilot.press("space")
        await pilot.press("A")  # bulk: asks first, with a one-line summary
        for _ in range(200):
            await workers_done(app)
            if isinstance(app.screen, ConfirmDialog):
                break
            await pilot.pause(0.02)
        assert "Approve 1 item(s)" in app.screen.summary
        await pilot.press("ctrl+s")
        for _ in range(200):
            await workers_done(app)
            if isinstance(app.screen, ResultsDialog) or not screen.rows:
                break
            await pilot.pause(0.02)
        assert status(store, "[b]D-300[/b]") == "approved"


@run_async
async def test_workflows_view_import_refuses_bad_file_and_activates(store, actor, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(flow(REVIEW + '\npolicy = "most"'), encoding="utf-8")
    good = tmp_path / "good.toml"
    good.write_text(flow(REVIEW), encoding="utf-8")
    app = make_app(store, actor("admin1"))
    async with app.run_test(size=(150, 40)) as pilot:
        await pilot.press("f9")
        await workers_done(app)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, WorkflowsScreen) and screen.rows == {}
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, ImportDialog)
        app.screen.query_one("#f-path").value = str(bad)
        await pilot.press("enter")
        for _ in range(100):
            await workers_done(app)
            await pilot.pause(0.02)
            if "line 8" in str(app.screen.query_one("#e-file").render()):
                break
        assert "policy 'most'" in str(app.screen.query_one("#e-file").render())
        app.screen.query_one("#f-path").value = str(good)
        await pilot.press("enter")
        for _ in range(200):
            await workers_done(app)
            if app.screen is screen and screen.rows:
                break
            await pilot.pause(0.02)
        assert [d.active for d in screen.rows.values()] == [False]
        await pilot.press("a")
        for _ in range(200):
            await workers_done(app)
            if all(d.active for d in screen.rows.values()):
                break
            await pilot.pause(0.02)
        assert all(d.active for d in screen.rows.values())
