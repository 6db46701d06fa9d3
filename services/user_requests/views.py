"""What the user request services return: the list's rows, the detail (portal user, workflow,
e-mails, history) and the result of a hand action."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from models.customer import ContactPerson, Customer, PortalRole
from models.signup import UserRequest
from services import audit, portal
from services.workflow import InstanceView


class ActionResult(BaseModel):
    number: str
    status: str
    portal_user: str | None = None
    problem: str | None = None
    workflow_instance: int | None = None


class UserRequestView(BaseModel):
    id: int  # the keyset of the list (before_id)
    number: str
    request_type: str
    status: str
    customer_account: str
    customer_name: str
    contact: str
    email: str
    user_name: str
    role: str
    created_at: datetime
    created_by: str


class MailView(BaseModel):
    id: int
    template: str
    recipient: str
    status: str
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None


class WorkflowStatus(BaseModel):
    instance_id: int | None
    summary: str


class UserRequestDetail(UserRequestView):
    updated_at: datetime
    version: int
    signup_request: str | None
    portal_user: portal.PortalUserView | None
    problem: str | None
    workflow: WorkflowStatus | None
    actions: list[str]
    mails: list[MailView]
    history: list[audit.AuditView]


def user_request_view(ur: UserRequest, customer: Customer, contact: ContactPerson, role: PortalRole) -> UserRequestView:
    return UserRequestView(
        id=ur.id or 0,
        number=ur.number,
        request_type=ur.request_type,
        status=ur.status,
        customer_account=customer.account,
        customer_name=customer.name,
        contact=f"{contact.first_name} {contact.last_name}",
        email=ur.email,
        user_name=ur.user_name,
        role=role.name,
        created_at=ur.created_at,
        created_by=ur.created_by,
    )


def instance_label(inst: InstanceView) -> str:
    """A workflow instance as the messages name it: "#7 user requests v2 (running)"."""
    return f"#{inst.id} {inst.definition} ({inst.status})"
