"""Demo cases (seed 002) and B2B partner prospects (seed 003), through the services.

``load_cases_and_prospects(store)`` adds cases in each status and prospects whose leads and
opportunities are in each state. A load that was cut short (killed) is finished by the next
one: each case and prospect is found (by title / e-mail) and taken on from the state it
reached, so nothing is added twice.
"""

from __future__ import annotations

from typing import Any, Callable

from sqlmodel import select

from models.cases import Case, SampleRequest
from models.prospects import Lead, Opportunity, Prospect
from services import cases, operators, prospects
from services.permissions import PORTAL, Actor

# (title, account, category, priority, contact, description, creator, final status)
CASES = [
    (
        "Special price for Q1 orders",
        "C-000001",
        "Special condition",
        "High",
        "Jo Buyer",
        "The customer asks for 5% off all Q1 orders above 10,000 USD.",
        "support1",
        "Open",
    ),
    (
        "Switch to recycled packaging",
        "C-000002",
        "Product change",
        "Normal",
        "Pat Green",
        "Replace plastic wrap with recycled paper for all shipments.",
        "support1",
        "Pending Approval",
    ),
    (
        "Extended payment terms",
        "C-000003",
        "Special condition",
        "Normal",
        "Lee Ortiz",
        "Net 60 instead of Net 30 for the summer season.",
        "sales1",
        "Approved",
    ),
    (
        "Wrong labels on pallets",
        "C-000004",
        "Complaint",
        "High",
        "Uwe Brandt",
        "Labels printed in English instead of German.",
        "support1",
        "Resolved",
    ),
    (
        "Discontinued part 4711",
        "C-000001",
        "Product change",
        "Low",
        "Jo Buyer",
        "Customer wants a replacement for the discontinued part.",
        "support1",
        "Rejected",
    ),
    (
        "Rush delivery before fair",
        "C-000003",
        "Delivery",
        "High",
        "Lee Ortiz",
        "Deliver 40 units before the trade fair.",
        "sales1",
        "Closed/Completed",
    ),
    (
        "[b]Bracket[/b] request [/x]",
        "C-000002",
        "Other",
        "Low",
        "[@click=app.quit]q[/]",
        "Customer text with markup: [red]not red[/red]",
        "support1",
        "Closed/Stopped",
    ),
]

# (company, first, last, email, zip, store, url, final state)
PROSPECTS = [
    (
        "Tailwind Traders",
        "Ann",
        "Lee",
        "ann.lee@tailwind.example",
        "98052",
        "Tailwind Outdoor",
        "https://tailwind.example/shop",
        "Pending",
    ),
    (
        "Wingtip Toys",
        "Ben",
        "Okafor",
        "ben@wingtip.example",
        "10001",
        "Wingtip Online",
        "https://wingtip.example",
        "Qualified",
    ),
    ("Lamna Healthcare", "Cleo", "Park", "cleo.park@lamna.example", "60601", "", "", "Won"),
    (
        "Southridge Video",
        "Dan",
        "Moss",
        "dan@southridge.example",
        "73301",
        "Southridge Shop",
        "https://southridge.example",
        "Disqualified",
    ),
    (
        "Relecloud",
        "Eva",
        "Lind",
        "eva@relecloud.example",
        "02139",
        "Relecloud Store",
        "https://relecloud.example",
        "Lost",
    ),
]


def _actor(store: Any, user_name: str) -> Actor:
    with store.read() as s:
        return operators.resolve_actor(s, user_name)


