"""Demo cases (seed 002) and B2B partner prospects (seed 003), through the services.

``load_cases_and_prospects(store)`` adds cases in each status and prospects whose leads and
opportunities are in each state; it adds nothing when cases exist already.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from models.cases import Case
from services import cases, operators, prospects
from services.permissions import PORTAL, Actor

# (title, account, category, priority, contact, description, creator, final status)
CASES = [
    ("Special price for Q1 orders", "C-000001", "Special condition", "High", "Jo Buyer",
     "The customer asks for 5% off all Q1 orders above 10,000 USD.", "support1", "Open"),
    ("Switch to recycled packaging", "C-000002", "Product change", "Normal", "Pat Green",
     "Replace plastic wrap with recycled paper for all shipments.", "support1", "Pending Approval"),
    ("Extended payment terms", "C-000003", "Special condition", "Normal", "Lee Ortiz",
     "Net 60 instead of Net 30 for the summer season.", "sales1", "Approved"),
    ("Wrong labels on pallets", "C-000004", "Complaint", "High", "Uwe Brandt",
     "Labels printed in English instead of German.", "support1", "Resolved"),
    ("Discontinued part 4711", "C-000001", "Product change", "Low", "Jo Buyer",
     "Customer wants a replacement for the discontinued part.", "support1", "Rejected"),
    ("Rush delivery before fair", "C-000003", "Delivery", "High", "Lee Ortiz",
     "Deliver 40 units before the trade fair.", "sales1", "Closed/Completed"),
    ("[b]Bracket[/b] request [/x]", "C-000002", "Other", "Low", "[@click=app.quit]q[/]",
     "Customer text with markup: [red]not red[/red]", "support1", "Closed/Stopped"),
]

# (company, first, last, email, zip, store, url, final state)
PROSPECTS = [
    ("Tailwind Traders", "Ann", "Lee", "ann.lee@tailwind.example", "98052", "Tailwind Outdoor",
     "https://tailwind.example/shop", "Pending"),
    ("Wingtip Toys", "Ben", "Okafor", "ben@wingtip.example", "10001", "Wingtip Online", "https://wingtip.example",
     "Qualified"),
    ("Lamna Healthcare", "Cleo", "Park", "cleo.park@lamna.example", "60601", "", "", "Won"),
    ("Southridge Video", "Dan", "Moss", "dan@southridge.example", "73301", "Southridge Shop",
     "https://southridge.example", "Disqualified"),
    ("Relecloud", "Eva", "Lind", "eva@relecloud.example", "02139", "Relecloud Store", "https://relecloud.example",
     "Lost"),
]


def _actor(store: Any, user_name: str) -> Actor:
    with store.read() as s:
        return operators.resolve_actor(s, user_name)


def load_cases_and_prospects(store: Any) -> dict[str, int]:
    with store.read() as s:
        if s.exec(select(Case.id)).first() is not None:
            return {"cases": 0, "prospects": 0}
    support, sales, approver = _actor(store, "support1"), _actor(store, "sales1"), _actor(store, "approver1")
    for title, account, category, priority, contact, description, creator, final in CASES:
        who = sales if creator == "sales1" else support
        number = store.call(cases.create_case, who, {
            "title": title, "customer_account": account, "category": category, "priority": priority,
            "contact_name": contact, "description": description}).number
        if final == "Open":
            continue
        if final == "Closed/Stopped":
            store.call(cases.close, who, number, "stopped", "The customer no longer needs it.")
            continue
        if not who.sales_rep:
            store.call(cases.submit, who, number)
            if final == "Pending Approval":
                continue
            if final == "Rejected":
                store.call(cases.reject, approver, number, "Part 4711 has no successor.")
                continue
            store.call(cases.approve, approver, number)
        if final in ("Resolved", "Closed/Completed"):
            store.call(cases.resolve, who, number, "Done as requested.", "2026-11-01")
        if final == "Closed/Completed":
            store.call(cases.close, who, number, "completed", "Customer confirmed.")
    store.call(cases.add_sample, support, "CASE-000002",
               {"product": "Recycled wrap, 1 roll", "quantity": 1, "ship_to": "Contoso Retail Ltd, London"})
    for company, first, last, email, zip_, store_name, url, final in PROSPECTS:
        sub = store.call(prospects.submit, PORTAL, {
            "company": company, "first_name": first, "last_name": last, "email": email, "zip": zip_,
            "store_name": store_name, "store_url": url, "comments": f"{company} would like to resell our products."})
        if final == "Pending":
            continue
        if final == "Disqualified":
            store.call(prospects.disqualify, approver, sub.lead, "Not a reseller.")
            continue
        q = store.call(prospects.qualify, approver, sub.lead)
        if final == "Won":
            store.call(prospects.won, approver, q.opportunity)
        elif final == "Lost":
            store.call(prospects.lost, approver, q.opportunity, "Chose another supplier.")
    return {"cases": len(CASES), "prospects": len(PROSPECTS)}
