"""Issue 8, service side: the Create defaults are admin-set parameters (the demo sets them),
customers made from a template get its group, currency and terms; duplicate hints never list
what the request or prospect itself created; customers show their approval status."""

from __future__ import annotations

import pytest
from sqlmodel import select

from models.core import AuditEvent
from models.customer import ContactPerson
from models.signup import SignupStatus, UserRequest
from services import params, prospects, signup
from services.errors import PermissionDenied, ValidationFailed
from tests.conftest import actor_of
from tests.helpers import run_async, until
from tests.test_console_registration import SIZE, load_requests
from tests.test_signup_services import approved, submit

SELF_SERVICE = "Customer self-service user"


def set_defaults(store, template="DOMESTIC", role=SELF_SERVICE):
    admin = actor_of(store)("admin1")
    store.call(params.set_param, admin, "signup.default_template", template)
    store.call(params.set_param, admin, "signup.default_role", role)


# ------------------------------------------------------------------ defaults as parameters


def test_default_template_and_role_are_checked_audited_parameters(any_store):
    a = actor_of(any_store)
    choices = any_store.call(signup.create_choices, a("approver1"))
    assert (choices.default_template, choices.default_role) == (None, None)
    assert [t.name for t in choices.templates] == ["DOMESTIC", "EXPORT", "RETAIL"]
    with pytest.raises(PermissionDenied):
        any_store.call(params.set_param, a("approver1"), "signup.default_role", SELF_SERVICE)
    with pytest.raises(ValidationFailed, match="no customer account template 'NOPE'"):
        any_store.call(params.set_param, a("admin1"), "signup.default_template", "NOPE")
    with pytest.raises(ValidationFailed, match="no portal user role"):
        any_store.call(params.set_param, a("admin1"), "signup.default_role", "Superuser")
    view = any_store.call(params.set_param, a("admin1"), "signup.default_role", "customer SELF-service user")
    assert view.value == SELF_SERVICE  # stored as the role is spelled
    any_store.call(params.set_param, a("admin1"), "signup.default_template", "DOMESTIC")
    choices = any_store.call(signup.create_choices, a("approver1"))
    assert (choices.default_template, choices.default_role) == ("DOMESTIC", SELF_SERVICE)
    with any_store.read() as s:
        keys = s.exec(select(AuditEvent.entity_key).where(AuditEvent.entity_type == "parameter")).all()
    assert sorted(keys) == ["signup.default_role", "signup.default_template"]
    any_store.call(params.set_param, a("admin1"), "signup.default_template", "")  # cleared: no template
    assert any_store.call(signup.create_choices, a("approver1")).default_template is None


def test_requests_create_without_template_or_role_uses_the_defaults(cli, store):
    assert cli("params", "set", "signup.default_template", "DOMESTIC", as_="admin1").code == 0
    assert cli("params", "set", "signup.default_role", SELF_SERVICE, as_="admin1").code == 0
    number = approved(store)
    r = cli("requests", "create", number, "--new", "--json", as_="approver1")
    assert r.code == 0, r
    account = r.json()["customer_account"]
    shown = cli("customers", "show", account, "--json", as_="support1").json()["customer"]
    assert (shown["customer_group"], shown["currency"], shown["terms_of_payment"]) == ("10", "USD", "Net30")
    assert shown["method_of_payment"] == "CHECK" and shown["name"] == "Tailwind Traders"
    with store.read() as s:
        ur = s.exec(select(UserRequest).where(UserRequest.number == r.json()["user_request"])).one()
        from models.customer import PortalRole

        assert s.get(PortalRole, ur.role_id).name == SELF_SERVICE


def test_requests_create_without_a_role_and_no_default_is_refused(cli, store):
    number = approved(store)
    r = cli("requests", "create", number, "--new", as_="approver1")
    assert r.code == 2 and "signup.default_role" in r.err and "Traceback" not in r.err
    assert SignupStatus.APPROVED == store.call(signup.show_request, actor_of(store)("approver1"), number).status


def test_no_template_flag_overrides_the_default(cli, store):
    set_defaults(store)
    number = approved(store)
    assert (
        cli("requests", "create", number, "--new", "--template", "EXPORT", "--no-template", as_="approver1").code == 2
    )
    r = cli("requests", "create", number, "--new", "--no-template", "--json", as_="approver1")
    assert r.code == 0, r
    shown = cli("customers", "show", r.json()["customer_account"], "--json", as_="support1").json()["customer"]
    assert (shown["customer_group"], shown["terms_of_payment"]) == ("", "")


def test_demo_sets_the_defaults_and_its_templates_carry_group_currency_terms(tmp_path):
    from seed.demo import TEMPLATES, load_base
    from services.clock import ManualClock
    from services.permissions import SYSTEM
    from services.store import Store

    for name, (_description, values) in TEMPLATES.items():
        assert values.get("customer_group") and values.get("currency") and values.get("terms_of_payment"), name
    store = Store(f"sqlite:///{tmp_path / 'demo.db'}", clock=ManualClock(), create=True)
    try:
        load_base(store)
        choices = store.call(signup.create_choices, SYSTEM)
        assert (choices.default_template, choices.default_role) == ("DOMESTIC", SELF_SERVICE)
    finally:
        store.dispose()


