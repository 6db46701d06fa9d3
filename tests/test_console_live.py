"""PostgreSQL: a change committed by another connection reaches an open console without a key
press, woken by NOTIFY (services.changefeed) long before the next poll of the change counter."""

from __future__ import annotations

from app.tui import make_app
from screens.registration import RegistrationScreen
from services import changefeed, signup
from tests.conftest import actor_of
from tests.helpers import run_async, until
from tests.test_console_registration import load_requests

SIZE = (150, 40)


@run_async
async def test_notify_wakes_an_open_console_before_the_poll(pg_store):
    actor = actor_of(pg_store)
    load_requests(pg_store, actor)
    app = make_app(pg_store, actor("approver1"))
    app.LIVE_SECONDS = 3600.0  # the poll would come in an hour: only NOTIFY can bring the change now
    wakes: list[str] = []
    poll = app._poll_changes

    def counted() -> None:
        wakes.append("read")
        poll()

    app._poll_changes = counted  # type: ignore[method-assign]
    async with app.run_test(size=SIZE) as pilot:
        reg = app.screen
        assert isinstance(reg, RegistrationScreen)
        await pilot.press("3")  # Verified by user
        await until(
            app,
            pilot,
            lambda: reg.query_state.status == "Verified by user" and reg.table.row_count == 4 and not reg._fetching,
            "verified filter",
        )
        await until(
            app,
            pilot,
            lambda: app.last_change is not None and app._listener is not None and app._listener.listening,
            "listening",
        )
        before = len(wakes)
        keys = [str(k.value) for k in reg.table.rows]
        # approver2, on a connection of its own (the CLI, another console): committed, then nothing pressed
        pg_store.call(signup.approve, actor("approver2"), keys[0])
        latest = pg_store.call(changefeed.latest_change, None)
        await until(
            app, pilot, lambda: keys[0] not in [str(k.value) for k in reg.table.rows], "row left the filter", seconds=10
        )
        assert app.last_change == latest
        assert len(wakes) > before  # woken by the listener, not by the (hour-long) interval
        await until(app, pilot, lambda: reg.counts.get("Verified by user") == 3, "counts follow", seconds=10)


@run_async
async def test_sqlite_file_watch_wakes_an_open_console_before_the_poll(store):
    actor = actor_of(store)
    load_requests(store, actor)
    app = make_app(store, actor("approver1"))
    app.LIVE_SECONDS = 3600.0  # only the file watch can bring the change now
    async with app.run_test(size=SIZE) as pilot:
        reg = app.screen
        await pilot.press("3")
        await until(
            app,
            pilot,
            lambda: (
                reg.query_state.status == "Verified by user"
                and reg.table.row_count == 4
                and not reg._fetching
                and app.last_change is not None
            ),
            "verified filter",
        )
        keys = [str(k.value) for k in reg.table.rows]
        store.call(signup.approve, actor("approver2"), keys[0])  # another connection (the CLI, another console)
        await until(
            app, pilot, lambda: keys[0] not in [str(k.value) for k in reg.table.rows], "row left the filter", seconds=10
        )
        assert app.last_change == store.call(changefeed.latest_change, None)


@run_async
async def test_own_action_is_reread_once_not_again_by_the_live_signal(store):
    from tests.test_console_registration import status_of

    actor = actor_of(store)
    load_requests(store, actor)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        reg = app.screen
        await pilot.press("3")
        await until(
            app,
            pilot,
            lambda: (
                reg.query_state.status == "Verified by user"
                and reg.table.row_count == 4
                and not reg._fetching
                and app.last_change is not None
                and reg.detail is not None
            ),
            "verified",
        )
        number, gen = reg.table.key_at_cursor(), reg.generation
        await pilot.press("a")
        await until(
            app,
            pilot,
            lambda: (
                status_of(store, number) == "Approved"
                and not reg._fetching
                and app.last_change == store.call(changefeed.latest_change, None)
            ),
            "approved, change seen",
        )
        await pilot.pause(0.3)  # the file watch and the poll have looked meanwhile
        await until(app, pilot, lambda: not reg._fetching, "settled")
        assert reg.generation == gen + 1  # the action's own reread, no second one for the same change
        # someone else's change is still reread
        other = [str(k.value) for k in reg.table.rows if str(k.value) != number][0]
        store.call(signup.approve, actor("approver2"), other)
        await until(app, pilot, lambda: other not in [str(k.value) for k in reg.table.rows], "other's change shown")


