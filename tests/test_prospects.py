"""B2B partner onboarding (seed 003): every transition and refusal, the hierarchy on Won,
a second admin, the shared e-mail caught at qualification, both decline paths and their e-mails."""

from __future__ import annotations

import pytest
from sqlmodel import select

from models.core import AuditEvent, OutboxEmail
from models.customer import ContactPerson, Customer
from models.prospects import Lead, Opportunity, Prospect
from models.signup import UserRequest
from services import customers, prospects
from services.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from services.permissions import PORTAL, SYSTEM
from tests.conftest import HOSTILE, actor_of

FORM = {
    "company": "Tailwind Traders",
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "Ann.Lee@Tailwind.example",
    "phone": "+1 555 0100",
    "zip": "98052",
    "comments": "We sell outdoor gear.\nTwo stores.",
    "store_name": "Tailwind Outdoor",
    "store_url": "https://tailwind.example/shop",
}
APPROVAL_ONLY = {"first_name", "last_name", "company", "email", "zip", "comments", "store_name", "store_url"}


def submit(store, **changes):
    return store.call(prospects.submit, PORTAL, {**FORM, **changes})


def approver(store):
    return actor_of(store)("approver1")


def qualified(store, **changes):
    sub = submit(store, **changes)
    return store.call(prospects.qualify, approver(store), sub.lead)


def outbox(store, number):
    with store.read() as s:
        return s.exec(select(OutboxEmail).where(OutboxEmail.entity_key == number).order_by(OutboxEmail.id)).all()


def statuses(store, prospect_number):
    with store.read() as s:
        p = s.exec(select(Prospect).where(Prospect.number == prospect_number)).one()
        lead = s.exec(select(Lead).where(Lead.prospect_id == p.id)).one()
        opp = s.exec(select(Opportunity).where(Opportunity.lead_id == lead.id)).first()
        return p.status, lead.status, opp.status if opp else None


def test_submit_makes_a_pending_prospect_and_a_b2b_lead(any_store):
    r = submit(any_store)
    assert (r.number, r.status, r.lead) == ("PRO-000001", "Pending", "LEAD-000001")
    assert r.email == "Ann.Lee@tailwind.example"
    leads = any_store.call(prospects.list_leads, approver(any_store))
    assert [(x.number, x.status, x.view, x.prospect) for x in leads] == [
        ("LEAD-000001", "Open", "All commerce B2B leads", "PRO-000001")
    ]
    assert statuses(any_store, r.number) == ("Pending", "Open", None)
    assert outbox(any_store, r.number) == []


def test_submit_validation(store):
    with pytest.raises(ValidationFailed) as exc:
        submit(store, company="", email="nope", store_url="javascript:alert(1)", extra="x")
    assert set(exc.value.errors) == {"company", "store_url", "extra"}
    with pytest.raises(ValidationFailed) as exc:
        submit(store, email="nope")
    assert set(exc.value.errors) == {"email"}
    with pytest.raises(ValidationFailed):
        store.call(prospects.submit, PORTAL, ["not", "an", "object"])
    with pytest.raises(PermissionDenied):
        store.call(prospects.submit, actor_of(store)("support1"), FORM)


def test_qualify_creates_opportunity_contact_and_account(any_store):
    sub = submit(any_store)
    q = any_store.call(prospects.qualify, approver(any_store), sub.lead)
    assert q.status == "Qualified" and q.opportunity == "OPP-000001" and q.new_account and q.email_decision == ""
    with any_store.read() as s:
        org = s.exec(select(Customer).where(Customer.account == q.account)).one()
        person = s.exec(select(Customer).where(Customer.account == q.contact_account)).one()
    assert (org.name, org.party_type, org.zip) == ("Tailwind Traders", "Organization", "98052")
    assert (person.name, person.party_type, person.email) == ("Ann Lee", "Person", "Ann.Lee@tailwind.example")
    assert person.parent_account == ""  # the hierarchy comes with Won
    assert statuses(any_store, sub.number) == ("Pending", "Qualified", "Open")
    opps = any_store.call(prospects.list_opportunities, approver(any_store), status="Open")
    assert [(o.number, o.account, o.contact_account) for o in opps] == [(q.opportunity, q.account, q.contact_account)]