@run_async
async def test_create_dialog_preselects_the_default_template_and_role(store, actor):
    from app.tui import make_app
    from screens.dialogs import CreateCustomerDialog
    from screens.registration import RegistrationScreen

    set_defaults(store)
    load_requests(store, actor)
    app = make_app(store, actor("approver1"))
    async with app.run_test(size=SIZE) as pilot:
        await until(app, pilot, lambda: isinstance(app.screen, RegistrationScreen) and bool(app.screen.counts), "list")
        await pilot.press("4")  # Approved
        await until(
            app,
            pilot,
            lambda: app.screen.detail is not None and app.screen.detail.status == "Approved",
            "an approved request",
        )
        await pilot.press("c")
        await until(app, pilot, lambda: isinstance(app.screen, CreateCustomerDialog), "create dialog")
        dialog = app.screen
        await until(
            app,
            pilot,
            lambda: dialog.preview is not None and dialog.preview.values.get("terms_of_payment") == "Net30",
            "preview with the default template",
        )
        assert dialog.query_one("#f-template").value == "DOMESTIC"
        assert dialog.query_one("#f-role").value == SELF_SERVICE
        assert dialog.preview.values["customer_group"] == "10" and not dialog.preview.errors


# ------------------------------------------------------------------ duplicate hints


def test_request_hints_never_list_its_own_new_customer_and_contact(any_store):
    a = actor_of(any_store)("approver1")
    number = approved(any_store)
    assert any_store.call(signup.show_request, a, number).duplicates == []
    result = any_store.call(signup.create_customer, a, number, mode="new", template="DOMESTIC", role=SELF_SERVICE)
    assert any_store.call(signup.show_request, a, number).duplicates == []
    # another request with the same e-mail still sees them: they are real duplicates for it
    other = submit(any_store, company="Tailwind Traders Oslo").number
    hints = {(h.kind, h.key) for h in any_store.call(signup.show_request, a, other).duplicates}
    assert {("contact", result.customer_account), ("customer", result.customer_account)} <= hints


def test_request_added_to_an_existing_customer_does_not_list_that_customer_or_its_new_contact(store):
    a = actor_of(store)("approver1")
    number = approved(store, customer_account="C-000002", email="ap@contoso-retail.example")
    before = {(h.kind, h.key, h.reason) for h in store.call(signup.show_request, a, number).duplicates}
    assert ("customer", "C-000002", "same e-mail") in before
    store.call(signup.create_customer, a, number, mode="existing", existing_account="C-000002", role=SELF_SERVICE)
    assert store.call(signup.show_request, a, number).duplicates == []
    with store.read() as s:
        assert s.exec(select(ContactPerson).where(ContactPerson.email_normalized == "ap@contoso-retail.example")).one()


def test_won_prospect_does_not_list_its_own_customers(any_store):
    a = actor_of(any_store)("approver1")
    from tests.test_prospects import submit as submit_prospect

    sub = submit_prospect(any_store)
    assert any_store.call(prospects.show_prospect, a, sub.number).duplicates == []
    q = any_store.call(prospects.qualify, a, sub.lead)
    assert any_store.call(prospects.show_prospect, a, sub.number).duplicates == []
    any_store.call(prospects.won, a, q.opportunity)
    assert any_store.call(prospects.show_prospect, a, sub.number).duplicates == []
    # a second prospect of the same partner sees them all
    again = submit_prospect(any_store)
    hints = {(h.kind, h.key) for h in any_store.call(prospects.show_prospect, a, again.number).duplicates}
    assert {("person customer", q.contact_account), ("contact", q.account), ("customer", q.account)} <= hints


# ------------------------------------------------------------------ approval status (seed 004)


def test_customers_show_and_list_carry_the_approval_status(cli, store):
    from tests.test_changes_cli import ACC, turn_on

    def status_in_show():
        return cli("customers", "show", ACC, "--json", as_="support1").json()["customer"]["approval_status"]

    def status_in_list():
        rows = cli("customers", "list", "--json", as_="support1").json()
        return {r["account"]: r["approval_status"] for r in rows}[ACC]

    turn_on(cli, "credit_limit")
    assert status_in_show() == status_in_list() == ""
    assert cli("customers", "edit", ACC, "credit_limit=2500", as_="support1").code == 0
    assert status_in_show() == status_in_list() == "Changes not submitted"
    assert cli("changes", "submit", ACC, as_="support1").code == 0
    assert status_in_show() == status_in_list() == "Changes pending approval"
    from services import changes

    context = store.call(changes.edit_context, actor_of(store)("support1"), ACC)
    assert context.customer.approval_status == "Changes pending approval"  # what the Customers header shows
    assert cli("changes", "approve", ACC, as_="approver1").code == 0
    assert status_in_show() == status_in_list() == ""
    r = cli("customers", "list", as_="support1")
    assert r.code == 0
