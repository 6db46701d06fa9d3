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