def _take_on_case(store: Any, who: Actor, approver: Actor, entry: tuple[str, ...]) -> int:
    """Bring one demo case to its final status from wherever a cut-short load left it; the
    number of service calls it made."""
    title, account, category, priority, contact, description, creator, final = entry
    with store.read() as s:
        case = s.exec(select(Case).where(Case.title == title, Case.created_by == creator)).first()
    done = 0
    if case is None:
        view = store.call(
            cases.create_case,
            who,
            {
                "title": title,
                "customer_account": account,
                "category": category,
                "priority": priority,
                "contact_name": contact,
                "description": description,
            },
        )
        number, status, done = view.number, view.status, 1
    else:
        number, status = case.number, case.status

    def step(fn: Callable[..., object], *args: object) -> str:
        nonlocal done
        done += 1
        store.call(fn, *args)
        with store.read() as s:
            return str(s.exec(select(Case.status).where(Case.number == number)).one())

    if final == "Open" or status == final:
        return done
    if final == "Closed/Stopped":
        step(cases.close, who, number, "stopped", "The customer no longer needs it.")
        return done
    if status == "Open" and not who.sales_rep:
        status = step(cases.submit, who, number)
    if final == "Pending Approval":
        return done
    if status == "Pending Approval":
        if final == "Rejected":
            step(cases.reject, approver, number, "Part 4711 has no successor.")
            return done
        status = step(cases.approve, approver, number)
    if final in ("Resolved", "Closed/Completed") and status == "Approved":
        status = step(cases.resolve, who, number, "Done as requested.", "2026-11-01")
    if final == "Closed/Completed" and status == "Resolved":
        step(cases.close, who, number, "completed", "Customer confirmed.")
    return done


def _take_on_prospect(store: Any, approver: Actor, entry: tuple[str, ...]) -> int:
    """Bring one demo prospect (its lead, its opportunity) to its final state from wherever a
    cut-short load left it; the number of service calls it made."""
    company, first, last, email, zip_, store_name, url, final = entry
    with store.read() as s:
        prospect = s.exec(
            select(Prospect).where(Prospect.email_normalized == email.lower(), Prospect.company == company)
        ).first()
        lead = s.exec(select(Lead).where(Lead.prospect_id == prospect.id)).first() if prospect else None
        opportunity = s.exec(select(Opportunity).where(Opportunity.lead_id == lead.id)).first() if lead else None
    done = 0
    if lead is None:
        sub = store.call(
            prospects.submit,
            PORTAL,
            {
                "company": company,
                "first_name": first,
                "last_name": last,
                "email": email,
                "zip": zip_,
                "store_name": store_name,
                "store_url": url,
                "comments": f"{company} would like to resell our products.",
            },
        )
        lead_number, lead_status, done = sub.lead, "Open", 1
    else:
        lead_number, lead_status = lead.number, lead.status
    if final == "Pending":
        return done
    if final == "Disqualified":
        if lead_status == "Open":
            store.call(prospects.disqualify, approver, lead_number, "Not a reseller.")
            done += 1
        return done
    if lead_status == "Open":
        opportunity_number, opportunity_status = (
            store.call(prospects.qualify, approver, lead_number).opportunity,
            "Open",
        )
        done += 1
    elif opportunity is not None:
        opportunity_number, opportunity_status = opportunity.number, opportunity.status
    else:  # pragma: no cover - a qualified lead always has its opportunity (one transaction)
        return done
    if opportunity_status == "Open" and final == "Won":
        store.call(prospects.won, approver, opportunity_number)
        done += 1
    elif opportunity_status == "Open" and final == "Lost":
        store.call(prospects.lost, approver, opportunity_number, "Chose another supplier.")
        done += 1
    return done


def load_cases_and_prospects(store: Any) -> dict[str, int]:
    """Every demo case, its sample and every prospect in its final state; what a cut-short load
    left is taken on from where it stopped (nothing is added twice). Returns the service calls
    made per kind (0, 0 when everything was there)."""
    support, sales, approver = _actor(store, "support1"), _actor(store, "sales1"), _actor(store, "approver1")
    made = {"cases": 0, "prospects": 0}
    for entry in CASES:
        made["cases"] += _take_on_case(store, sales if entry[6] == "sales1" else support, approver, entry)
    sample_case = CASES[1]  # "Switch to recycled packaging" gets a sample
    with store.read() as s:
        case = s.exec(select(Case).where(Case.title == sample_case[0], Case.created_by == sample_case[6])).one()
        has_sample = s.exec(select(SampleRequest.id).where(SampleRequest.case_id == case.id)).first() is not None
    if not has_sample:
        store.call(
            cases.add_sample,
            support,
            case.number,
            {"product": "Recycled wrap, 1 roll", "quantity": 1, "ship_to": "Contoso Retail Ltd, London"},
        )
        made["cases"] += 1
    for entry in PROSPECTS:
        made["prospects"] += _take_on_prospect(store, approver, entry)
    return made
