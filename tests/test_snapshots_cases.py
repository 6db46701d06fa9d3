"""The Cases and Prospects areas: snapshots at a fixed size with deterministic data (the
``clock`` fixture), and the keys driven through Pilot."""

from __future__ import annotations

from sqlmodel import select
from textual.widgets import Input

from app.tui import make_app
from models.cases import Case
from models.core import OutboxEmail
from models.prospects import Prospect
from screens.cases import CasesScreen, FormDialog
from screens.prospects import EmailChoiceDialog, ProspectsScreen
from services import cases, customers, prospects
from services.permissions import PORTAL, SYSTEM
from tests.conftest import actor_of
from tests.helpers import notes, run_async, until
from tests.test_console_registration import live_settled

SIZE = (150, 45)
FORM = {
    "company": "Tailwind Traders",
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "ann@tailwind.example",
    "zip": "98052",
    "store_name": "Tailwind Outdoor",
    "store_url": "https://tailwind.example",
    "comments": "[b]bold?[/b] [@click=app.quit]q[/]",
}


def seed_cases(store) -> str:
    support = actor_of(store)("support1")
    a = store.call(
        cases.create_case,
        support,
        {
            "title": "Special price for Q1 [b]orders[/b]",
            "customer_account": "C-000001",
            "category": "Special condition",
            "priority": "High",
            "contact_name": "Jo Buyer",
            "contact_email": "jo@fabrikam.example",
            "contact_phone": "+1 555 0199",
            "description": "5% off all Q1 orders.\n[@click=app.quit]q[/]",
        },
    ).number
    store.call(cases.submit, support, a)
    store.call(cases.approve, actor_of(store)("approver1"), a)
    store.call(cases.resolve, support, a, "Discount granted", "2026-11-02")
    store.call(cases.create_case, actor_of(store)("sales1"), {"title": "Net 60", "customer_account": "C-000003"})
    return a


def seed_prospects(store) -> None:
    a = actor_of(store)("approver1")
    q = store.call(prospects.qualify, a, store.call(prospects.submit, PORTAL, FORM).lead)
    store.call(prospects.won, a, q.opportunity)
    store.call(
        prospects.submit,
        PORTAL,
        {**FORM, "company": "Wingtip Toys", "email": "ben@wingtip.example", "first_name": "Ben", "last_name": "Okafor"},
    )


def cases_app(store, who="support1"):
    return make_app(store, actor_of(store)(who))


def test_snapshot_case_form(store, clock, snap_compare):
    seed_cases(store)
    app = cases_app(store)

    async def run_before(pilot):
        await pilot.press("f7")
        await until(
            app,
            pilot,
            lambda: (
                isinstance(app.screen, CasesScreen)
                and app.screen.detail is not None
                and app.screen.detail.number == "CASE-000002"
            ),
            "list",
        )
        await pilot.press("down")
        await until(
            app, pilot, lambda: app.screen.detail is not None and app.screen.detail.number == "CASE-000001", "case form"
        )
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=live_settled(run_before, app))


def test_snapshot_prospects_area(store, clock, snap_compare):
    seed_prospects(store)
    app = cases_app(store, "approver1")

    async def run_before(pilot):
        await pilot.press("f11")
        await until(
            app,
            pilot,
            lambda: (
                isinstance(app.screen, ProspectsScreen)
                and app.screen.detail is not None
                and not app.screen._fetching
                and app.screen.counts
            ),
            "prospects",
        )
        for widget in app.screen.query(Input):
            widget.cursor_blink = False
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=live_settled(run_before, app))


@run_async
async def test_case_keys_new_submit_approve(store, clock):
    app = cases_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f7")
        await until(app, pilot, lambda: isinstance(app.screen, CasesScreen), "cases screen")
        await pilot.press("n")
        await until(app, pilot, lambda: isinstance(app.screen, FormDialog), "new dialog")
        app.screen.query_one("#fd-title").value = "Bigger pallets"
        app.screen.query_one("#fd-customer_account").value = "C-000002"
        await pilot.press("ctrl+s")
        await until(
            app,
            pilot,
            lambda: (
                isinstance(app.screen, CasesScreen)
                and app.screen.detail is not None
                and app.screen.detail.title == "Bigger pallets"
            ),
            "created",
        )
        await pilot.press("w")
        await until(
            app,
            pilot,
            lambda: app.screen.detail is not None and app.screen.detail.status == "Pending Approval",
            "submitted",
        )
        await pilot.press("a")  # support1 may not approve: a notification, no crash
        await until(app, pilot, lambda: any("approve or reject" in n for n in notes(app)), "refused")
    with store.read() as s:
        assert s.exec(select(Case.status)).one() == "Pending Approval"


@run_async
async def test_prospect_keys_qualify_with_shared_email_and_disqualify(store, clock):
    with store.write() as s:
        customers.add_contact(
            s,
            SYSTEM,
            customers.get_customer(s, "C-000001"),
            first_name="Ann",
            last_name="Lee",
            email="ann@tailwind.example",
        )
    store.call(prospects.submit, PORTAL, FORM)
    other = store.call(prospects.submit, PORTAL, {**FORM, "email": "zed@x.example", "company": "Zed"})
    app = cases_app(store, "approver1")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f11")
        await until(
            app, pilot, lambda: isinstance(app.screen, ProspectsScreen) and app.screen.detail is not None, "prospects"
        )
        await pilot.press("down")  # the older one: Ann's request
        await until(app, pilot, lambda: getattr(app.screen.detail, "number", None) == "PRO-000001", "ann")
        await pilot.press("q")
        await until(app, pilot, lambda: isinstance(app.screen, EmailChoiceDialog), "choice")
        await pilot.click("#ec-shared")
        await until(
            app,
            pilot,
            lambda: (
                isinstance(app.screen, ProspectsScreen)
                and getattr(app.screen.detail, "lead_status", None) == "Qualified"
            ),
            "qualified",
        )
        await pilot.press("up")
        await until(app, pilot, lambda: getattr(app.screen.detail, "number", None) == other.number, "other")
        await pilot.press("d")
        await until(app, pilot, lambda: isinstance(app.screen, FormDialog), "reason dialog")
        app.screen.query_one("#fd-reason").value = "not a reseller"
        await pilot.press("enter")
        await until(
            app,
            pilot,
            lambda: (
                isinstance(app.screen, ProspectsScreen) and getattr(app.screen.detail, "status", None) == "Rejected"
            ),
            "rejected",
        )
    with store.read() as s:
        assert s.exec(select(Prospect.status).where(Prospect.number == other.number)).one() == "Rejected"
        assert s.exec(select(OutboxEmail.template).where(OutboxEmail.entity_key == other.number)).all() == [
            "prospect_declined"
        ]
