"""Prospects (F11) on the record browser: keyset pages past the old 500-row stop, in every sort,
searched and counted from the kept counters; the cursor kept across reloads; a burst key acting
on the highlighted row."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from sqlalchemy import insert, select, text, update
from sqlmodel import col

from app.tui import make_app
from models.core import NumberSequence
from models.customer import Customer
from models.prospects import Lead, Opportunity, Prospect
from screens.prospects import ProspectsScreen
from services import prospects
from services.errors import ValidationFailed
from services.permissions import PORTAL
from tests.conftest import actor_of
from tests.helpers import run_async, until

SIZE = (150, 40)
COMPANIES = ["Contoso", "Fabrikam", "Litware", "Northwind", "Tailspin", "Wingtip", "Adatum"]


def bulk(store, n: int, *, opportunities: int = 0) -> None:
    """``n`` prospects (each with its Open lead), the first ``opportunities`` leads qualified,
    in one transaction of plain INSERTs (the status counters follow through their triggers)."""
    at = datetime(2026, 11, 1, tzinfo=timezone.utc)
    with store.write() as s:
        start = (s.execute(select(Prospect.id).order_by(Prospect.id.desc()).limit(1)).scalar() or 0) + 1
        account, person = s.execute(select(Customer.id).order_by(Customer.id).limit(2)).scalars().all()
        s.execute(
            insert(Prospect),
            [
                {
                    "id": start + i,
                    "number": f"PRO-{start + i:06d}",
                    "status": "Pending",
                    "company": f"{COMPANIES[i % len(COMPANIES)]} {i}",
                    "company_normalized": f"{COMPANIES[i % 7].lower()} {i}",
                    "comments": "",
                    "first_name": "Pat",
                    "last_name": f"Buyer{i}",
                    "email": f"pat{start + i}@p.example",
                    "email_normalized": f"pat{start + i}@p.example",
                    "created_at": at,
                    "updated_at": at,
                }
                for i in range(n)
            ],
        )
        s.execute(
            insert(Lead),
            [
                {
                    "id": start + i,
                    "number": f"LEAD-{start + i:06d}",
                    "prospect_id": start + i,
                    "status": "Qualified" if i < opportunities else "Open",
                    "topic": f"Onboarding {i}",
                    "created_at": at,
                    "updated_at": at,
                }
                for i in range(n)
            ],
        )
        if opportunities:
            s.execute(
                insert(Opportunity),
                [
                    {
                        "id": start + i,
                        "number": f"OPP-{start + i:06d}",
                        "lead_id": start + i,
                        "status": "Open",
                        "topic": f"Onboarding {i}",
                        "account_id": account,
                        "contact_customer_id": person,
                        "created_at": at,
                        "updated_at": at,
                    }
                    for i in range(opportunities)
                ],
            )
        # the numbers and ids the services take next follow the rows inserted here
        s.execute(
            update(NumberSequence)
            .where(col(NumberSequence.code).in_(["prospect", "lead", "opportunity"]))
            .values(next_value=start + n)
        )
        if s.get_bind().dialect.name == "postgresql":
            for table in ("prospect", "lead", "opportunity"):
                s.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
                    )
                )


def walk(store, fn, **kwargs) -> list[str]:
    a = actor_of(store)("approver1")
    out, after, pages = [], None, 0
    while True:
        page = store.call(fn, a, after=after, limit=97, **kwargs)
        out += [r.number for r in page.rows]
        pages += 1
        after = page.after
        if after is None:
            return out
        assert pages < 100


@pytest.mark.parametrize("sort", ["number", "status", "company", "email"])
def test_prospect_pages_reach_every_row_once_in_order(any_store, sort):
    bulk(any_store, 650)
    any_store.call(prospects.disqualify, actor_of(any_store)("approver1"), "LEAD-000007", "not a reseller")
    a = actor_of(any_store)("approver1")
    column = prospects.pages.SORTS["prospects"][sort]
    for descending in (False, True):
        order = [column, Prospect.id] if sort != "number" else [column]
        with any_store.read() as s:  # one ORDER BY over the whole table, in the store's own collation
            expected = list(
                s.execute(
                    select(Prospect.number).order_by(*[c.desc() if descending else c.asc() for c in order])
                ).scalars()
            )
        assert walk(any_store, prospects.pages.page_prospects, sort=sort, descending=descending) == expected
    assert len(expected) == 650
    with pytest.raises(ValidationFailed):
        any_store.call(prospects.pages.page_prospects, a, sort="zip")


def test_lead_and_opportunity_pages_and_counts(any_store):
    bulk(any_store, 620, opportunities=560)
    assert walk(any_store, prospects.pages.page_leads) == [f"LEAD-{i:06d}" for i in range(620, 0, -1)]
    assert walk(any_store, prospects.pages.page_opportunities, descending=False) == [
        f"OPP-{i:06d}" for i in range(1, 561)
    ]
    a = actor_of(any_store)("approver1")
    assert any_store.call(prospects.pages.counts, a) == {"prospects": 620, "leads": 620, "opportunities": 560}
    # a search: a prospect's number finds it, its lead and its opportunity; a company word finds many
    assert any_store.call(prospects.pages.counts, a, search="PRO-000012") == {
        "prospects": 1,
        "leads": 1,
        "opportunities": 1,
    }
    assert [r.number for r in any_store.call(prospects.pages.page_leads, a, search="pro-000012").rows] == [
        "LEAD-000012"
    ]
    assert [r.number for r in any_store.call(prospects.pages.page_opportunities, a, search="LEAD-000013").rows] == [
        "OPP-000013"
    ]
    wingtip = any_store.call(prospects.pages.counts, a, search="wingtip")
    assert wingtip["prospects"] == len([i for i in range(620) if i % 7 == 5]) == wingtip["leads"]
    assert [r.number for r in any_store.call(prospects.pages.page_prospects, a, search="wingtip", limit=3).rows] == [
        "PRO-000615",
        "PRO-000608",
        "PRO-000601",
    ]


# ------------------------------------------------------------------ the screen


def screen(app) -> ProspectsScreen:
    return next(s for s in app.screen_stack if isinstance(s, ProspectsScreen))


def keys(app) -> list[str]:
    return [str(k.value) for k in screen(app).table.rows]


async def open_prospects(app, pilot) -> ProspectsScreen:
    await pilot.press("f11")
    await until(
        app,
        pilot,
        lambda: (
            isinstance(app.screen, ProspectsScreen)
            and not app.screen._fetching
            and app.screen.detail is not None
            and app.screen.counts
        ),
        "prospects",
    )
    return app.screen


@run_async
async def test_prospects_page_beyond_500_rows(store):
    bulk(store, 650)
    app = make_app(store, actor_of(store)("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        pr = await open_prospects(app, pilot)
        assert keys(app)[0] == "PRO-000650" and pr.total() == 650
        assert "650" in str(pr.query_one("#list-info").render())
        # scrolling down reads page after page, past the old stop at 500
        for _ in range(40):
            await pilot.press("pagedown")
            await until(app, pilot, lambda: not pr._fetching, "page")
            if pr.selected and int(pr.selected[4:]) < 100:
                break
        assert int(pr.selected[4:]) < 100, pr.selected
        assert len(pr.records) <= pr.PAGE_SIZE * pr.WINDOW_PAGES  # the window stays bounded
        # the end of the list is one key away
        await pilot.press("ctrl+end")
        await until(app, pilot, lambda: pr.selected == "PRO-000001", "the oldest prospect")
        # leads page the same way
        await pilot.press("2")
        await until(app, pilot, lambda: keys(app)[:1] == ["LEAD-000650"] and not pr._fetching, "leads")
        await pilot.press("ctrl+end")
        await until(app, pilot, lambda: pr.selected == "LEAD-000001", "the oldest lead")


@run_async
async def test_prospects_cursor_kept_across_reloads_and_changes(store):
    bulk(store, 120)
    app = make_app(store, actor_of(store)("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        pr = await open_prospects(app, pilot)
        await pilot.press("2")  # leads
        await until(app, pilot, lambda: keys(app)[:1] == ["LEAD-000120"] and pr.detail is not None, "leads")
        await pilot.press(*["down"] * 5)
        await until(app, pilot, lambda: pr.selected == "LEAD-000115" and pr.detail is not None, "cursor")
        await pilot.press("f5")
        await until(app, pilot, lambda: not pr._fetching, "reread")
        assert pr.selected == "LEAD-000115" and pr.table.key_at_cursor() == "LEAD-000115"
        # another operator qualifies a lead above the cursor: the list follows, the cursor stays
        store.call(prospects.qualify, actor_of(store)("approver2"), "LEAD-000118")
        pr.data_changed()
        await until(
            app, pilot, lambda: not pr._fetching and pr.records["LEAD-000118"].status == "Qualified", "change shown"
        )
        assert pr.table.key_at_cursor() == "LEAD-000115"
        # a new prospect arrives at the top: still on the same lead
        store.call(
            prospects.submit,
            PORTAL,
            {"company": "New Co", "first_name": "N", "last_name": "Ew", "email": "new@new.example"},
        )
        pr.data_changed()
        await until(app, pilot, lambda: not pr._fetching and keys(app)[0] == "LEAD-000121", "new lead")
        assert pr.table.key_at_cursor() == "LEAD-000115"
        # a search and back keeps it too
        pr.set_query(search="LEAD-000115")
        await until(app, pilot, lambda: not pr._fetching and keys(app) == ["LEAD-000115"], "searched")
        pr.set_query(search="")
        await until(app, pilot, lambda: not pr._fetching and len(keys(app)) > 1, "search cleared")
        assert pr.table.key_at_cursor() == "LEAD-000115"


@run_async
async def test_prospects_burst_key_acts_on_the_highlighted_row(store):
    bulk(store, 30)
    app = make_app(store, actor_of(store)("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        pr = await open_prospects(app, pilot)
        await pilot.press("2")
        await until(app, pilot, lambda: keys(app)[:1] == ["LEAD-000030"] and pr.detail is not None, "leads")
        # one burst: a reload in flight, Down and q handled before any answer arrives
        pr.reload(quiet=True)
        pr.table.action_cursor_down()
        pr.action_qualify()
        await until(app, pilot, lambda: lead_status(store, "LEAD-000029") == "Qualified", "lower lead qualified")
        await until(app, pilot, lambda: not pr._fetching, "settled")
        assert lead_status(store, "LEAD-000030") == "Open"
        assert pr.selected == "LEAD-000029"
        # with real keys, in the prospects tab (the row's own lead)
        await pilot.press("1")
        await until(app, pilot, lambda: keys(app)[:1] == ["PRO-000030"] and not pr._fetching, "prospects tab")
        at = keys(app).index(pr.selected)
        below = keys(app)[at + 1]
        await pilot.press("down", "q")
        await until(app, pilot, lambda: lead_status(store, "LEAD" + below[3:]) == "Qualified", "row below qualified")
        assert pr.selected == below


def lead_status(store, number: str) -> str:
    with store.read() as s:
        return s.execute(select(Lead.status).where(Lead.number == number)).scalar_one()
