"""The workflow engine's document type ``case``: what a definition's conditions read of a case,
who submitted it, its summary in My work, and the engine's callbacks onto the case's states."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, union
from sqlmodel import Session, col

from models.cases import Case
from models.customer import Customer
from services import workflow as wf
from services.keyed_search import found
from services.permissions import Actor
from services.search import dialect_of
from services.text import clean

from .commands import mark_approved, mark_rejected, mark_returned, mark_submitted
from .queries import get_case
from .table import DOC_TYPE


def _attributes(session: Session, key: str) -> dict[str, Any]:
    case = get_case(session, key)
    customer = session.get(Customer, case.customer_id)
    return {
        "number": case.number,
        "status": case.status,
        "category": case.category,
        "priority": case.priority,
        "customer_account": customer.account if customer else "",
        "profile": case.profile or "",
        "created_by": case.created_by,
    }


def _submitter(session: Session, key: str) -> str:
    case = get_case(session, key)
    return case.submitted_by or case.created_by


def describe_many(session: Session, keys: list[str]) -> dict[str, str]:
    """My work's Summary of cases: "Fabrikam, Inc.: Damaged delivery (Complaint, High)"; one query
    (SQLAlchemy's ``select``: sqlmodel's types at most four columns)."""
    rows = session.execute(
        select(col(Case.number), col(Case.title), col(Case.category), col(Case.priority), col(Customer.name))
        .join(Customer, col(Customer.id) == col(Case.customer_id))
        .where(col(Case.number).in_(keys))
    ).all()
    return {number: f"{name}: {title} ({category}, {priority})" for number, title, category, priority, name in rows}


def matching(session: Session, term: str, customers: Any) -> Any:
    """My work's search of cases: what the Cases list's search finds (the case's number, title or
    contact, through its indexes; or its customer among ``customers``)."""
    own = found(dialect_of(session), Case, term, [("number", term.upper())])
    return union(
        select(col(Case.number)).where(col(Case.id).in_(own)),
        select(col(Case.number)).where(col(Case.customer_id).in_(customers)),
    )


def _describe(session: Session, key: str) -> str:
    return describe_many(session, [key]).get(key, "")


def _on_started(session: Session, actor: Actor, key: str) -> None:
    mark_submitted(session, actor, get_case(session, key))


def _on_approved(session: Session, actor: Actor, key: str) -> None:
    mark_approved(session, actor, get_case(session, key))


def _on_rejected(session: Session, actor: Actor, key: str, reason: str) -> None:
    mark_rejected(session, actor, get_case(session, key), clean(reason, multiline=True) or "rejected in the workflow")


def _on_change_requested(session: Session, actor: Actor, key: str, comment: str) -> None:
    mark_returned(session, actor, get_case(session, key), "change requested", clean(comment, multiline=True) or None)


def _on_recalled(session: Session, actor: Actor, key: str) -> None:
    mark_returned(session, actor, get_case(session, key), "recalled", None)


DOCUMENT_TYPE = wf.register(
    wf.DocumentType(
        name=DOC_TYPE,
        title="Customer request case",
        attributes=_attributes,
        submitter=_submitter,
        on_approved=_on_approved,
        on_rejected=_on_rejected,
        on_change_requested=_on_change_requested,
        on_recalled=_on_recalled,
        on_started=_on_started,
        describe=_describe,
        describe_many=describe_many,
        matching=matching,
    )
)
