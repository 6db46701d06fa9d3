"""The ``customer_change`` document type: what the workflow engine reads of a proposal and the
callbacks by which its decisions reach the proposal (registered at import of services.changes)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from sqlalchemy import union
from sqlmodel import Session, col, select

from models.changes import ChangeLine, ChangeProposal
from models.customer import Customer
from services import customers
from services.changes.commands import return_to_proposer
from services.changes.decisions import apply, close_rejected
from services.changes.queries import by_number, lines
from services.changes.table import DOC_TYPE, P
from services.permissions import Actor
from services.text import clean

ATTRIBUTES = (
    "number",
    "account",
    "customer_group",
    "source",
    "fields",
    "line_count",
    "proposer",
    "credit_limit",
    "credit_limit_increase",
)


def _doc(session: Session, key: str) -> tuple[ChangeProposal, Customer]:
    p = by_number(session, key)
    c = session.exec(
        select(Customer)
        .where(col(Customer.id) == p.customer_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return p, c


def attributes(session: Session, key: str) -> dict[str, Any]:
    p, c = _doc(session, key)
    rows = lines(session, p)
    proposed = {x.field: json.loads(x.proposed_value) for x in rows}
    credit = proposed.get("credit_limit")
    return {
        "number": p.number,
        "account": c.account,
        "customer_group": c.customer_group,
        "source": p.source,
        "fields": sorted(proposed),
        "line_count": len(rows),
        "proposer": p.created_by,
        "credit_limit": float(credit) if credit is not None else float(c.credit_limit),
        "credit_limit_increase": float(Decimal(credit) - c.credit_limit) if credit is not None else 0.0,
    }


def _line(account: str, name: str, fields: list[str]) -> str:
    """The inbox line: account, name and the labels of the changed fields (in the form's order)."""
    order = {f: i for i, f in enumerate(customers.FIELDS)}
    labels = [
        customers.FIELDS[f].label.lower()
        for f in sorted(fields, key=lambda f: order.get(f, 99))
        if f in customers.FIELDS
    ]
    return f"{account} {name}: {', '.join(labels)}"


def describe(session: Session, key: str) -> str:
    p = by_number(session, key)
    name = session.exec(select(Customer.name).where(col(Customer.id) == p.customer_id)).one()
    return _line(p.account, name, [x.field for x in lines(session, p)])


def describe_many(session: Session, keys: list[str]) -> dict[str, str]:
    """``describe`` for many proposals: two queries (proposals with their customers, then lines)."""
    rows = session.exec(
        select(ChangeProposal.id, ChangeProposal.number, ChangeProposal.account, Customer.name)
        .join(Customer, col(Customer.id) == col(ChangeProposal.customer_id))
        .where(col(ChangeProposal.number).in_(keys))
    ).all()
    fields: dict[int | None, list[str]] = {}
    if rows:
        for proposal_id, field in session.exec(
            select(ChangeLine.proposal_id, ChangeLine.field).where(
                col(ChangeLine.proposal_id).in_([r[0] for r in rows])
            )
        ).all():
            fields.setdefault(proposal_id, []).append(field)
    return {number: _line(account, name, fields.get(pid, [])) for pid, number, account, name in rows}


def matching(session: Session, term: str, customers: Any) -> Any:
    """My work's search of proposed changes: the proposal's number, or its customer among
    ``customers`` (those the customers' search finds); index lookups only."""
    return union(
        select(col(ChangeProposal.number)).where(col(ChangeProposal.number) == term.upper()),
        select(col(ChangeProposal.number)).where(col(ChangeProposal.customer_id).in_(customers)),
    )


def submitter(session: Session, key: str) -> str:
    p = by_number(session, key)
    return p.submitted_by or p.created_by


def on_approved(session: Session, actor: Actor, key: str) -> None:
    p, c = _doc(session, key)
    if p.state == P.SUBMITTED:
        apply(session, actor, p, c)


def on_rejected(session: Session, actor: Actor, key: str, reason: str) -> None:
    p, c = _doc(session, key)
    if p.state == P.SUBMITTED:
        close_rejected(session, actor, p, c, clean(reason, multiline=True) or "rejected in the workflow")


def on_change_requested(session: Session, actor: Actor, key: str, comment: str) -> None:
    p, _ = _doc(session, key)
    if p.state == P.SUBMITTED:
        return_to_proposer(session, actor, p, "change requested", comment)


def on_recalled(session: Session, actor: Actor, key: str) -> None:
    p, _ = _doc(session, key)
    if p.state == P.SUBMITTED:
        return_to_proposer(session, actor, p, "recalled", None)


def register_document_type() -> None:
    from services import workflow

    workflow.register(
        workflow.DocumentType(
            name=DOC_TYPE,
            title="Proposed customer change",
            attributes=attributes,
            submitter=submitter,
            on_approved=on_approved,
            on_rejected=on_rejected,
            on_change_requested=on_change_requested,
            on_recalled=on_recalled,
            describe=describe,
            describe_many=describe_many,
            matching=matching,
            fields=ATTRIBUTES,
        )
    )