def test_won_approves_and_builds_the_hierarchy(any_store):
    sub = submit(any_store)
    q = any_store.call(prospects.qualify, approver(any_store), sub.lead)
    w = any_store.call(prospects.won, approver(any_store), q.opportunity)
    assert (w.status, w.prospect_status) == ("Won", "Approved")
    assert statuses(any_store, sub.number) == ("Approved", "Qualified", "Won")
    with any_store.read() as s:
        org = s.exec(select(Customer).where(Customer.account == q.account)).one()
        person = s.exec(select(Customer).where(Customer.account == q.contact_account)).one()
        admins = s.exec(select(ContactPerson).where(ContactPerson.customer_id == org.id)).all()
        ur = s.exec(select(UserRequest).where(UserRequest.number == w.user_request)).one()
    assert person.parent_account == org.account == w.parent_account  # organization on top
    assert [(a.first_name, a.last_name, a.is_admin) for a in admins] == [("Ann", "Lee", True)]
    assert (ur.customer_id, ur.contact_id, ur.request_type, ur.email) == (
        org.id,
        admins[0].id,
        "Customer",
        "Ann.Lee@tailwind.example",
    )
    mails = outbox(any_store, sub.number)
    assert [m.template for m in mails] == ["prospect_approved"]
    body = mails[0].body
    for value in (
        "Ann",
        "Lee",
        "Tailwind Traders",
        "Ann.Lee@tailwind.example",
        "98052",
        "Two stores.",
        "Tailwind Outdoor",
        "https://tailwind.example/shop",
    ):
        assert value in body
    assert "+1 555 0100" not in body  # the phone is not one of the approval e-mail's fields
    assert mails[0].recipient == "Ann.Lee@tailwind.example"


def test_disqualify_rejects_and_declines(any_store):
    sub = submit(any_store)
    with pytest.raises(ValidationFailed, match="reason"):
        any_store.call(prospects.disqualify, approver(any_store), sub.lead, " ")
    r = any_store.call(prospects.disqualify, approver(any_store), sub.lead, "Not a retailer; internal note 4711")
    assert (r.status, r.prospect_status) == ("Disqualified", "Rejected")
    assert statuses(any_store, sub.number) == ("Rejected", "Disqualified", None)
    mails = outbox(any_store, sub.number)
    assert [m.template for m in mails] == ["prospect_declined"]
    _only_decline_fields(mails[0])


def test_lost_rejects_and_declines(any_store):
    sub = submit(any_store)
    q = any_store.call(prospects.qualify, approver(any_store), sub.lead)
    with pytest.raises(ValidationFailed, match="reason"):
        any_store.call(prospects.lost, approver(any_store), q.opportunity, "")
    r = any_store.call(prospects.lost, approver(any_store), q.opportunity, "Credit check failed; internal note 4711")
    assert (r.status, r.prospect_status) == ("Lost", "Rejected")
    assert statuses(any_store, sub.number) == ("Rejected", "Qualified", "Lost")
    mails = outbox(any_store, sub.number)
    assert [m.template for m in mails] == ["prospect_declined"]
    _only_decline_fields(mails[0])


def _only_decline_fields(mail):
    text = mail.subject + mail.body
    assert "Ann" in text and "Lee" in text and "Tailwind Traders" in text
    for other in (
        "4711",
        "98052",
        "outdoor gear",
        "Tailwind Outdoor",
        "tailwind.example/shop",
        "555 0100",
        "Ann.Lee@tailwind.example",
        "Credit",
        "retailer",
    ):
        assert other not in text, other
    assert mail.recipient == "Ann.Lee@tailwind.example"


