"""User requests: waiting for manual processing, approval, provisioning, conflicts, cancel."""

from __future__ import annotations

import pytest
from sqlmodel import select

from models.core import AuditEvent, OutboxEmail, Token
from models.portal import PortalUser
from services import portal, user_requests
from services.errors import Conflict, InvalidTransition, PermissionDenied, ValidationFailed
from tests.conftest import actor_of
from tests.portal_helpers import created_request, logon_mail, logon_token, ur_status


def test_without_workflow_request_waits_in_submitted(any_store):
    number = created_request(any_store)
    assert ur_status(any_store, number) == "Submitted"
    rows = any_store.call(user_requests.list_user_requests, actor_of(any_store)("support1"), status="Submitted")
    assert [r.number for r in rows] == [number]
    assert any_store.call(user_requests.list_user_requests, actor_of(any_store)("support1"), status="Completed") == []
    with pytest.raises(ValidationFailed):
        any_store.call(user_requests.list_user_requests, actor_of(any_store)("support1"), status="Nonsense")


def test_manual_approval_provisions_portal_user_and_queues_logon_mail(any_store):
    number = created_request(any_store)
    result = any_store.call(user_requests.approve, actor_of(any_store)("approver2"), number)
    assert result.status == "Pending completion" and result.portal_user == "alee" and result.problem is None
    with any_store.read() as s:
        user = s.exec(select(PortalUser)).one()
        assert s.exec(select(Token).where(Token.purpose == "portal-activate")).all() == []  # minted when sent
        events = [
            e.action
            for e in s.exec(select(AuditEvent).where(AuditEvent.entity_key == number).order_by(AuditEvent.id)).all()
        ]
    assert user.status == "Pending activation" and user.password_hash is None and user.user_name == "alee"
    mail = logon_mail(any_store, "alee")
    raw = logon_token(any_store, "alee")
    with any_store.read() as s:
        token = s.exec(select(Token).where(Token.purpose == "portal-activate")).one()
    assert token.token_hash == __import__("services.tokens", fromlist=["x"]).hash_token(raw)
    assert raw not in token.token_hash
    assert "User name: alee" in mail.body and "https://portal.example.com" in mail.body
    assert "password" not in mail.body.lower().replace("set your password", "")
    assert events == ["submitted", "approved", "provisioned"]


def test_submitter_may_not_approve_and_support_may_not_process(store, actor):
    number = created_request(store)
    with pytest.raises(PermissionDenied, match="approver1 submitted"):
        store.call(user_requests.approve, actor("approver1"), number)
    with pytest.raises(PermissionDenied, match="process user requests"):
        store.call(user_requests.approve, actor("support1"), number)
    assert ur_status(store, number) == "Submitted"


def test_second_approval_is_refused(store, actor):
    number = created_request(store)
    store.call(user_requests.approve, actor("approver2"), number)
    # taken further by someone else: a Conflict naming who (services/transitions.py)
    with pytest.raises(Conflict, match="provisioned already.*by approver2"):
        store.call(user_requests.approve, actor("admin1"), number)


def test_user_name_conflict_is_shown_and_resolved_explicitly(any_store):
    act = actor_of(any_store)
    first = created_request(any_store)
    any_store.call(user_requests.approve, act("approver2"), first)
    # a second contact asks for the same logon (different case)
    second = created_request(any_store, email="other@tailwind.example", company="Other Co", user_name="ALee")
    detail = any_store.call(user_requests.show_user_request, act("support1"), second)
    assert "taken by portal user alee" in detail.problem
    result = any_store.call(user_requests.approve, act("approver2"), second)
    assert result.status == "Approved" and result.portal_user is None
    assert "user name 'ALee' is taken by portal user alee of customer" in result.problem
    with any_store.read() as s:
        assert s.exec(select(PortalUser)).all()[0].user_name == "alee"  # nothing renamed, nothing created
        assert len(s.exec(select(PortalUser)).all()) == 1
    detail = any_store.call(user_requests.show_user_request, act("approver2"), second)
    assert "Choose another user name" in detail.problem and "provision" in detail.actions
    assert any(e.action == "provisioning refused" for e in detail.history)
    with pytest.raises(Conflict, match="taken by portal user alee"):
        any_store.call(user_requests.provision, act("approver2"), second)
    with pytest.raises(Conflict, match="taken by portal user alee"):
        any_store.call(user_requests.set_user_name, act("approver2"), second, "alee")
    with pytest.raises(ValidationFailed):
        any_store.call(user_requests.set_user_name, act("approver2"), second, "a b")
    any_store.call(user_requests.set_user_name, act("approver2"), second, "alee.other")
    result = any_store.call(user_requests.provision, act("approver2"), second)
    assert result.status == "Pending completion" and result.portal_user == "alee.other"
    assert any_store.call(user_requests.show_user_request, act("approver2"), second).problem is None


