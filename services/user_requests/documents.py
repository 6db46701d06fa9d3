"""The workflow engine's document type ``user_request``: what a definition's conditions read of a
request, who submitted it, its summary in My work, and the engine's callbacks (and the automated
step ``provision``) onto the request's states."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, union
from sqlmodel import Session, col

from models.customer import Customer, PortalRole
from models.signup import UserRequest
from services import audit
from services import workflow as wf
from services.permissions import Actor

from .commands import try_provision
from .queries import get_user_request
from .table import DOC_TYPE, ENTITY, TRANSITIONS, U, move_audited


def _on_started(session: Session, actor: Actor, key: str) -> None:
    ur = get_user_request(session, key)
    if ur.status in TRANSITIONS["start"].sources:
        move_audited(session, actor, ur, "start", "workflow started")


def _on_approved(session: Session, actor: Actor, key: str) -> None:
    ur = get_user_request(session, key)
    if ur.status == U.PENDING_APPROVAL:
        move_audited(session, actor, ur, "approve", "approved", comment="workflow approved")
        try_provision(session, actor, ur, via="on final approval of the workflow")
    else:  # a provision step already took it further; note the end of the workflow only
        audit.record(session, actor, ENTITY, ur.number, "workflow approved", after={"status": ur.status})


def _auto_provision(session: Session, actor: Actor, key: str) -> None:
    ur = get_user_request(session, key)
    if ur.status == U.PENDING_APPROVAL:
        move_audited(session, actor, ur, "approve", "approved", comment="workflow review approved")
    if ur.status == U.APPROVED:
        try_provision(session, actor, ur, via="automated workflow step provision")


def _on_rejected(session: Session, actor: Actor, key: str, reason: str) -> None:
    ur = get_user_request(session, key)
    if ur.status in TRANSITIONS["reject"].sources:
        move_audited(session, actor, ur, "reject", "rejected", comment=reason or None)


def _on_returned(session: Session, actor: Actor, key: str, comment: str | None, event: str) -> None:
    ur = get_user_request(session, key)
    if ur.status in TRANSITIONS["return"].sources:
        move_audited(session, actor, ur, "return", event, comment=comment or None)


def _attributes(session: Session, key: str) -> dict[str, Any]:
    ur = get_user_request(session, key)
    customer = session.get(Customer, ur.customer_id)
    role = session.get(PortalRole, ur.role_id)
    return {
        "number": ur.number,
        "request_type": ur.request_type,
        "RequestType": ur.request_type,
        "status": ur.status,
        "user_name": ur.user_name,
        "email": ur.email,
        "role": role.name if role else "",
        "customer_account": customer.account if customer else "",
        "customer_group": customer.customer_group if customer else "",
        "country": customer.country if customer else "",
        "created_by": ur.created_by,
    }


ATTRIBUTE_FIELDS = (
    "number",
    "request_type",
    "RequestType",
    "status",
    "user_name",
    "email",
    "role",
    "customer_account",
    "customer_group",
    "country",
    "created_by",
)


def _describe(session: Session, key: str) -> str:
    ur = get_user_request(session, key)
    customer = session.get(Customer, ur.customer_id)
    role = session.get(PortalRole, ur.role_id)
    return (
        f"{customer.name if customer else '?'}: portal user {ur.user_name} for {ur.email}"
        f" ({role.name if role else '?'})"
    )


def describe_many(session: Session, keys: list[str]) -> dict[str, str]:
    """``_describe`` for many user requests in one query (My work's Summary column)."""
    rows = session.execute(
        select(
            col(UserRequest.number),
            col(UserRequest.user_name),
            col(UserRequest.email),
            col(Customer.name),
            col(PortalRole.name),
        )
        .join(Customer, col(Customer.id) == col(UserRequest.customer_id), isouter=True)
        .join(PortalRole, col(PortalRole.id) == col(UserRequest.role_id), isouter=True)
        .where(col(UserRequest.number).in_(keys))
    ).all()
    return {
        number: f"{customer or '?'}: portal user {user} for {email} ({role or '?'})"
        for number, user, email, customer, role in rows
    }


def matching(session: Session, term: str, customers: Any) -> Any:
    """My work's search of user requests: the request's number, or its customer among
    ``customers`` (those the customers' search finds: account, name, e-mail, city), through their
    indexes (``ix_userrequest_number``, ``ix_userrequest_customer_id``); or the portal user name or
    e-mail it asks for (both in My work's Summary), case-insensitively, through their ``lower()``
    indexes (migration 0015; before, every request in a running workflow was read: O(open
    requests)). The caller keeps those in a running workflow."""
    lowered = term.lower()
    return union(
        select(col(UserRequest.number)).where(col(UserRequest.number) == term.upper()),
        select(col(UserRequest.number)).where(col(UserRequest.customer_id).in_(customers)),
        select(col(UserRequest.number)).where(func.lower(col(UserRequest.user_name)) == lowered),
        select(col(UserRequest.number)).where(func.lower(col(UserRequest.email)) == lowered),
    )


def _submitter(session: Session, key: str) -> str:
    return get_user_request(session, key).created_by


DOCUMENT_TYPE = wf.register(
    wf.DocumentType(
        name=DOC_TYPE,
        title="User request",
        attributes=_attributes,
        submitter=_submitter,
        on_approved=_on_approved,
        on_rejected=_on_rejected,
        on_change_requested=lambda s, a, k, c: _on_returned(s, a, k, c, "returned for change"),
        on_recalled=lambda s, a, k: _on_returned(s, a, k, None, "recalled"),
        on_started=_on_started,
        automated={"provision": _auto_provision},
        describe=_describe,
        describe_many=describe_many,
        matching=matching,
        fields=ATTRIBUTE_FIELDS,
    )
)
