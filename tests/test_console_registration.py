"""The Registration screen driven from the keyboard (Textual Pilot), on a test database.

Waits are for workers and conditions (``settle``/``until``), never fixed sleeps.
"""

from __future__ import annotations

import pytest
from sqlmodel import select

from app.tui import make_app
from models.customer import Customer
from models.signup import SignupRequest
from screens.dialogs import CreateCustomerDialog, FieldError, HelpDialog, NewRequestDialog, RejectDialog
from screens.registration import PAGE_SIZE, RegistrationScreen
from screens.textual_compat import notifications, screen_text
from screens.widgets import RequestTable
from services import signup
from services.permissions import PORTAL
from services.text import strip_controls
from tests.conftest import HOSTILE
from tests.helpers import notes, run_async, until, workers_done
from tests.test_signup_services import GOOD, link_token

SIZE = (140, 40)


# ----------------------------------------------------------------------------- helpers


def load_requests(store, actor) -> dict[str, str]:
    """The demo requests (seed.demo.REQUESTS) in their final statuses, through the services."""
    from seed.demo import REQUESTS

    approver = actor("approver1")
    numbers = {}
    for company, first, last, email, user, city, country, final in REQUESTS:
        data = {
            "company": company,
            "first_name": first,
            "last_name": last,
            "email": email,
            "user_name": user,
            "phone": "+1 555 0100",
            "street": "1 Main Street",
            "city": city,
            "zip": "10001",
            "country": country,
            "language": "en-us",
        }
        number = store.call(signup.submit, PORTAL, data).number
        numbers[company] = number
        if final == "Requested":
            continue
        store.call(signup.verify, link_token(store, number))
        if final == "Rejected":
            store.call(signup.reject, approver, number, "Travel agencies are served through our partner network.")
            continue
        if final == "Verified by user":
            continue
        store.call(signup.approve, approver, number)
        if final == "Created":
            store.call(
                signup.create_customer,
                approver,
                number,
                mode="new",
                template="EXPORT",
                role="Customer self-service user",
            )
    return numbers


async def settle(app, pilot, rounds: int = 3) -> None:
    for _ in range(rounds):
        await workers_done(app)
        await pilot.pause()


async def type_text(pilot, text: str) -> None:
    await pilot.press(*["space" if ch == " " else ch for ch in text])


def set_create_defaults(store) -> None:
    """The demo's admin-set Create defaults (a domestic template, the self-service role)."""
    from seed.demo import DEFAULT_ROLE, DEFAULT_TEMPLATE
    from services import params
    from services.permissions import SYSTEM

    store.call(params.set_param, SYSTEM, "signup.default_template", DEFAULT_TEMPLATE)
    store.call(params.set_param, SYSTEM, "signup.default_role", DEFAULT_ROLE)


def status_of(store, number: str) -> str:
    with store.read() as s:
        return s.exec(select(SignupRequest.status).where(SignupRequest.number == number)).one()


def table(app) -> RequestTable:
    return app.screen.query_one(RequestTable)


def screen(app) -> RegistrationScreen:
    for s in app.screen_stack:
        if isinstance(s, RegistrationScreen):
            return s
    raise AssertionError("no Registration screen")


def cell_texts(app, column: str) -> list[str]:
    t = table(app)
    return [t.get_cell(row_key, column).plain for row_key in t.rows]


async def select_number(app, pilot, number: str) -> None:
    """Search for a request by its number, then wait until its detail is shown."""
    await pilot.press("slash")
    await type_text(pilot, number)
    await pilot.press("enter")
    await until(
        app,
        pilot,
        lambda: screen(app).detail is not None and screen(app).detail.number == number,
        f"detail of {number}",
    )


# ----------------------------------------------------------------------------- the process, by keyboard