def test_refusals_after_each_end(store):
    a = approver(store)
    # one rule (services/transitions.py): a lead or opportunity decided for good answers Conflict naming who
    # disqualified lead: no qualify, no second disqualify
    d = submit(store, email="d@x.example")
    store.call(prospects.disqualify, a, d.lead, "spam")
    with pytest.raises(Conflict, match="disqualified by approver1"):
        store.call(prospects.qualify, a, d.lead)
    with pytest.raises(Conflict, match="disqualified by approver1"):
        store.call(prospects.disqualify, a, d.lead, "again")
    # qualified lead: no second qualify and no disqualify (act on the opportunity)
    q = qualified(store, email="q@x.example")
    with pytest.raises(Conflict, match="act on opportunity OPP-000001"):
        store.call(prospects.qualify, a, q.lead)
    with pytest.raises(Conflict, match="act on opportunity"):
        store.call(prospects.disqualify, a, q.lead, "late")
    # won: no lost, no second won; lost: no won
    store.call(prospects.won, a, q.opportunity)
    with pytest.raises(Conflict, match="closed as Won by approver1"):
        store.call(prospects.lost, a, q.opportunity, "late")
    with pytest.raises(Conflict, match="closed as Won"):
        store.call(prospects.won, a, q.opportunity)
    q2 = qualified(store, email="l@x.example")
    store.call(prospects.lost, a, q2.opportunity, "price")
    with pytest.raises(Conflict, match="closed as Lost"):
        store.call(prospects.won, a, q2.opportunity)
    with pytest.raises(NotFound):
        store.call(prospects.won, a, "OPP-999999")


def test_processing_needs_the_approver_role(store):
    sub = submit(store)
    support = actor_of(store)("support1")
    with pytest.raises(PermissionDenied, match="qualify leads"):
        store.call(prospects.qualify, support, sub.lead)
    with pytest.raises(PermissionDenied):
        store.call(prospects.disqualify, support, sub.lead, "x")
    assert store.call(prospects.list_prospects, support)[0].number == sub.number  # viewing is fine


def _contact_elsewhere(store, email="Ann.Lee@tailwind.example"):
    with store.write() as s:
        fabrikam = customers.get_customer(s, "C-000001")
        customers.add_contact(s, SYSTEM, fabrikam, first_name="Ann", last_name="Lee", email=email)


def test_shared_email_is_caught_at_qualification_with_the_choice(any_store):
    _contact_elsewhere(any_store)
    sub = submit(any_store)
    with pytest.raises(Conflict) as exc:
        any_store.call(prospects.qualify, approver(any_store), sub.lead)
    assert isinstance(exc.value, prospects.DuplicateEmail)
    message = exc.value.message
    assert "Ann Lee, contact of Fabrikam, Inc. (C-000001)" in message
    assert "allow_shared_email" in message and "email=NEW" in message
    assert statuses(any_store, sub.number) == ("Pending", "Open", None)  # nothing happened
    with any_store.read() as s:
        assert s.exec(select(Customer).where(Customer.name == "Tailwind Traders")).first() is None
    owners = any_store.call(prospects.qualify_preview, approver(any_store), sub.lead)
    assert [(o.kind, o.account) for o in owners] == [("contact", "C-000001")]
    # choice 1: allow the shared e-mail, recorded as a decision
    q = any_store.call(prospects.qualify, approver(any_store), sub.lead, allow_shared_email=True)
    assert q.email_decision == "shared"
    with any_store.read() as s:
        comment = s.exec(
            select(AuditEvent.comment).where(AuditEvent.entity_key == q.lead, AuditEvent.action == "qualified")
        ).one()
    assert "new contact allowed to share it" in comment


def test_shared_email_choice_another_address(store):
    _contact_elsewhere(store)
    sub = submit(store)
    q = store.call(prospects.qualify, approver(store), sub.lead, email="ann@tailwind.example")
    assert q.email_decision == ""
    detail = store.call(prospects.show_prospect, approver(store), sub.number)
    assert detail.email == "ann@tailwind.example"
    with pytest.raises(ValidationFailed):
        store.call(prospects.qualify, approver(store), submit(store, email="z@z.example").lead, email="not-mail")


