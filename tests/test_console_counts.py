"""'N of M' and tab counts of the list areas come from kept counters or a search's index."""

from __future__ import annotations

from app.tui import make_app
from screens.changes import ChangesScreen
from screens.customers import CustomersScreen
from screens.user_requests import UserRequestsScreen
from services import changes, counters, list_counts, user_requests
from tests.helpers import run_async, until
from tests.test_snapshots_changes import approvals

SIZE = (150, 40)


def test_list_counts_on_both_stores(any_store):
    from tests.conftest import actor_of

    a = actor_of(any_store)
    with any_store.read() as s:
        customers = counters.total(s, "customer")
    assert any_store.call(list_counts.customers, a("support1")) == customers > 1
    assert any_store.call(list_counts.customers, a("support1"), search="C-000001") == 1
    assert any_store.call(list_counts.customers, a("support1"), search="zzzz-nobody") == 0
    approvals(any_store, a, "name")
    any_store.call(changes.edit_customer, a("support1"), "C-000003", {"name": "Adventure Works Ltd"})
    any_store.call(changes.submit, a("support1"), "C-000003")
    kept = any_store.call(list_counts.proposals, a("approver1"))
    assert kept["All"] == 1 and kept["Submitted"] == 1 and kept["Approved"] == 0
    assert any_store.call(user_requests.count_by_status, a("approver1"))["All"] == 0


@run_async
async def test_customers_search_has_a_count_and_tabs_have_counts(store, actor):
    app = make_app(store, actor("admin1"))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f6")
        await until(app, pilot, lambda: isinstance(app.screen, CustomersScreen) and app.screen.counts, "customers")
        screen = app.screen
        assert screen.total() == len(screen.records) > 1
        screen.set_query(search="C-000002")
        await until(app, pilot, lambda: not screen._fetching and screen.counts == {"All": 1}, "search counted")
        assert "1 of 1" in str(screen.query_one("#list-info").render())
        await pilot.press("f4")
        await until(
            app, pilot, lambda: isinstance(app.screen, UserRequestsScreen) and app.screen.counts, "user requests"
        )
        assert app.screen.counts["All"] == 0 and "Pending approval" in app.screen.counts
        approvals(store, actor, "name")
        store.call(changes.edit_customer, actor("support1"), "C-000003", {"name": "Adventure Works Ltd"})
        store.call(changes.submit, actor("support1"), "C-000003")
        await pilot.press("f10")
        await until(
            app,
            pilot,
            lambda: isinstance(app.screen, ChangesScreen) and app.screen.counts.get("Submitted") == 1,
            "changes counted",
        )
        assert app.screen.counts["All"] == 1


@run_async
async def test_a_search_paints_its_page_before_its_counts_are_read_and_marks_the_old_ones(store, actor, monkeypatch):
    """Issue 8 (search at 1M): the count's statement ran beside the page's and delayed it. A new
    question reads its page alone; until its counts come, the total is "…" and the tabs are dimmed
    (the old question's counts are not shown as this one's), then both are right."""
    import threading

    from screens.registration import RegistrationScreen
    from tests.test_console_registration import load_requests

    load_requests(store, actor)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, RegistrationScreen)
        await until(
            app, pilot, lambda: bool(screen.counts) and not screen._fetching and screen.loaded > 1, "first page"
        )
        assert "… " not in str(screen.query_one("#list-info").render())
        page_gate, counted = threading.Event(), []
        fetch, fetch_counts = screen.fetch, screen.fetch_counts

        def slow_fetch(*args, **kwargs):
            page_gate.wait(10)
            return fetch(*args, **kwargs)

        def recorded_counts(search):
            counted.append((search, screen.loaded))
            return fetch_counts(search)

        monkeypatch.setattr(screen, "fetch", slow_fetch)
        monkeypatch.setattr(screen, "fetch_counts", recorded_counts)
        screen.set_query(search="REG-000002")
        await pilot.pause(0.3)
        assert counted == []  # not while the page is read
        info = str(screen.query_one("#list-info").render())
        assert " of …" in info and screen.total() is None
        tab = screen.query_one("#f-all")
        assert "dim" in str(tab._label.spans) or "dim" in str(tab.render())
        page_gate.set()
        await until(app, pilot, lambda: not screen._fetching and not screen.counts_stale, "searched and counted")
        assert counted and counted[0][0] == "REG-000002"
        assert screen.counts["All"] == 1 == screen.total()
        assert "1 of 1" in str(screen.query_one("#list-info").render())
        assert "dim" not in str(screen.query_one("#f-all")._label.spans)