@run_async
async def test_keyboard_flow_submit_verify_approve_create(store, actor):
    load_requests(store, actor)
    # support staff take a request on the phone
    app = make_app(store, actor("support1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        await until(app, pilot, lambda: isinstance(app.screen, NewRequestDialog), "new request dialog")
        fields = [
            ("Tailwind Traders", 1),
            ("Ann", 1),
            ("Lee", 1),
            ("ann.lee@tailwind.example", 1),
            ("alee", 1),
            ("+1 555 0100", 7),
            ("NO", 1),
        ]  # (text, tabs to the next field to fill)
        for text, tabs in fields:
            await type_text(pilot, text)
            await pilot.press(*["tab"] * tabs)
        await pilot.press("ctrl+s")
        await until(app, pilot, lambda: isinstance(app.screen, RegistrationScreen), "dialog closed")
        await until(app, pilot, lambda: screen(app).selected == "REG-000012", "new request selected")
        assert any("REG-000012 submitted" in n for n in notes(app))
        assert "REG-000012" in [str(k.value) for k in table(app).rows]
    assert status_of(store, "REG-000012") == "Requested"
    with store.read() as s:
        req = s.exec(select(SignupRequest).where(SignupRequest.number == "REG-000012")).one()
    assert req.submitted_by == "support1" and req.company == "Tailwind Traders" and req.country == "NO"

    # the customer clicks the link in the e-mail
    store.call(signup.verify, link_token(store, "REG-000012"))

    # the approver approves and creates the customer (with the demo's Create defaults set)
    set_create_defaults(store)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("3")  # Verified by user
        await until(
            app,
            pilot,
            lambda: (
                screen(app).query_state.status == "Verified by user"
                and "REG-000012" in [str(k.value) for k in table(app).rows]
            ),
            "verified filter",
        )
        await pilot.press("ctrl+end")
        await until(
            app,
            pilot,
            lambda: screen(app).detail is not None and screen(app).detail.number == "REG-000012",
            "detail of REG-000012",
        )
        assert "approve" in screen(app).detail.actions
        await pilot.press("a")
        await until(app, pilot, lambda: status_of(store, "REG-000012") == "Approved", "approved")
        await until(
            app,
            pilot,
            lambda: screen(app).detail is not None and screen(app).detail.status == "Approved",
            "detail reread",
        )
        await pilot.press("c")
        await until(app, pilot, lambda: isinstance(app.screen, CreateCustomerDialog), "create dialog")
        dialog = app.screen
        await until(app, pilot, lambda: dialog.preview is not None, "first preview")
        assert dialog.query_one("#f-template").value == "DOMESTIC"  # the admin-set default
        # choose another template from the keyboard: focus it, open, move from DOMESTIC to EXPORT, confirm
        dialog.query_one("#f-template").focus()
        await pilot.press("enter", "down", "enter")
        await until(
            app,
            pilot,
            lambda: dialog.preview is not None and dialog.preview.values.get("currency") == "EUR",
            "preview with the EXPORT template",
        )
        assert dialog.query_one("#f-currency").value == "EUR"
        assert not dialog.preview.errors
        await pilot.press("ctrl+s")
        await until(app, pilot, lambda: isinstance(app.screen, RegistrationScreen), "dialog closed")
        await until(app, pilot, lambda: status_of(store, "REG-000012") == "Created", "created")
        assert any("REG-000012: customer" in n and "created" in n for n in notes(app))
    with store.read() as s:
        req = s.exec(select(SignupRequest).where(SignupRequest.number == "REG-000012")).one()
        customer = s.exec(select(Customer).where(Customer.account == req.created_customer_account)).one()
    assert customer.name == "Tailwind Traders" and customer.currency == "EUR" and customer.customer_group == "20"


@run_async
async def test_create_dialog_shows_inline_errors_and_escape_cancels(store, actor):
    numbers = load_requests(store, actor)
    number = numbers["Blue Yonder Airlines"]
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await select_number(app, pilot, number)
        await pilot.press("c")
        await until(app, pilot, lambda: isinstance(app.screen, CreateCustomerDialog), "create dialog")
        dialog = app.screen
        await until(app, pilot, lambda: dialog.preview is not None, "preview")
        dialog.query_one("#f-currency").focus()
        await type_text(pilot, "EURO")
        # the preview follows the typing: wait for the error of the whole "EURO", not of "EU"
        error = dialog.query_one("#e-currency", FieldError)
        await until(
            app,
            pilot,
            lambda: "at most 3" in dialog.preview.errors.get("currency", "") and "at most 3" in error.render().plain,
            "currency error",
        )
        assert error.has_class("-visible")
        await pilot.press("ctrl+s")  # refused by the service: stays open, nothing created
        await settle(app, pilot)
        assert isinstance(app.screen, CreateCustomerDialog)
        await pilot.press("escape")
        await until(app, pilot, lambda: isinstance(app.screen, RegistrationScreen), "dialog closed")
    assert status_of(store, number) == "Approved"


@run_async
async def test_new_request_dialog_shows_validation_errors_per_field(store, actor):
    app = make_app(store, actor("support1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("n")
        await until(app, pilot, lambda: isinstance(app.screen, NewRequestDialog), "dialog")
        dialog = app.screen
        await type_text(pilot, "Acme")
        await pilot.press("tab", "tab", "tab")
        await type_text(pilot, "not-an-email")
        await pilot.press("ctrl+s")
        await until(app, pilot, lambda: dialog.query_one("#e-email", FieldError).has_class("-visible"), "inline errors")
        assert "required" in dialog.query_one("#e-first-name", FieldError).render().plain
        assert dialog.query_one("#e-country", FieldError).has_class("-visible")
        assert not dialog.query_one("#e-company", FieldError).has_class("-visible")
        assert isinstance(app.screen, NewRequestDialog)
    with store.read() as s:
        assert s.exec(select(SignupRequest)).first() is None


@run_async
async def test_reject_asks_for_a_reason(store, actor):
    numbers = load_requests(store, actor)
    number = numbers["Tailspin Toys"]
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await select_number(app, pilot, number)
        await pilot.press("r")
        await until(app, pilot, lambda: isinstance(app.screen, RejectDialog), "reject dialog")
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, RejectDialog)
        assert "reason is required" in app.screen.query_one("#e-reason", FieldError).render().plain
        await type_text(pilot, "Duplicate of an existing account")
        await pilot.press("enter")
        await until(app, pilot, lambda: status_of(store, number) == "Rejected", "rejected")
        await until(
            app,
            pilot,
            lambda: screen(app).detail is not None and screen(app).detail.status == "Rejected",
            "detail reread",
        )
        decision = screen(app).query_one("#detail-decision").render().plain
        assert "Duplicate of an existing account" in decision and "approver1" in decision


@run_async
async def test_refusals_are_messages_not_tracebacks(store, actor):
    numbers = load_requests(store, actor)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await select_number(app, pilot, numbers["Tailspin Toys"])  # Requested
        await pilot.press("a")
        await until(app, pilot, lambda: any("has not verified" in n for n in notes(app)), "refusal")
        await pilot.press("c")
        await until(app, pilot, lambda: any("must be approved" in n for n in notes(app)), "create refusal")
        assert not isinstance(app.screen, CreateCustomerDialog)
        await pilot.press("escape", "backspace", "ctrl+u")
        await select_number(app, pilot, numbers["Alpine Ski House"])  # Created
        await pilot.press("r")  # said at once, no reason dialog to fill first (tests/test_console_polish.py)
        await until(app, pilot, lambda: any("is done already" in n for n in notes(app)), "conflict")
        assert not isinstance(app.screen, RejectDialog)
        assert app.is_running
    assert status_of(store, numbers["Tailspin Toys"]) == "Requested"


@run_async
async def test_support_may_not_approve(store, actor):
    numbers = load_requests(store, actor)
    app = make_app(store, actor("support1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await select_number(app, pilot, numbers["Litware, Inc."])
        assert screen(app).detail.actions == []
        await pilot.press("a")
        await until(app, pilot, lambda: any("may not approve" in n for n in notes(app)), "permission refusal")
    assert status_of(store, numbers["Litware, Inc."]) == "Verified by user"


@run_async
async def test_unexpected_error_in_a_worker_is_a_notification(store, actor, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(signup, "count_by_status", boom)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await until(app, pilot, lambda: any("unexpected RuntimeError: disk on fire" in n for n in notes(app)), "error")
        assert app.is_running and isinstance(app.screen, RegistrationScreen)


# ----------------------------------------------------------------------------- list: filters, paging, search, sort


@run_async
async def test_filter_tabs_show_counts_and_switch_with_keys(store, actor):
    load_requests(store, actor)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await until(app, pilot, lambda: screen(app).counts != {}, "counts")
        labels = [str(tab.label) for tab in app.screen.query("Tab")]
        assert labels == [
            "All (11)",
            "Requested (3)",
            "Verified by user (4)",
            "Approved (2)",
            "Created (1)",
            "Rejected (1)",
        ]
        await pilot.press("2")
        await until(app, pilot, lambda: set(cell_texts(app, "status")) == {"Requested"}, "requested only")
        assert len(cell_texts(app, "status")) == 3
        assert screen(app).query_one("#list-info").render().plain.startswith("3 of 3")
        await pilot.press("6")
        await until(app, pilot, lambda: cell_texts(app, "status") == ["Rejected"], "rejected only")
        await pilot.press("1")
        await until(app, pilot, lambda: len(cell_texts(app, "status")) == 11, "all")


@run_async
async def test_status_line_counts_only_rows_that_still_match(store, actor):
    """An approved row stays in the "Verified by user" list until reread; the line must not say "4 of 3"."""
    load_requests(store, actor)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("3")  # Verified by user
        await until(
            app,
            pilot,
            lambda: (
                screen(app).query_state.status == "Verified by user"
                and screen(app).loaded == 4
                and screen(app).detail is not None
            ),
            "verified filter",
        )
        info = lambda: screen(app).query_one("#list-info").render().plain  # noqa: E731
        assert info().startswith("4 of 4") and "no longer" not in info()
        number = screen(app).selected
        await pilot.press("a")
        await until(
            app,
            pilot,
            lambda: (
                screen(app).detail is not None
                and screen(app).detail.status == "Approved"
                and screen(app).counts.get("Verified by user") == 3
            ),
            "approved, recounted",
        )
        assert number in table(app).rows  # still shown, with its new status
        assert info().startswith("3 of 3"), info()
        assert "+1 shown no longer Verified by user" in info()
        await pilot.press("f5")
        await until(app, pilot, lambda: screen(app).loaded == 3, "reread")
        assert info().startswith("3 of 3") and "no longer" not in info()


@run_async
async def test_list_pages_by_keyset_in_a_bounded_window(store, actor):
    """Scrolling reads one keyset page at a time and holds at most WINDOW_PAGES of them; ctrl+end is
    one query from the other end; scrolling back up reads the dropped pages again."""
    from seed.demo import add_synthetic

    total = 8 * PAGE_SIZE + 7
    add_synthetic(store, total)
    app = make_app(store, actor("approver1"))
    window = RegistrationScreen.WINDOW_PAGES * PAGE_SIZE
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert table(app).row_count == PAGE_SIZE  # one page, never everything
        assert screen(app).query_one("#list-info").render().plain.startswith(f"{PAGE_SIZE} of {total}")
        # to the end of the list by scrolling: never more than the window in memory
        seen: list[str] = []
        for _ in range(200):
            await pilot.press("pagedown")
            await settle(app, pilot, 1)
            assert table(app).row_count <= window + PAGE_SIZE
            seen.extend(str(k.value) for k in table(app).rows)
            if screen(app).after is None and table(app).cursor_row == table(app).row_count - 1:
                break
        numbers = [str(k.value) for k in table(app).rows]
        assert numbers == sorted(numbers) and numbers[-1] == f"REG-{total:06d}"
        assert len(set(seen)) == total  # every row was shown on the way
        assert screen(app).above  # the first pages were dropped
        # back to the top by scrolling up: the dropped pages are read again
        for _ in range(200):
            await pilot.press("pageup")
            await settle(app, pilot, 1)
            assert table(app).row_count <= window + PAGE_SIZE
            if not screen(app).above and table(app).cursor_row == 0:
                break
        assert str(next(iter(table(app).rows)).value) == "REG-000001"
        # ctrl+end: one query from the other end
        await pilot.press("ctrl+end")
        await until(app, pilot, lambda: screen(app).selected == f"REG-{total:06d}", "jumped to the end")
        assert table(app).row_count == PAGE_SIZE
        await pilot.press("ctrl+home")
        await until(app, pilot, lambda: screen(app).selected == "REG-000001", "back to the top")


@run_async
async def test_search_and_sort(store, actor):
    load_requests(store, actor)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("slash")
        await type_text(pilot, "fabrikam")  # company name or e-mail domain
        await until(
            app, pilot, lambda: cell_texts(app, "company") == ["Fabrikam Inc", "Trey Research"], "search result"
        )
        await until(
            app,
            pilot,
            lambda: (
                [str(tab.label) for tab in app.screen.query("Tab")][:3]
                == ["All (2)", "Requested (0)", "Verified by user (2)"]
            ),
            "counts follow the search",
        )
        await pilot.press("escape")
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert cell_texts(app, "company") == ["Fabrikam Inc", "Trey Research"]
        app.screen.query_one("#search").value = ""
        await until(app, pilot, lambda: len(cell_texts(app, "company")) == 11, "search cleared")
        table(app).focus()
        await pilot.press("s", "s")  # number -> created -> company
        await until(
            app,
            pilot,
            lambda: screen(app).query_state.sort == "company" and cell_texts(app, "company")[0] == "Alpine Ski House",
            "sorted by company",
        )
        ascending = cell_texts(app, "company")
        await pilot.press("S")
        await until(
            app,
            pilot,
            lambda: screen(app).query_state.descending and cell_texts(app, "company") == ascending[::-1],
            "reversed",
        )
        assert "▼" in str(table(app).columns["company"].label)


@run_async
async def test_detail_pane_shows_every_section_and_duplicate_hints(store, actor):
    numbers = load_requests(store, actor)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await select_number(app, pilot, numbers["Trey Research"])  # same e-mail as customer Fabrikam
        s = screen(app)
        rendered = {
            name: s.query_one(f"#detail-{name}").render().plain
            for name in ("request", "contact", "address", "decision", "duplicates", "history")
        }
        assert "thall" in rendered["request"] and "Verified by user" in rendered["request"]
        assert "orders@fabrikam.example" in rendered["contact"]
        assert "Seattle" in rendered["address"]
        assert "Verified at" in rendered["decision"]
        assert "Fabrikam, Inc." in rendered["duplicates"] and "same e-mail" in rendered["duplicates"]
        assert "submitted" in rendered["history"] and "verified" in rendered["history"]


@run_async
async def test_help_palette_commands_and_areas(store, actor):
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        for title in (
            "Go to Registration",
            "Approve",
            "Reject",
            "Create",
            "Activation URL",
            "New",
            "Reread",
            "Search",
            "Requested",
            "Help",
        ):
            assert title in titles
        await pilot.press("f1")
        await until(app, pilot, lambda: isinstance(app.screen, HelpDialog), "help")
        await pilot.press("escape")
        await until(app, pilot, lambda: isinstance(app.screen, RegistrationScreen), "help closed")
        assert app.current_mode == "registration"
        for binding in RegistrationScreen.BINDINGS:
            assert binding.id and binding.tooltip


# ----------------------------------------------------------------------------- untrusted text


@run_async
async def test_hostile_names_show_literally(store, actor):
    for i, hostile in enumerate(HOSTILE):
        store.call(
            signup.submit,
            PORTAL,
            {
                **GOOD,
                "company": hostile,
                "first_name": hostile,
                "last_name": hostile,
                "email": f"h{i}@hostile.example",
                "user_name": f"hostile{i}",
                "street": hostile,
                "city": hostile,
            },
        )
    expected = [strip_controls(h).strip() for h in HOSTILE]
    assert expected[3] == "red"  # the ESC sequence never reaches the database or the screen
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert cell_texts(app, "company") == expected
        # a cell wider than its column is cut and ends in "…"
        for shown, full in zip(cell_texts(app, "contact"), [f"{h} {h}" for h in expected]):
            assert shown == full or (shown.endswith("…") and full.startswith(shown[:-1])), (shown, full)
        for index, text in enumerate(expected):
            number = f"REG-{index + 1:06d}"
            table(app).move_cursor(row=index)
            await until(
                app,
                pilot,
                lambda: screen(app).detail is not None and screen(app).detail.number == number,
                f"detail of {number}",
            )
            contact = screen(app).query_one("#detail-contact").render().plain
            address = screen(app).query_one("#detail-address").render().plain
            assert text in contact and f"{text} {text}" in contact and text in address
            # the painted screen shows the characters themselves
            assert text in _screen_text(app)
        # reject with a hostile reason: shown literally, no crash, the app is still there
        await pilot.press("r")
        await until(app, pilot, lambda: isinstance(app.screen, RejectDialog), "reject dialog")
        await type_text(pilot, "[/x] [b]no[/b]")
        await pilot.press("enter")
        await until(
            app, pilot, lambda: screen(app).detail is not None and screen(app).detail.status == "Rejected", "rejected"
        )
        assert "[/x] [b]no[/b]" in screen(app).query_one("#detail-decision").render().plain
        assert app.is_running and app.return_value is None


def _screen_text(app) -> str:
    """The characters on the terminal, as painted."""
    return screen_text(app.screen)


@pytest.mark.parametrize("actor_name", ["approver1", "support1", "admin1"])
@run_async
async def test_every_staff_role_opens_the_screen(store, actor, actor_name):
    load_requests(store, actor)
    app = make_app(store, actor(actor_name))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert table(app).row_count == 11


# ----------------------------------------------------------------------------- opening the console


def test_console_fast_path_refuses_unknown_operator_like_the_cli(cli):
    from app.cli import _console_only

    result = cli(as_="nobody")
    assert result.code == 3 and "unknown operator 'nobody'" in result.err and "Traceback" not in result.err
    assert _console_only(["--as", "x", "--db", "y.db"]) == ("y.db", "x", None)
    assert _console_only(["--as=x"]) == (None, "x", None)
    assert _console_only(["--as=x", "--reason", "cover"]) == (None, "x", "cover")
    assert _console_only([]) == (None, None, None)
    for typer_args in (["--help"], ["requests", "list"], ["--as"], ["--as", "x", "--json"]):
        assert _console_only(typer_args) is None


# ----------------------------------------------------------------------------- workflow tick, app-wide


@run_async
async def test_console_runs_the_workflow_tick_in_a_worker(store, actor, monkeypatch):
    import threading

    from services import workflow

    real_tick = workflow.tick
    calls: list[tuple[str, bool]] = []

    def tick(session, who):
        calls.append((who.user_name, threading.current_thread() is threading.main_thread()))
        report = real_tick(session, who)  # the real one: any staff may run it
        return report.model_copy(update={"escalations": 2})

    monkeypatch.setattr(workflow, "tick", tick)
    app = make_app(store, actor("support1"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert any(t.name == "workflow tick" for t in app._timers)  # started with the store: every TICK_SECONDS
        app.action_workflow_tick()
        await settle(app, pilot)
        assert calls == [("support1", False)]  # the acting operator, never on the UI thread
        assert any("2 escalation(s)" in n for n in notes(app))

        def boom(session, who):
            raise RuntimeError("[b]tick[/b] failed")

        monkeypatch.setattr(workflow, "tick", boom)
        app.action_workflow_tick()
        await settle(app, pilot)
        failed = [n for n in notifications(app) if n.title == "Workflow tick"]
        assert failed and "[b]tick[/b] failed" in failed[-1].message and failed[-1].markup is False
        assert app.is_running  # an error is a notification, not a crash


def counts_shown(app) -> bool:
    """Every record browser on the screen stack (also one under a dialog) has its tab counts: they come
    from a worker after the first page, so a list that is empty at once is not yet a settled screen."""
    from screens.browser.screen import BrowserScreen

    return all(
        (screen.counts or len(screen.FILTERS) <= 1) and not screen.counts_stale
        for screen in app.screen_stack
        if isinstance(screen, BrowserScreen)
    )


def underlines_settled(app) -> bool:
    """Every tab bar's underline sits under its active tab: Textual moves it after the next refresh
    once a tab is relabelled (a count arrived), so a snapshot must wait for that refresh."""
    from textual.widgets import Tabs

    for screen in app.screen_stack:
        for tabs in screen.query(Tabs):
            active = tabs.active_tab
            if active is None or not active.region:
                continue
            start, end = active.virtual_region.shrink(active.styles.gutter).column_span
            underline = tabs.query_one("Underline")
            if (underline.highlight_start, underline.highlight_end) != (start, end):
                return False
    return True


def live_settled(run_before, app):
    """A snapshot's ``run_before`` that also waits for the app's first change-counter read (the header
    counts come with it) and for the tab counts of every list, so a snapshot never races a worker."""

    async def wrapped(pilot):
        await run_before(pilot)
        for _ in range(500):
            if getattr(app, "last_change", None) is not None and counts_shown(app):
                break
            await pilot.pause(0.02)
        await app.workers.wait_for_complete()
        await pilot.pause()
        for _ in range(500):
            if underlines_settled(app):
                break
            await pilot.pause(0.02)
        await frame_stable(app, pilot)

    return wrapped


async def frame_stable(app, pilot) -> None:
    """Wait until two frames 50 ms apart are the same: a relabelled tab is laid out again and its
    underline moved on later refreshes, which no worker or message queue reports."""
    before = app.export_screenshot()
    for _ in range(100):
        await pilot.pause(0.05)
        now = app.export_screenshot()
        if now == before:
            return
        before = now
