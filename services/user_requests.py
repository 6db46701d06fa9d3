"""User requests (AX UserRequest): the request to provision a portal user for a contact.

Created by the sign-up Create step (type Customer, status Submitted). What happens next is
the user request workflow's business (issue 3); with no active workflow the request waits
in Submitted for manual processing, as in the seeds.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Session, col, select

from models.customer import ContactPerson, Customer, PortalRole
from models.signup import RequestType, UserRequest, UserRequestStatus
from services import audit, sequences
from services.errors import NotFound, ValidationFailed
from services.permissions import Actor, require
from services.store import now
from services.text import clean

ENTITY = "user_request"


def create_for_contact(
    session: Session, actor: Actor, *, customer: Customer, contact: ContactPerson, role: PortalRole,
    user_name: str, email: str, signup_request_id: int | None = None,
    request_type: RequestType = RequestType.CUSTOMER,
) -> UserRequest:
    current = now(session)
    ur = UserRequest(
        number=sequences.next_number(session, "userrequest"), request_type=request_type.value,
        status=UserRequestStatus.SUBMITTED.value, customer_id=customer.id, contact_id=contact.id, role_id=role.id,
        signup_request_id=signup_request_id, user_name=user_name, email=email, created_at=current,
        created_by=actor.user_name, updated_at=current,
    )
    session.add(ur)
    session.flush()
    audit.record(session, actor, ENTITY, ur.number, "submitted",
                 after={"status": ur.status, "type": ur.request_type, "customer": customer.account,
                        "user_name": user_name, "role": role.name})
    submit_to_workflow(session, actor, ur)
    return ur


def submit_to_workflow(session: Session, actor: Actor, ur: UserRequest) -> None:
    """Hand the request to the active user request workflow; without one it waits in Submitted."""
    return None


class UserRequestView(BaseModel):
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


def _view(ur: UserRequest, customer: Customer, contact: ContactPerson, role: PortalRole) -> UserRequestView:
    return UserRequestView(number=ur.number, request_type=ur.request_type, status=ur.status,
                           customer_account=customer.account, customer_name=customer.name,
                           contact=f"{contact.first_name} {contact.last_name}", email=ur.email,
                           user_name=ur.user_name, role=role.name, created_at=ur.created_at, created_by=ur.created_by)


def _joined():
    return (select(UserRequest, Customer, ContactPerson, PortalRole)
            .join(Customer, UserRequest.customer_id == Customer.id)
            .join(ContactPerson, UserRequest.contact_id == ContactPerson.id)
            .join(PortalRole, UserRequest.role_id == PortalRole.id))


def list_user_requests(session: Session, actor: Actor, *, status: str | None = None, limit: int = 200) -> list[UserRequestView]:
    require(actor, "user_request.view")
    query = _joined()
    if status:
        try:
            query = query.where(UserRequest.status == UserRequestStatus.parse(status).value)
        except ValueError as exc:
            raise ValidationFailed({"status": str(exc)}) from None
    rows = session.exec(query.order_by(col(UserRequest.id).desc()).limit(max(1, min(limit, 10_000)))).all()
    return [_view(*r) for r in rows]


def get_user_request(session: Session, number: str) -> UserRequest:
    ur = session.exec(select(UserRequest).where(UserRequest.number == clean(number).upper())).first()
    if ur is None:
        raise NotFound(f"no user request {number!r}")
    return ur


def show_user_request(session: Session, actor: Actor, number: str) -> UserRequestView:
    require(actor, "user_request.view")
    row = session.exec(_joined().where(UserRequest.number == clean(number).upper())).first()
    if row is None:
        raise NotFound(f"no user request {number!r}")
    return _view(*row)
