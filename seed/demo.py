"""The demo set: operators, templates, roles, customers, and sign-up requests in every status.

Everything but the synthetic bulk requests goes through services, so the demo data has the
same audit trail, e-mails and numbers as real use. Loading twice adds nothing twice, and a
load that was cut short (killed) is finished by the next one: every step skips what is there
and takes each request on from the status it reached; the last step marks the set complete.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any, Callable

from sqlalchemy import insert
from sqlmodel import Session, select

from models.core import AuditEvent, Operator
from models.customer import CustomerTemplate, PortalRole
from models.signup import SignupRequest, SignupStatus
from services import customers, operators, sequences, signup
from services.permissions import PORTAL, SYSTEM, Actor
from services.store import Store, now
from services.text import normalize_company

OPERATORS = [
    ("approver1", "Alice Approver", "approver", None, False),
    ("approver2", "Bob Approver", "approver", None, False),
    ("support1", "Sam Support", "support", "Customer Service", False),
    ("admin1", "Ada Admin", "admin", None, False),
    ("sales1", "Sally Sales", "support", "Sales", True),
]

TEMPLATES = {
    "DOMESTIC": (
        "Domestic wholesale, net 30",
        {
            "customer_group": "10",
            "currency": "USD",
            "terms_of_payment": "Net30",
            "method_of_payment": "CHECK",
            "tax_group": "TAXABLE",
            "credit_limit": "10000.00",
            "mandatory_credit_limit": False,
            "credit_rating": "B",
        },
    ),
    "EXPORT": (
        "Export customers, wire transfer",
        {
            "customer_group": "20",
            "currency": "EUR",
            "terms_of_payment": "Net45",
            "method_of_payment": "WIRE",
            "tax_group": "EXEMPT",
            "credit_limit": "50000.00",
            "mandatory_credit_limit": True,
            "credit_rating": "A",
        },
    ),
    "RETAIL": (
        "Retail, cash on delivery",
        {
            "customer_group": "30",
            "currency": "USD",
            "terms_of_payment": "COD",
            "method_of_payment": "CASH",
            "tax_group": "TAXABLE",
            "credit_limit": "0.00",
            "mandatory_credit_limit": True,
        },
    ),
}

# what the Create new customer dialog and 'requests create' preselect (parameters, admin-set)
DEFAULT_TEMPLATE = "DOMESTIC"
DEFAULT_ROLE = "Customer self-service user"

ROLES = [
    ("Customer self-service user", "Places orders and sees invoices on the portal"),
    ("Customer administrator", "Manages the company's portal users"),
    ("Read-only viewer", "Sees orders and invoices only"),
]

CUSTOMERS = [
    {
        "name": "Fabrikam, Inc.",
        "email": "orders@fabrikam.example",
        "city": "Seattle",
        "country": "US",
        "customer_group": "10",
    },
    {
        "name": "Contoso Retail Ltd",
        "email": "ap@contoso-retail.example",
        "city": "London",
        "country": "GB",
        "customer_group": "30",
    },
    {
        "name": "Adventure Works",
        "email": "buying@adventure-works.example",
        "city": "Bothell",
        "country": "US",
        "customer_group": "10",
    },
    {
        "name": "Northwind Traders",
        "email": "purchasing@northwind.example",
        "city": "Hamburg",
        "country": "DE",
        "customer_group": "20",
        "currency": "EUR",
    },
]

# (company, first, last, email, user, city, country, final status)
REQUESTS = [
    ("Tailspin Toys", "Mia", "Nguyen", "mia.nguyen@tailspin.example", "mnguyen", "Portland", "US", "Requested"),
    ("Wide World Importers", "Luis", "Garcia", "luis@wideworld.example", "lgarcia", "Madrid", "ES", "Requested"),
    ("Litware, Inc.", "Grace", "Kim", "grace.kim@litware.example", "gkim", "Boston", "US", "Verified by user"),
    ("Proseware GmbH", "Jonas", "Weber", "j.weber@proseware.example", "jweber", "Munich", "DE", "Verified by user"),
    ("Fabrikam Inc", "Ravi", "Patel", "ravi.patel@fabrikam.example", "rpatel", "Seattle", "US", "Verified by user"),
    ("Blue Yonder Airlines", "Emma", "Brown", "emma@blueyonder.example", "ebrown", "Dallas", "US", "Approved"),
    ("Coho Winery", "Noah", "Lee", "noah@cohowinery.example", "nlee", "Napa", "US", "Approved"),
    ("Alpine Ski House", "Olga", "Svensson", "olga@alpineski.example", "osvensson", "Zermatt", "CH", "Created"),
    ("Margie's Travel", "Margie", "Shoop", "margie@margiestravel.example", "mshoop", "Miami", "US", "Rejected"),
    ("Trey Research", "Trey", "Hall", "orders@fabrikam.example", "thall", "Seattle", "US", "Verified by user"),
    (
        "[b]Bracket[/b] & Co [/x]",
        "Eve",
        "[@click=app.quit]q[/]",
        "eve@hostile.example",
        "eve.h",
        "Nowhere",
        "US",
        "Requested",
    ),
]


def _token_from_outbox(session: Session, number: str) -> str:
    """The demo plays the customer: it mints the link the verification mail carries when it is
    sent (no working token is ever stored; the mail itself then has nothing left to do)."""
    return signup.mint_verification_link(session, number)["token"]


def is_loaded(store: Store) -> bool:
    """Whether the demo set was loaded completely (a cut-short load is finished by ``load_base``)."""
    with store.read() as s:
        return (
            s.exec(
                select(AuditEvent.id).where(
                    AuditEvent.entity_type == "demo", AuditEvent.entity_key == "base", AuditEvent.action == "loaded"
                )
            ).first()
            is not None
        )


DEMO_PORTAL_URL = "http://127.0.0.1:8080"


def load_reference(store: Store) -> int:
    """Operators, templates, roles and a few customers: what every demo (and test) starts from.
    Skips what is there already; returns how many things it added."""
    added = 0
    with store.write() as s:
        sequences.ensure_defaults(s)
        have = set(s.exec(select(Operator.user_name)).all())
        for user, name, roles, profile, sales_rep in OPERATORS:
            if user not in have:
                operators.create_operator(
                    s, SYSTEM, user, name, roles, email=f"{user}@regdesk.example", profile=profile, sales_rep=sales_rep
                )
                added += 1
    with store.read() as s:
        templates = set(s.exec(select(CustomerTemplate.name)).all())
        role_names = set(s.exec(select(PortalRole.name)).all())
    for name, (description, values) in TEMPLATES.items():
        if name not in templates:
            store.call(customers.save_template, SYSTEM, name, values, description)
            added += 1
    for name, description in ROLES:
        if name not in role_names:
            store.call(customers.save_role, SYSTEM, name, description)
            added += 1
    with store.write() as s:
        from models.customer import Customer

        names = set(s.exec(select(Customer.name)).all())
        for customer in CUSTOMERS:
            if customer["name"] not in names:
                customers.new_customer(
                    s, SYSTEM, customers.validate_values(s, {"party_type": "Organization", **customer})
                )
                added += 1
    return added


_PATH = {"Requested": 0, "Verified by user": 1, "Approved": 2, "Created": 3, "Rejected": 2}


def _take_on(store: Store, approver: Actor, entry: tuple[str, ...]) -> bool:
    """Bring one demo request to its final status from wherever a cut-short load left it."""
    company, first, last, email, user, city, country, final = entry
    with store.read() as s:
        req = s.exec(
            select(SignupRequest).where(SignupRequest.user_name == user, SignupRequest.company == company)
        ).first()
    added = req is None
    if req is None:
        data = {
            "company": company,
            "first_name": first,
            "last_name": last,
            "email": email,
            "user_name": user,
            "phone": "+1 555 0100",
            "fax": "",
            "street": "1 Main Street",
            "city": city,
            "zip": "10001",
            "state": "",
            "county": "",
            "country": country,
            "language": "en-us",
        }
        number, status = store.call(signup.submit, PORTAL, data).number, "Requested"
    else:
        number, status = req.number, req.status
    if status == final or final == "Requested":
        return added
    if status == "Requested":
        with store.write() as s:
            raw = _token_from_outbox(s, number)
        store.call(signup.verify, raw)
        status, added = "Verified by user", True
    if final == "Rejected":
        if status != "Rejected":
            store.call(signup.reject, approver, number, "Travel agencies are served through our partner network.")
        return True
    if final == "Verified by user":
        return added
    if status == "Verified by user":
        store.call(signup.approve, approver, number)
        status, added = "Approved", True
    if final == "Created" and status == "Approved":
        store.call(
            signup.create_customer, approver, number, mode="new", template="EXPORT", role="Customer self-service user"
        )
        added = True
    return added


def load_base(store: Store) -> dict[str, Any]:
    """Load the fixed demo set unless it is there already (finishing a cut-short load).
    Returns what was added."""
    if is_loaded(store):
        return {"loaded": False}
    added = load_reference(store)
    from services import params

    with store.read() as s:
        preset = {k: params.get(s, k) for k in ("signup.default_template", "signup.default_role")}
    if preset["signup.default_template"] != DEFAULT_TEMPLATE:
        store.call(params.set_param, SYSTEM, "signup.default_template", DEFAULT_TEMPLATE)
    if preset["signup.default_role"] != DEFAULT_ROLE:
        store.call(params.set_param, SYSTEM, "signup.default_role", DEFAULT_ROLE)
    with store.write() as s:  # the mails' links open the local `regdesk serve` (README: Web pages)
        params.set_value(s, SYSTEM, "portal.url", DEMO_PORTAL_URL)
    from seed.workflows import load_default_workflows

    # before the requests, so the demo's created customer's user request enters the workflow
    added += sum(1 for v in load_default_workflows(store).values() if v.startswith("imported"))
    approver = operators_actor(store, "approver1")
    for entry in REQUESTS:
        added += _take_on(store, approver, entry)
    from seed.demo_b2b import load_cases_and_prospects

    added += sum(load_cases_and_prospects(store).values())
    from services import audit

    with store.write() as s:
        audit.record(s, SYSTEM, "demo", "base", "loaded", comment=f"demo set complete ({added} things added)")
    return {
        "loaded": added > 0,
        "operators": len(OPERATORS),
        "templates": len(TEMPLATES),
        "roles": len(ROLES),
        "customers": len(CUSTOMERS),
        "requests": len(REQUESTS),
    }


def operators_actor(store: Store, user_name: str) -> Actor:
    with store.read() as s:
        return operators.resolve_actor(s, user_name)


_FIRST = ["Ana", "Ben", "Chloe", "Dev", "Elif", "Finn", "Gita", "Hugo", "Ines", "Jack", "Kira", "Liam", "Mona", "Nils"]
_LAST = ["Smith", "Jones", "Garcia", "Muller", "Rossi", "Dubois", "Tanaka", "Kowalski", "Silva", "Novak", "Olsen"]
_WORDS = ["North", "Blue", "Summit", "River", "Cedar", "Atlas", "Nova", "Pioneer", "Harbor", "Vertex", "Maple", "Iron"]
_KINDS = ["Traders", "Supply", "Foods", "Logistics", "Systems", "Retail", "Works", "Partners", "Labs", "Outfitters"]
_STATUSES = [s.value for s in SignupStatus]


def add_synthetic(store: Store, count: int, *, seed: int = 7, progress: Callable[[int], None] | None = None) -> int:
    """Bulk-insert ``count`` plausible requests across every status (benchmarks, load tests)."""
    rng = random.Random(seed)
    chunk = 10_000
    done = 0
    while done < count:
        n = min(chunk, count - done)
        with store.write() as s:
            sequences.ensure_defaults(s)
            prefix, width, first = sequences.reserve_block(s, "signup", n)
            base = now(s)
            rows = []
            for i in range(n):
                value = first + i
                company = f"{rng.choice(_WORDS)} {rng.choice(_WORDS)} {rng.choice(_KINDS)} {value}"
                fn, ln = rng.choice(_FIRST), rng.choice(_LAST)
                email = f"{fn}.{ln}.{value}@example.com".lower()
                status = rng.choices(_STATUSES, weights=[30, 25, 15, 20, 10])[0]
                created = base - timedelta(minutes=rng.randint(0, 60 * 24 * 365))
                rows.append(
                    {
                        "number": sequences.format_number(prefix, width, value),
                        "created_at": created,
                        "updated_at": created,
                        "status": status,
                        "user_name": f"{fn}{ln}{value}".lower(),
                        "email": email,
                        "email_normalized": email,
                        "company": company,
                        "company_normalized": normalize_company(company),
                        "first_name": fn,
                        "last_name": ln,
                        "phone": "+1 555 0101",
                        "fax": "",
                        "street": f"{value} Market St",
                        "city": "Springfield",
                        "zip": "12345",
                        "state": "",
                        "county": "",
                        "country": rng.choice(["US", "DE", "GB", "FR"]),
                        "language": "en-us",
                        "customer_account": "",
                        "customer_created": status == "Created",
                        "created_customer_account": "",
                        "submitted_by": "portal",
                        "version": 1,
                    }
                )
            s.execute(insert(SignupRequest), rows)
        done += n
        if progress:
            progress(done)
    return done
