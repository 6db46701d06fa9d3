"""Snapshot of the User requests screen with a provisioned request's detail (fixed clock and size)."""

from __future__ import annotations

from app.tui import make_app
from screens.user_requests import UserRequestsScreen
from services import user_requests
from tests.helpers import workers_done
from tests.portal_helpers import created_request
from tests.test_console_registration import live_settled


def test_user_request_detail(snap_compare, store, actor, clock):
    number = created_request(store)
    clock.advance(minutes=30)
    store.call(user_requests.approve, actor("approver2"), number, "contact confirmed by phone")
    app = make_app(store, actor("approver2"))

    async def run_before(pilot) -> None:
        await pilot.press("f4")
        for _ in range(200):
            await workers_done(app)
            screen = app.screen
            if (
                isinstance(screen, UserRequestsScreen)
                and screen.detail is not None
                and screen.detail.number == number
                and screen.counts
                and not screen._fetching
            ):
                break
            await pilot.pause(0.02)
        await workers_done(app)
        await pilot.pause()

    assert snap_compare(app, terminal_size=(160, 48), run_before=live_settled(run_before, app))