def test_shared_email_choice_link_existing_person(store):
    # a first partner request by Ann was qualified: she is a person customer now
    first = qualified(store, company="Tailwind Outlet")
    store.call(prospects.lost, approver(store), first.opportunity, "duplicate")
    sub = submit(store)
    with pytest.raises(prospects.DuplicateEmail) as exc:
        store.call(prospects.qualify, approver(store), sub.lead)
    assert f"link_existing={first.contact_account}" in exc.value.message
    with pytest.raises(ValidationFailed, match="not a person customer"):
        store.call(prospects.qualify, approver(store), sub.lead, link_existing="C-000001")
    with pytest.raises(ValidationFailed, match="choose one"):
        store.call(
            prospects.qualify, approver(store), sub.lead, link_existing=first.contact_account, allow_shared_email=True
        )
    q = store.call(prospects.qualify, approver(store), sub.lead, link_existing=first.contact_account)
    assert q.contact_account == first.contact_account and q.email_decision == "linked"
    w = store.call(prospects.won, approver(store), q.opportunity)
    assert w.contact_account == first.contact_account and w.parent_account == q.account


def test_second_admin_for_the_same_partner_is_allowed(any_store):
    a = approver(any_store)
    first = qualified(any_store)
    any_store.call(prospects.won, a, first.opportunity)
    sub = submit(any_store, first_name="Bo", last_name="Chen", email="bo@tailwind.example")
    hints = any_store.call(prospects.show_prospect, a, sub.number).duplicates
    assert ("customer", first.account, "same company name") in [(h.kind, h.key, h.reason) for h in hints]
    q = any_store.call(prospects.qualify, a, sub.lead, existing_account=first.account)
    assert q.account == first.account and not q.new_account
    w = any_store.call(prospects.won, a, q.opportunity)
    assert w.admins == 2 and w.parent_account == first.account
    with any_store.read() as s:
        org = s.exec(select(Customer).where(Customer.account == first.account)).one()
        admins = s.exec(
            select(ContactPerson).where(ContactPerson.customer_id == org.id, ContactPerson.is_admin == True)  # noqa: E712
        ).all()
        urs = s.exec(select(UserRequest).where(UserRequest.customer_id == org.id)).all()
    assert sorted(c.first_name for c in admins) == ["Ann", "Bo"] and len(urs) == 2


def test_existing_account_must_be_an_organization(store):
    first = qualified(store)
    sub = submit(store, email="bo@tailwind.example")
    with pytest.raises(ValidationFailed, match="not an organization"):
        store.call(prospects.qualify, approver(store), sub.lead, existing_account=first.contact_account)
    with pytest.raises(ValidationFailed, match="no customer"):
        store.call(prospects.qualify, approver(store), sub.lead, existing_account="C-999999")


def test_won_with_an_unknown_role_is_refused_and_changes_nothing(store):
    q = qualified(store)
    with pytest.raises(ValidationFailed, match="no portal user role"):
        store.call(prospects.won, approver(store), q.opportunity, role="Nope")
    prospect = store.call(prospects.show_prospect, approver(store), q.prospect)
    assert (prospect.status, prospect.opportunity_status) == ("Pending", "Open")


def test_show_and_history(store):
    q = qualified(store)
    store.call(prospects.won, approver(store), q.opportunity)
    for key in (q.prospect, q.lead, q.opportunity):
        d = store.call(prospects.show_prospect, approver(store), key)
        assert d.number == q.prospect and d.status == "Approved" and d.user_request
    actions = [e.action for e in d.history]
    assert actions[:2] == ["submitted", "created"] and "won" in actions and "approved" in actions
    assert d.actions == []


def test_hostile_text_is_stored_clean(store):
    sub = submit(store, company=HOSTILE[3] + "Co", comments="ok\n" + HOSTILE[3])
    d = store.call(prospects.show_prospect, approver(store), sub.number)
    assert "\x1b" not in d.company and "\x1b" not in d.comments and d.company == "redCo"


def test_counts_and_filters(store):
    qualified(store)
    d = submit(store, email="d@x.example")
    store.call(prospects.disqualify, approver(store), d.lead, "no")
    submit(store, email="p@x.example")
    counts = store.call(prospects.counts, approver(store))
    assert counts["prospects"] == {"All": 3, "Pending": 2, "Approved": 0, "Rejected": 1}
    assert counts["leads"]["Qualified"] == 1 and counts["opportunities"]["Open"] == 1
    assert [p.status for p in store.call(prospects.list_prospects, approver(store), status="Rejected")] == ["Rejected"]
    assert len(store.call(prospects.list_leads, approver(store), status="open")) == 1
    with pytest.raises(ValidationFailed):
        store.call(prospects.list_leads, approver(store), status="Maybe")