async def _verified_tab(app, pilot):
    """Registration on "Verified by user" with the change counter read: (screen, row keys)."""
    reg = app.screen
    await pilot.press("3")
    await until(
        app,
        pilot,
        lambda: (
            reg.query_state.status == "Verified by user"
            and reg.table.row_count == 4
            and not reg._fetching
            and app.last_change is not None
        ),
        "verified",
    )
    return reg, [str(k.value) for k in reg.table.rows]


async def _meanwhile(pilot, condition, what: str, seconds: float = 20.0) -> None:
    """Wait for ``condition`` while a worker is still blocked (``until`` waits for workers first)."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


@run_async
async def test_a_live_change_during_an_action_is_read_once_by_the_actions_own_reread(store):
    """The live signal can see the action's commit before ActionDone arrives (a busy machine):
    the screen must not read the window for it and then again after the action."""
    import threading

    actor = actor_of(store)
    load_requests(store, actor)
    app = make_app(store, actor("approver1"))
    app.LIVE_SECONDS = 3600.0
    async with app.run_test(size=SIZE) as pilot:
        reg, keys = await _verified_tab(app, pilot)
        number, gen = keys[0], reg.generation
        committed, release = threading.Event(), threading.Event()

        def approve_then_stall() -> str:
            store.call(signup.approve, actor("approver1"), number)
            committed.set()
            release.wait(10)  # ActionDone is not posted yet: the live signal gets there first
            return "approved"

        reg.act(number, approve_then_stall)
        await _meanwhile(pilot, committed.is_set, "committed")
        app._poll_changes()  # the live signal reads the change counter now, mid-action
        await _meanwhile(pilot, lambda: app.last_change == store.call(changefeed.latest_change, None), "change seen")
        await _meanwhile(pilot, lambda: not reg._fetching, "no reread running")
        release.set()
        await _meanwhile(pilot, lambda: not [w for w in app.workers if w.group == "browser.action"], "action ended")
        await until(app, pilot, lambda: not reg._fetching and reg.generation > gen, "action reread")
        await pilot.pause(0.2)
        await until(app, pilot, lambda: not reg._fetching, "settled")
        assert reg.generation == gen + 1  # one reread, the action's own
        assert reg.counts.get("Verified by user") == 3  # and it shows the approval


@run_async
async def test_a_live_change_during_a_refused_action_is_still_shown(store):
    """The refused action rereads nothing itself; a change that arrived meanwhile is read when it ends."""
    import threading

    from services.errors import Conflict

    actor = actor_of(store)
    load_requests(store, actor)
    app = make_app(store, actor("approver1"))
    app.LIVE_SECONDS = 3600.0
    async with app.run_test(size=SIZE) as pilot:
        reg, keys = await _verified_tab(app, pilot)
        other = keys[1]
        changed, release = threading.Event(), threading.Event()

        def refused() -> str:
            store.call(signup.approve, actor("approver2"), other)  # someone else, meanwhile
            changed.set()
            release.wait(10)
            raise Conflict("already approved by approver2")

        reg.act(keys[0], refused)
        await _meanwhile(pilot, changed.is_set, "other change committed")
        app._poll_changes()
        await _meanwhile(pilot, lambda: app.last_change == store.call(changefeed.latest_change, None), "change seen")
        await _meanwhile(pilot, lambda: not reg._fetching, "no reread running")
        release.set()
        await _meanwhile(pilot, lambda: other not in [str(k.value) for k in reg.table.rows], "other's change shown")
