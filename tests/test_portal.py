"""Portal users: activation (once, in time, with a policy-checked Argon2id password), disable/enable."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlmodel import select

import models
from models.core import AuditEvent
from models.portal import PortalUser
from services import portal, user_requests
from services.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from tests.conftest import actor_of
from tests.portal_helpers import created_request, logon_token, ur_status

PASSWORD = "Blue-Kettle-Morning-42"


def provisioned(store) -> tuple[str, str]:
    number = created_request(store)
    store.call(user_requests.approve, actor_of(store)("approver2"), number)
    return number, logon_token(store, "alee")


def test_activation_sets_argon2id_hash_and_completes_request(any_store):
    number, raw = provisioned(any_store)
    result = any_store.call(portal.activate, raw, PASSWORD)
    assert result.status == "Active" and result.user_request == number and result.user_request_status == "Completed"
    assert ur_status(any_store, number) == "Completed"
    with any_store.read() as s:
        user = s.exec(select(PortalUser)).one()
        assert portal.verify_logon(s, "ALEE", PASSWORD) and not portal.verify_logon(s, "alee", PASSWORD + "x")
    assert user.password_hash.startswith("$argon2id$") and user.activated_at is not None


def test_activation_link_works_once(any_store):
    _, raw = provisioned(any_store)
    any_store.call(portal.activate, raw, PASSWORD)
    with pytest.raises(InvalidTransition, match="already used"):
        any_store.call(portal.activate, raw, "Another-Password-99")
    with any_store.read() as s:
        assert portal.verify_logon(s, "alee", PASSWORD)


def test_expired_link_is_refused_and_a_new_one_works(store, clock, actor):
    number, raw = provisioned(store)
    clock.advance(hours=73)
    with pytest.raises(InvalidTransition, match="expired"):
        store.call(portal.activate, raw, PASSWORD)
    assert ur_status(store, number) == "Pending completion"
    store.call(portal.resend_activation, actor("approver2"), "alee")
    new = logon_token(store, "alee")
    assert new != raw
    with pytest.raises(InvalidTransition, match="replaced|expired"):
        store.call(portal.activate, raw, PASSWORD)
    assert store.call(portal.activate, new, PASSWORD).status == "Active"


def test_unknown_or_garbage_tokens_are_refused(store):
    provisioned(store)
    with pytest.raises(NotFound):
        store.call(portal.activate, "rdk_" + "B" * 43, PASSWORD)
    with pytest.raises(NotFound):
        store.call(portal.activate, "'; drop table portaluser; --", PASSWORD)


@pytest.mark.parametrize(
    "password, reason",
    [
        ("short-1A", "at least 12"),
        ("alllowercaseletters", "two kinds"),
        ("aaaaaaaaaaaaaaaa", "two kinds"),
        ("xx-alee-password-1", "user name"),
        ("X" * 129, "at most 128"),
    ],
)
def test_password_policy_refusal_keeps_the_link_usable(store, password, reason):
    number, raw = provisioned(store)
    with pytest.raises(ValidationFailed, match=reason) as err:
        store.call(portal.activate, raw, password)
    assert "password" in err.value.errors
    assert ur_status(store, number) == "Pending completion"
    assert store.call(portal.activate, raw, PASSWORD).status == "Active"


def test_password_is_never_stored_or_mailed(any_store):
    _, raw = provisioned(any_store)
    any_store.call(portal.activate, raw, PASSWORD)
    with any_store.engine.connect() as conn:
        for table in models.metadata.sorted_tables:
            for row in conn.execute(table.select()).all():
                for value in row:
                    assert PASSWORD not in str(value), f"password found in {table.name}"


def test_admin_disables_and_enables_with_audit(any_store):
    act = actor_of(any_store)
    _, raw = provisioned(any_store)
    any_store.call(portal.activate, raw, PASSWORD)
    with pytest.raises(PermissionDenied, match="needs role admin"):
        any_store.call(portal.disable, act("approver1"), "alee")
    view = any_store.call(portal.disable, act("admin1"), "alee", "left the company")
    assert view.status == "Disabled" and view.disabled_by == "admin1"
    with any_store.read() as s:
        assert not portal.verify_logon(s, "alee", PASSWORD)
    with pytest.raises(Conflict, match="disabled already"):  # done already (services/transitions.py)
        any_store.call(portal.disable, act("admin1"), "alee")
    assert any_store.call(portal.enable, act("admin1"), "alee").status == "Active"
    with any_store.read() as s:
        assert portal.verify_logon(s, "alee", PASSWORD)
        actions = s.exec(
            select(AuditEvent.action).where(AuditEvent.entity_type == "portal_user").order_by(AuditEvent.id)
        ).all()
    assert actions == ["provisioned", "activated", "disabled", "enabled"]


def test_disabled_user_cannot_activate_and_enable_returns_to_pending(store, actor):
    _, raw = provisioned(store)
    store.call(portal.disable, actor("admin1"), "alee")
    with pytest.raises(InvalidTransition, match="disabled"):
        store.call(portal.activate, raw, PASSWORD)
    assert store.call(portal.enable, actor("admin1"), "alee").status == "Pending activation"
    assert store.call(portal.activate, raw, PASSWORD).status == "Active"  # the refused try did not use the link


def test_list_users(store, actor):
    provisioned(store)
    rows = store.call(portal.list_users, actor("support1"))
    assert [(r.user_name, r.status, r.customer_name, r.role) for r in rows] == [
        ("alee", "Pending activation", "Tailwind Traders", "Customer self-service user")
    ]
    assert store.call(portal.list_users, actor("support1"), status="Active") == []
    assert "password_hash" not in rows[0].model_dump()


def test_user_names_are_unique_regardless_of_case(store):
    provisioned(store)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT user_name_key FROM portaluser")).scalar_one() == "alee"