def test_reject_needs_reason_and_is_final(store, actor):
    number = created_request(store)
    with pytest.raises(ValidationFailed):
        store.call(user_requests.reject, actor("approver2"), number, "  ")
    assert store.call(user_requests.reject, actor("approver2"), number, "Not a customer contact").status == "Rejected"
    with pytest.raises(Conflict, match="rejected.*by approver2"):  # final: nothing makes it possible again
        store.call(user_requests.approve, actor("approver2"), number)


def test_cancel_after_provisioning_disables_user_and_voids_link(store, actor):
    number = created_request(store)
    store.call(user_requests.approve, actor("approver2"), number)
    raw = logon_token(store, "alee")
    result = store.call(user_requests.cancel, actor("approver2"), number, "contact left the company")
    assert result.status == "Canceled"
    with store.read() as s:
        assert s.exec(select(PortalUser.status)).one() == "Disabled"
    with pytest.raises(InvalidTransition, match="replaced"):
        store.call(portal.activate, raw, "Correct-Horse-42")


def test_user_name_is_locked_once_provisioned(store, actor):
    number = created_request(store)
    store.call(user_requests.approve, actor("approver2"), number)
    with pytest.raises(InvalidTransition, match="only while"):
        store.call(user_requests.set_user_name, actor("approver2"), number, "another")


def test_detail_shows_everything(store, actor):
    number = created_request(store)
    store.call(user_requests.approve, actor("approver2"), number)
    d = store.call(user_requests.show_user_request, actor("support1"), number)
    assert d.status == "Pending completion" and d.signup_request == "REG-000001"
    assert d.portal_user.user_name == "alee" and d.portal_user.status == "Pending activation"
    assert [m.template for m in d.mails] == ["portal_logon"] and d.mails[0].status == "pending"
    assert [e.action for e in d.history] == ["submitted", "approved", "portal user provisioned", "provisioned"]
    assert d.actions == []  # support may view only


def test_transition_table_is_the_only_place_states_move():
    targets = {t.target for t in user_requests.TRANSITIONS.values()}
    from models.signup import UserRequestStatus

    assert targets == set(UserRequestStatus)  # every status is reachable, by a declared transition


def test_logon_mail_portal_user_and_state_change_commit_together(store, actor, monkeypatch):
    """A failure after the logon e-mail was queued rolls everything back: no mail without the change."""
    number = created_request(store)
    real = user_requests.commands.move_audited

    def crash_after_provisioning(session, who, ur, action, event, **kw):
        if action == "provision":
            raise RuntimeError("crash before commit")
        return real(session, who, ur, action, event, **kw)

    monkeypatch.setattr(user_requests.commands, "move_audited", crash_after_provisioning)
    with pytest.raises(RuntimeError):
        store.call(user_requests.approve, actor("approver2"), number)
    assert ur_status(store, number) == "Submitted"
    with store.read() as s:
        assert s.exec(select(PortalUser)).all() == []
        assert s.exec(select(OutboxEmail).where(OutboxEmail.template == "portal_logon")).all() == []
        assert s.exec(select(Token).where(Token.purpose == "portal-activate")).all() == []
