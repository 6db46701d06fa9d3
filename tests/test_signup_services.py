"""Sign-up process rules, on SQLite and PostgreSQL: every transition and every refusal."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlmodel import select

from models.core import AuditEvent, OutboxEmail, Token
from models.customer import ContactPerson, Customer
from models.signup import SignupRequest, UserRequest
from services import signup, tokens
from services.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from services.permissions import PORTAL
from tests.conftest import actor_of

GOOD = {
    "company": "Tailwind Traders",
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "Ann.Lee@Tailwind.example",
    "user_name": "alee",
    "phone": "+1 (555) 0100",
    "fax": "",
    "street": "1 Pier Rd",
    "city": "Oslo",
    "zip": "0150",
    "state": "",
    "county": "",
    "country": "no",
    "language": "nb-NO",
}


def submit(store, **changes):
    return store.call(signup.submit, PORTAL, {**GOOD, **changes})


def link_token(store, number: str) -> str:
    from tests.portal_helpers import verify_token

    return verify_token(store, number)


def verified(store, **changes) -> str:
    number = submit(store, **changes).number
    store.call(signup.verify, link_token(store, number))
    return number


def approved(store, **changes) -> str:
    number = verified(store, **changes)
    store.call(signup.approve, actor_of(store)("approver1"), number)
    return number


def status_of(store, number):
    with store.read() as s:
        return s.exec(select(SignupRequest.status).where(SignupRequest.number == number)).one()


def test_submit_stores_request_and_queues_verification(any_store):
    result = submit(any_store)
    assert result.number == "REG-000001" and result.status == "Requested"
    with any_store.read() as s:
        req = s.exec(select(SignupRequest)).one()
        mails = s.exec(select(OutboxEmail)).all()
        toks = s.exec(select(Token)).all()
    assert req.email == "Ann.Lee@tailwind.example"  # domain lower-cased by email-validator
    assert req.email_normalized == "ann.lee@tailwind.example"
    assert req.country == "NO" and req.language == "nb-no"
    assert len(mails) == 1 and mails[0].recipient == req.email and "REG-000001" in mails[0].subject
    # no working link at rest: the token is minted when the mail is sent, only its hash is kept
    assert not tokens.TOKEN_PATTERN.search(mails[0].body) and "[[link:" in mails[0].body and toks == []
    raw = link_token(any_store, "REG-000001")
    with any_store.read() as s:
        (tok,) = s.exec(select(Token)).all()
    assert tok.token_hash == tokens.hash_token(raw) and raw not in tok.token_hash


def test_numbers_are_gap_free_across_a_failed_submit(store):
    assert submit(store).number == "REG-000001"
    with pytest.raises(ValidationFailed):
        submit(store, email="not-an-email")
    assert submit(store, email="b@x.example").number == "REG-000002"


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"company": ""}, "company"),
        ({"company": "x" * 201}, "company"),
        ({"email": "nobody"}, "email"),
        ({"email": "a@b@c.example"}, "email"),
        ({"user_name": "a b"}, "user_name"),
        ({"user_name": "ab"}, "user_name"),
        ({"phone": "call me"}, "phone"),
        ({"country": "Norway!"}, "country"),
        ({"zip": "<script>"}, "zip"),
        ({"first_name": 42.5j}, "first_name"),
    ],
)
def test_submit_refuses_bad_fields_and_stores_nothing(store, changes, field):
    data = {**GOOD, **changes}
    with pytest.raises(ValidationFailed) as err:
        store.call(signup.submit, PORTAL, data)
    assert field in err.value.errors
    with store.read() as s:
        assert s.exec(select(SignupRequest)).all() == []
        assert s.exec(select(OutboxEmail)).all() == []


def test_submit_names_unknown_and_missing_keys(store):
    data = {k: v for k, v in GOOD.items() if k != "last_name"}
    data["favourite_colour"] = "blue"
    with pytest.raises(ValidationFailed) as err:
        store.call(signup.submit, PORTAL, data)
    assert err.value.errors["favourite_colour"].startswith("unknown field")
    assert err.value.errors["last_name"] == "required"
    with pytest.raises(ValidationFailed):
        store.call(signup.submit, PORTAL, ["not", "an", "object"])


def test_control_characters_are_stripped(store):
    number = submit(store, company="Evil\x1b[31m Corp\x07\x00", first_name="A\tB").number
    with store.read() as s:
        req = s.exec(select(SignupRequest).where(SignupRequest.number == number)).one()
    assert req.company == "Evil Corp" and req.first_name == "A B"


def test_support_can_submit_on_behalf_but_admin_cannot(store, actor):
    result = store.call(signup.submit, actor("support1"), GOOD)
    with store.read() as s:
        assert s.exec(select(SignupRequest.submitted_by)).one() == "support1"
    with pytest.raises(PermissionDenied, match="needs role approver or support"):
        store.call(signup.submit, actor("admin1"), {**GOOD, "email": "z@z.example"})
    assert result.status == "Requested"


def test_verify_moves_to_verified_once(any_store):
    number = submit(any_store).number
    raw = link_token(any_store, number)
    assert any_store.call(signup.verify, raw).status == "Verified by user"
    with pytest.raises(InvalidTransition, match="already used"):
        any_store.call(signup.verify, raw)
    assert status_of(any_store, number) == "Verified by user"


def test_verify_refuses_unknown_malformed_and_expired_tokens(store, clock):
    number = submit(store).number
    raw = link_token(store, number)
    with pytest.raises(NotFound):
        store.call(signup.verify, "rdk_" + "A" * 43)
    with pytest.raises(NotFound):
        store.call(signup.verify, "'; drop table token; --")
    clock.advance(hours=73)
    with pytest.raises(InvalidTransition, match="expired"):
        store.call(signup.verify, raw)
    assert status_of(store, number) == "Requested"


def test_resend_voids_the_old_link(store, actor):
    number = submit(store).number
    old = link_token(store, number)
    store.call(signup.resend, actor("support1"), number)
    new = link_token(store, number)
    assert new != old
    with pytest.raises(InvalidTransition, match="replaced by a newer one"):
        store.call(signup.verify, old)
    store.call(signup.verify, new)
    # the customer took the request further: a conflict naming who did (services/transitions.py)
    with pytest.raises(Conflict, match="verified already.*verified by portal"):
        store.call(signup.resend, actor("support1"), number)


def test_approve_requires_verification_and_role(any_store):
    a = actor_of(any_store)
    number = submit(any_store).number
    with pytest.raises(InvalidTransition, match="not verified"):
        any_store.call(signup.approve, a("approver1"), number)
    store_token = link_token(any_store, number)
    any_store.call(signup.verify, store_token)
    with pytest.raises(PermissionDenied, match="support1 .* may not approve"):
        any_store.call(signup.approve, a("support1"), number)
    any_store.call(signup.approve, a("approver1"), number, "looks fine")
    with pytest.raises(Conflict, match="already approved by approver1"):
        any_store.call(signup.approve, a("approver2"), number)
    assert status_of(any_store, number) == "Approved"


@pytest.mark.parametrize("stage", ["requested", "verified", "approved"])
def test_reject_from_each_open_status_needs_a_reason_and_mails(store, actor, stage):
    number = {
        "requested": lambda: submit(store).number,
        "verified": lambda: verified(store),
        "approved": lambda: approved(store),
    }[stage]()
    with pytest.raises(ValidationFailed, match="reason"):
        store.call(signup.reject, actor("approver1"), number, "   ")
    store.call(signup.reject, actor("approver1"), number, "Not a business customer")
    assert status_of(store, number) == "Rejected"
    with store.read() as s:
        declined = s.exec(select(OutboxEmail).where(OutboxEmail.template == "signup_declined")).one()
        event = s.exec(select(AuditEvent).where(AuditEvent.action == "rejected")).one()
    assert "Not a business customer" in declined.body
    assert event.comment == "Not a business customer" and event.operator == "approver1"
    with pytest.raises(Conflict, match="rejected by approver1"):
        store.call(signup.reject, actor("approver2"), number, "again")


def test_rejected_request_link_no_longer_verifies(store, actor):
    number = submit(store).number
    raw = link_token(store, number)
    store.call(signup.reject, actor("approver1"), number, "spam")
    with pytest.raises(InvalidTransition):
        store.call(signup.verify, raw)


def test_create_new_customer_from_template(any_store):
    a = actor_of(any_store)
    number = approved(any_store)
    result = any_store.call(
        signup.create_customer,
        a("approver1"),
        number,
        mode="new",
        template="EXPORT",
        role="Customer self-service user",
        values={"credit_limit": "1234.50"},
    )
    assert result.status == "Created" and result.new_customer and result.user_request_status == "Submitted"
    with any_store.read() as s:
        c = s.exec(select(Customer).where(Customer.account == result.customer_account)).one()
        contact = s.exec(select(ContactPerson).where(ContactPerson.customer_id == c.id)).one()
        ur = s.exec(select(UserRequest).where(UserRequest.number == result.user_request)).one()
        req = s.exec(select(SignupRequest).where(SignupRequest.number == number)).one()
    assert c.name == "Tailwind Traders" and c.currency == "EUR" and c.terms_of_payment == "Net45"
    assert str(c.credit_limit) == "1234.50"  # dialog edit wins over the template
    assert c.country == "NO" and c.email == "Ann.Lee@tailwind.example"
    assert (contact.first_name, contact.last_name) == ("Ann", "Lee")
    assert ur.request_type == "Customer" and ur.status == "Submitted" and ur.user_name == "alee"
    assert req.customer_created and req.created_customer_account == c.account


def test_create_on_existing_customer_adds_a_contact(store, actor):
    number = approved(store)
    before = store.call(signup.list_requests, actor("approver1")).rows
    result = store.call(
        signup.create_customer,
        actor("approver1"),
        number,
        mode="existing",
        existing_account="C-000002",
        role="Customer administrator",
    )
    assert result.customer_account == "C-000002" and not result.new_customer
    with store.read() as s:
        assert len(s.exec(select(Customer)).all()) == 4
        assert s.exec(select(ContactPerson.email)).all() == ["Ann.Lee@tailwind.example"]
    assert before


def test_create_refusals_change_nothing(store, actor):
    a = actor("approver1")
    number = verified(store)
    with pytest.raises(InvalidTransition, match="must be approved"):
        store.call(signup.create_customer, a, number, mode="new", template="EXPORT", role="Customer self-service user")
    store.call(signup.approve, a, number)
    with pytest.raises(ValidationFailed) as err:
        store.call(
            signup.create_customer,
            a,
            number,
            mode="new",
            template="NOPE",
            role="Nope",
            values={"credit_limit": "-5", "currency": "EURO"},
        )
    assert set(err.value.errors) >= {"template", "role", "credit_limit", "currency"}
    with pytest.raises(ValidationFailed, match="existing_account"):
        store.call(
            signup.create_customer,
            a,
            number,
            mode="existing",
            existing_account="C-999999",
            role="Customer self-service user",
        )
    with pytest.raises(PermissionDenied):
        store.call(
            signup.create_customer,
            actor("support1"),
            number,
            mode="new",
            template="EXPORT",
            role="Customer self-service user",
        )
    assert status_of(store, number) == "Approved"
    with store.read() as s:
        assert len(s.exec(select(Customer)).all()) == 4
        assert s.exec(select(UserRequest)).all() == []


def test_preview_shows_the_customer_and_every_problem(store, actor):
    number = approved(store)
    preview = store.call(
        signup.preview_create,
        actor("approver1"),
        number,
        template="DOMESTIC",
        role="Customer self-service user",
        values={"cash_discount_base_days": "many"},
    )
    assert preview.values["currency"] == "USD" and preview.values["name"] == "Tailwind Traders"
    assert preview.errors == {"cash_discount_base_days": "a whole number"}


def test_duplicate_hints(store, actor):
    a = actor("approver1")
    first = submit(store, email="dup@fabrikam.example").number
    second = submit(store, company="FABRIKAM inc.", email="DUP@fabrikam.example", user_name="dup2").number
    detail = store.call(signup.show_request, a, second)
    kinds = {(h.kind, h.key, h.reason) for h in detail.duplicates}
    assert ("request", first, "same e-mail") in kinds
    assert ("customer", "C-000001", "same company name") in kinds
    third = submit(store, email="orders@fabrikam.example", company="Other", user_name="other3").number
    hints = store.call(signup.show_request, a, third).duplicates
    assert any(h.kind == "customer" and h.reason == "same e-mail" for h in hints)


def test_the_duplicate_search_is_one_statement_with_the_hints_in_their_order(any_store):
    """Requests, then contacts, then customers, as three searches gave them; sent as one statement
    (a sign-up runs it on every submit: each round trip is client CPU the office queues for)."""
    from sqlalchemy import event

    a = actor_of(any_store)("approver1")
    created = approved(any_store, email="twice@northwind.example", company="Northwind Twice", user_name="twice1")
    any_store.call(
        signup.create_customer, a, created, mode="new", template="DOMESTIC", role="Customer self-service user"
    )
    still_open = submit(any_store, email="twice@northwind.example", company="Other", user_name="twice2").number
    later = submit(any_store, email="TWICE@northwind.example", company="Northwind twice", user_name="twice3").number
    selects: list[str] = []

    def count(conn, cursor, sql, params, context, executemany):
        if re.search(r"email_normalized\s*=\s*[%?:(]", sql):  # a search by e-mail
            selects.append(sql)

    event.listen(any_store.engine, "before_cursor_execute", count)
    try:
        hints = any_store.call(signup.show_request, a, later).duplicates
    finally:
        event.remove(any_store.engine, "before_cursor_execute", count)
    assert [h.kind for h in hints] == ["request", "contact", "customer"]
    assert hints[0].key == still_open and hints[0].reason == "same e-mail"
    assert hints[1].label == "Ann Lee at Northwind Twice" and hints[1].reason == "same e-mail"
    assert hints[2].reason == "same company name and same e-mail"
    assert len(selects) == 1, selects


def test_every_state_change_is_audited(store, actor):
    number = approved(store)
    store.call(
        signup.create_customer, actor("approver1"), number, mode="new", template="RETAIL", role="Read-only viewer"
    )
    history = store.call(signup.show_request, actor("approver1"), number).history
    assert [h.action for h in history] == ["submitted", "verified", "approved", "created"]
    assert history[2].operator == "approver1" and history[2].before == {"status": "Verified by user"}
    assert history[3].after["status"] == "Created"


def test_list_filters_counts_search_and_keyset_paging(store, actor):
    a = actor("approver1")
    numbers = [
        submit(store, email=f"u{i}@x.example", company=f"Company {i}", user_name=f"user{i}").number for i in range(7)
    ]
    store.call(signup.verify, link_token(store, numbers[0]))
    counts = store.call(signup.count_by_status, a)
    assert counts["All"] == 7 and counts["Requested"] == 6 and counts["Verified by user"] == 1
    page = store.call(signup.list_requests, a, limit=3)
    seen = [r.number for r in page.rows]
    while page.after is not None:
        page = store.call(signup.list_requests, a, limit=3, after=page.after)
        seen += [r.number for r in page.rows]
    assert seen == numbers
    by_company = store.call(signup.list_requests, a, sort="company", descending=True, limit=2)
    rest = store.call(signup.list_requests, a, sort="company", descending=True, limit=10, after=by_company.after)
    names = [r.company for r in by_company.rows + rest.rows]
    assert names == sorted(names, reverse=True) and len(names) == 7
    assert [r.number for r in store.call(signup.list_requests, a, status="Verified by user").rows] == [numbers[0]]
    assert [r.number for r in store.call(signup.list_requests, a, search="company 3").rows] == [numbers[3]]
    with pytest.raises(ValidationFailed):
        store.call(signup.list_requests, a, status="Pending")


def test_token_expiry_follows_the_parameter(store, actor, clock):
    from services import params

    with store.write() as s:
        params.set_value(s, actor("admin1"), "signup.verification_ttl_hours", 1)
    number = submit(store).number
    clock.advance(minutes=59)
    store.call(signup.verify, link_token(store, number))
    assert status_of(store, number) == "Verified by user"
    with pytest.raises(PermissionDenied):
        with store.write() as s:
            params.set_value(s, actor("approver1"), "signup.verification_ttl_hours", 5)
    assert timedelta(hours=1)
