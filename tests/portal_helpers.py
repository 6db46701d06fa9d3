"""Helpers for the user request / portal / delivery tests: a sign-up taken to Created."""

from __future__ import annotations

import re

from sqlmodel import select

from models.core import OutboxEmail
from models.signup import UserRequest
from services import signup
from services.permissions import PORTAL
from tests.conftest import actor_of

BASE = {
    "company": "Tailwind Traders",
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "ann.lee@tailwind.example",
    "user_name": "alee",
    "phone": "+1 555 0100",
    "fax": "",
    "street": "1 Pier Rd",
    "city": "Oslo",
    "zip": "0150",
    "state": "",
    "county": "",
    "country": "NO",
    "language": "en-us",
}


def verify_token(store, number: str) -> str:
    """The token in the verification mail as the customer receives it (minted when it is sent)."""
    from tests.smtp_helpers import received, token_in

    return token_in(received(store, template="signup_verify", entity_key=number))


def logon_token(store, user_name: str) -> str:
    """The token in the logon mail's activation link as the contact receives it (minted when sent)."""
    from tests.smtp_helpers import received

    return activation_token(received(store, template="portal_logon", entity_key=user_name).get_content())


def created_request(store, *, creator: str = "approver1", role: str = "Customer self-service user", **changes) -> str:
    """Submit, verify, approve and create: returns the user request number (status Submitted without a workflow)."""
    data = {**BASE, **changes}
    number = store.call(signup.submit, PORTAL, data).number
    store.call(signup.verify, verify_token(store, number))
    who = actor_of(store)(creator)
    store.call(signup.approve, who, number)
    result = store.call(signup.create_customer, who, number, mode="new", template="DOMESTIC", role=role)
    return result.user_request


def ur_status(store, number: str) -> str:
    with store.read() as s:
        return s.exec(select(UserRequest.status).where(UserRequest.number == number)).one()


def logon_mail(store, user_name: str) -> OutboxEmail:
    with store.read() as s:
        return s.exec(
            select(OutboxEmail)
            .where(OutboxEmail.template == "portal_logon", OutboxEmail.entity_key == user_name)
            .order_by(OutboxEmail.id.desc())
        ).first()


def activation_token(text: str) -> str:
    match = re.search(r"/activate\?token=(rdk_[A-Za-z0-9_-]+)", text)
    assert match, f"no activation link in {text!r}"
    return match.group(1)


SHIPPED_WORKFLOW = (
    __import__("pathlib").Path(__file__).resolve().parent.parent / "seed" / "workflows" / "user_request.toml"
)


def activate_shipped_workflow(store) -> None:
    """Import and activate the demo user request workflow (Review by an approver, then provision)."""
    from services import workflow_defs

    store.call(workflow_defs.import_file, actor_of(store)("admin1"), str(SHIPPED_WORKFLOW), activate=True)


def work_item(store, user: str, number: str) -> int:
    from services import workflow

    items = [i for i in store.call(workflow.list_work, actor_of(store)(user)) if i.doc_key == number]
    assert items, f"{user} has no work item for {number}"
    return items[0].id
