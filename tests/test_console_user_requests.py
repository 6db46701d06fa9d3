"""The User requests and Outbox screens driven from the keyboard (Textual Pilot)."""

from __future__ import annotations

from sqlmodel import select

from app.tui import make_app
from models.core import OutboxEmail
from screens.dialogs import FormDialog
from screens.outbox import OutboxScreen
from screens.user_requests import UserRequestsScreen
from services import delivery, user_requests
from tests.helpers import notes, run_async, until
from tests.portal_helpers import created_request, ur_status
from tests.smtp_helpers import SmtpServer

SIZE = (150, 45)


def ur_screen(app) -> UserRequestsScreen:
    assert isinstance(app.screen, UserRequestsScreen), app.screen
    return app.screen


@run_async
async def test_process_by_hand_and_resolve_a_user_name_conflict(store, actor):
    first = created_request(store)
    store.call(user_requests.approve, actor("approver2"), first)
    second = created_request(store, email="x@other.example", company="Other [b]Co[/b]")
    app = make_app(store, actor("approver2"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await until(
            app,
            pilot,
            lambda: (
                isinstance(app.screen, UserRequestsScreen)
                and ur_screen(app).detail is not None
                and ur_screen(app).detail.number == second
            ),
            "detail",
        )
        await pilot.press("a")
        await until(app, pilot, lambda: ur_status(store, second) == "Approved", "approved")
        await until(app, pilot, lambda: any("taken by portal user alee" in n for n in notes(app)), "conflict shown")
        await until(
            app,
            pilot,
            lambda: (
                ur_screen(app).detail is not None
                and ur_screen(app).detail.status == "Approved"
                and ur_screen(app).detail.problem
            ),
            "problem in the detail",
        )
        problem = app.screen.query_one("#ur-detail-problem")
        assert problem.display and "taken by portal user alee" in str(problem.render())
        await pilot.press("u")
        await until(app, pilot, lambda: isinstance(app.screen, FormDialog), "user name dialog")
        await pilot.press("end", *["backspace"] * 10)
        for ch in "alee2":
            await pilot.press(ch)
        await pilot.press("enter")
        await until(
            app,
            pilot,
            lambda: isinstance(app.screen, UserRequestsScreen) and ur_screen(app).detail.user_name == "alee2",
            "user name changed",
        )
        await pilot.press("p")
        await until(app, pilot, lambda: ur_status(store, second) == "Pending completion", "provisioned")
        await until(app, pilot, lambda: ur_screen(app).detail.portal_user is not None, "portal user shown")
        # nothing to approve any more: the screen says why instead of calling the service
        await pilot.press("a")
        await until(app, pilot, lambda: any("provisioned already" in n for n in notes(app)), "refusal")


@run_async
async def test_status_filter(store, actor):
    done = created_request(store)
    store.call(user_requests.approve, actor("approver2"), done)
    waiting = created_request(store, email="x@other.example", company="Other Co", user_name="other")
    app = make_app(store, actor("support1"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f4")
        await until(
            app,
            pilot,
            lambda: (
                isinstance(app.screen, UserRequestsScreen) and app.screen.query_one("#user-requests").row_count == 2
            ),
            "all rows",
        )
        await pilot.press("3")  # Submitted
        await until(
            app,
            pilot,
            lambda: [str(k.value) for k in app.screen.query_one("#user-requests").rows] == [waiting],
            "submitted only",
        )
        await pilot.press("a")  # support may not process: the screen explains
        await until(app, pilot, lambda: any("may not" in n and "needs role" in n for n in notes(app)), "refusal")


@run_async
async def test_outbox_banner_and_retry(store, actor, clock):
    from services import signup
    from services.permissions import PORTAL
    from tests.portal_helpers import BASE

    store.call(signup.submit, PORTAL, BASE)  # a verification mail waits (its link is made when sent)
    smtp = SmtpServer().start()
    try:
        smtp.recorder.refuse = "550 5.1.1 no such user"
        with store.write() as s:
            from services import params

            params.set_value(s, actor("admin1"), "mail.max_attempts", 1)
        delivery.send_pending(store, smtp.settings())
    finally:
        smtp.stop()
    app = make_app(store, actor("admin1"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f8")
        await until(app, pilot, lambda: isinstance(app.screen, OutboxScreen) and app.screen.rows, "outbox rows")
        banner = app.screen.query_one("#ob-banner")
        assert banner.has_class("-visible") and "no SMTP server is configured" in str(banner.render())
        await pilot.press("4")  # dead
        await until(app, pilot, lambda: app.screen.status == "dead" and len(app.screen.rows) == 1, "dead filter")
        assert "550 5.1.1" in str(app.screen.query_one("#ob-error").render())
        assert "rdk_" not in str(app.screen.query_one("#ob-text").render())
        await pilot.press("t")
        await until(app, pilot, lambda: any("pending again" in n for n in notes(app)), "retried")
    with store.read() as s:
        assert s.exec(select(OutboxEmail.status)).all() == ["pending"]
