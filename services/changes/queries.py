"""Reads: customers and their proposals, the views of them, lists, counts, the edit form's context."""

from __future__ import annotations

from sqlalchemy import and_, func
from sqlmodel import Session, col, select

from models.changes import OPEN_STATES, ChangeLine, ChangeProposal, LineDecision, ProposalState
from models.core import AuditEvent
from models.customer import Customer
from models.workflow import WorkflowDefinition
from services import audit, customers
from services.changes.settings import enabled_fields
from services.changes.table import DOC_TYPE, SEQUENCE, P
from services.changes.values import display_raw, encode, plain_value
from services.changes.views import (
    EditContext,
    FieldState,
    LineView,
    ProposalRow,
    ProposalView,
    message,
    status,
)
from services.errors import NotFound, ValidationFailed
from services.permissions import Actor, require
from services.text import clean

ProposalKey = tuple[int | None, str, int]

# ---------------------------------------------------------------------------- lookups


def find_customer(session: Session, account: str, *, lock: bool = False) -> Customer:
    """A customer by account (as given, else upper-cased). ``lock``: ``SELECT ... FOR UPDATE``, read
    afresh (the write phase); without it, no lock (the plan phase of a phased write)."""
    key = clean(account)
    for candidate in dict.fromkeys((key, key.upper())):
        query = select(Customer).where(col(Customer.account) == candidate)
        if lock:
            query = query.with_for_update().execution_options(populate_existing=True)
        c = session.exec(query).first()
        if c is not None:
            return c
    raise NotFound(f"no customer {account!r}")


def customer_and_proposal(
    session: Session, account: str, *, lock: bool = False
) -> tuple[Customer, ChangeProposal | None]:
    """``find_customer`` and ``open_proposal`` in one statement: the customer with its open
    proposal outer-joined (at most one: uq_changeproposal_open_customer), both read afresh.
    ``lock``: ``SELECT ... FOR UPDATE OF customer`` (the write phase)."""
    key = clean(account)
    for candidate in dict.fromkeys((key, key.upper())):
        query = (
            select(Customer, ChangeProposal)
            .outerjoin(
                ChangeProposal,
                and_(col(ChangeProposal.customer_id) == col(Customer.id), col(ChangeProposal.state).in_(OPEN_STATES)),
            )
            .where(col(Customer.account) == candidate)
            .execution_options(populate_existing=True)
        )
        if lock:
            query = query.with_for_update(of=Customer)
        row = session.exec(query).first()
        if row is not None:
            return row[0], row[1]
    raise NotFound(f"no customer {account!r}")


def lock_customer(session: Session, account: str) -> Customer:
    return find_customer(session, account, lock=True)


def proposal_key(p: ChangeProposal | None) -> ProposalKey | None:
    """What a plan compares to see whether a proposal moved meanwhile."""
    return None if p is None else (p.id, p.state, p.version)


def open_proposal(session: Session, customer_id: int | None) -> ChangeProposal | None:
    return session.exec(
        select(ChangeProposal)
        .where(col(ChangeProposal.customer_id) == customer_id, col(ChangeProposal.state).in_(OPEN_STATES))
        .execution_options(populate_existing=True)
    ).first()


def lines(session: Session, p: ChangeProposal) -> list[ChangeLine]:
    """The proposal's lines in the customer form's field order."""
    rows = session.exec(
        select(ChangeLine).where(col(ChangeLine.proposal_id) == p.id).execution_options(populate_existing=True)
    ).all()
    order = {f: i for i, f in enumerate(customers.FIELDS)}
    return sorted(rows, key=lambda x: order.get(x.field, 99))


def by_number(session: Session, number: str) -> ChangeProposal:
    p = session.exec(
        select(ChangeProposal)
        .where(col(ChangeProposal.number) == clean(number).upper())
        .execution_options(populate_existing=True)
    ).first()
    if p is None:
        raise NotFound(f"no change proposal {number!r}")
    return p


def find(session: Session, key: str) -> ChangeProposal:
    """By proposal number (CHG-...) or customer account: its open proposal, else its latest."""
    key = clean(key).upper()
    if key.startswith(SEQUENCE[0]):
        return by_number(session, key)
    c = session.exec(select(Customer).where(col(Customer.account) == key)).first()
    if c is None:
        raise NotFound(f"no customer {key!r} and no change proposal with that number")
    p = (
        open_proposal(session, c.id)
        or session.exec(
            select(ChangeProposal)
            .where(col(ChangeProposal.customer_id) == c.id)
            .order_by(col(ChangeProposal.id).desc())
        ).first()
    )
    if p is None:
        raise NotFound(f"customer {c.account} has no proposed changes")
    return p


def last_saver(session: Session, account: str) -> str:
    e = session.exec(
        select(AuditEvent)
        .where(col(AuditEvent.entity_type) == "customer", col(AuditEvent.entity_key) == account)
        .order_by(col(AuditEvent.id).desc())
    ).first()
    return f"{e.operator} at {e.at:%Y-%m-%d %H:%M}" if e else "someone else"


def proposers(session: Session, p: ChangeProposal) -> set[str]:
    """Who may not decide ``p``: its submitter and everyone who proposed one of its lines."""
    names = {x.proposed_by for x in lines(session, p)}
    if p.submitted_by:
        names.add(p.submitted_by)
    return names


def workflow_possible(session: Session) -> bool:
    """Whether a customer change workflow could start (an active definition exists): lets bulk imports
    skip asking the engine for each of thousands of proposals when none is active."""
    return (
        session.exec(
            select(WorkflowDefinition.id).where(
                col(WorkflowDefinition.doc_type) == DOC_TYPE,
                col(WorkflowDefinition.active) == True,  # noqa: E712
            )
        ).first()
        is not None
    )


# ---------------------------------------------------------------------------- views


def proposal_view(session: Session, p: ChangeProposal, customer: Customer | None = None) -> ProposalView:
    c = customer or session.get(Customer, p.customer_id)
    rows = lines(session, p)
    current = customers.customer_values(c) if c else {}
    views = []
    for x in rows:
        cur = encode(x.field, current[x.field]) if c else x.original_value
        conflict = x.decision == LineDecision.CONFLICT
        views.append(
            LineView(
                field=x.field,
                label=customers.FIELDS[x.field].label,
                original=display_raw(x.field, x.original_value),
                proposed=display_raw(x.field, x.proposed_value),
                current=display_raw(x.field, x.current_at_decision if conflict else cur),
                conflict=conflict or (p.state in OPEN_STATES and cur != x.original_value),
                decision=x.decision,
                proposed_by=x.proposed_by,
                proposed_at=x.proposed_at,
                decided_by=x.decided_by,
                comment=x.comment,
            )
        )
    return ProposalView(
        number=p.number,
        account=p.account,
        customer_name=c.name if c else "",
        state=p.state,
        status=status(p.state),
        source=p.source,
        created_by=p.created_by,
        created_at=p.created_at,
        submitted_by=p.submitted_by,
        submitted_at=p.submitted_at,
        decided_by=p.decided_by,
        decided_at=p.decided_at,
        reason=p.reason,
        workflow_instance_id=p.workflow_instance_id,
        version=p.version,
        lines=views,
        conflicts=sum(1 for v in views if v.conflict),
        message=message(p, rows),
    )


def show_proposal(session: Session, actor: Actor, key: str) -> ProposalView:
    """A customer's open proposal (else its latest), or a proposal by number: lines with original/proposed/current."""
    require(actor, "changes.view")
    return proposal_view(session, find(session, key))


def customer_status(session: Session, customer_id: int) -> str:
    p = open_proposal(session, customer_id)
    return status(p.state) if p else ""


def waiting_numbers(session: Session, actor: Actor) -> set[str]:
    """The proposals with a work item of the actor's (the customer change workflow)."""
    from services import workflow  # the engine, on first use: reading proposals does not need it

    return {item.doc_key for item in workflow.list_work(session, actor, mine=True, doc_type=DOC_TYPE)}


def list_proposals(
    session: Session, actor: Actor, *, state: str | None = None, waiting_for_me: bool = False, limit: int = 500
) -> list[ProposalRow]:
    """Proposals, newest first; ``waiting_for_me``: submitted ones this operator may decide now."""
    from services import workflow

    require(actor, "changes.view")
    query = select(ChangeProposal, Customer.name).join(Customer, col(Customer.id) == col(ChangeProposal.customer_id))
    if state and state.lower() != "all":
        try:
            st = ProposalState.parse(state)
        except ValueError as exc:
            raise ValidationFailed({"status": str(exc)}) from None
        query = query.where(col(ChangeProposal.state) == st.value)
    if waiting_for_me:
        query = query.where(col(ChangeProposal.state) == P.SUBMITTED.value)
    rows = session.exec(query.order_by(col(ChangeProposal.id).desc()).limit(max(1, min(limit, 10_000)))).all()
    ids = [p.id for p, _ in rows]
    by_proposal: dict[int | None, list[ChangeLine]] = {}
    if ids:
        for x in session.exec(select(ChangeLine).where(col(ChangeLine.proposal_id).in_(ids))).all():
            by_proposal.setdefault(x.proposal_id, []).append(x)
    work = waiting_numbers(session, actor) if waiting_for_me else set()
    out = []
    for p, name in rows:
        mine = by_proposal.get(p.id, [])
        if waiting_for_me:
            if p.workflow_instance_id is not None and p.number not in work:
                if workflow.active_instance(session, DOC_TYPE, p.number) is not None:
                    continue
            if p.workflow_instance_id is None and not actor.can("changes.decide"):
                continue
            if actor.user_name in ({x.proposed_by for x in mine} | {p.submitted_by}):
                continue
        out.append(
            ProposalRow(
                number=p.number,
                account=p.account,
                customer_name=name,
                state=p.state,
                lines=len(mine),
                fields=", ".join(sorted(x.field for x in mine)),
                created_by=p.created_by,
                submitted_by=p.submitted_by,
                submitted_at=p.submitted_at,
                decided_by=p.decided_by,
                source=p.source,
            )
        )
    return out


def edit_context(session: Session, actor: Actor, account: str) -> EditContext:
    """Everything the customer detail / edit form shows: values, which need approval, locks, the proposal."""
    require(actor, "customer.view")
    c = customers.get_customer(session, account)
    enabled = enabled_fields(session)
    p = open_proposal(session, c.id)
    view = proposal_view(session, p, c) if p else None
    proposed = {x.field: x.proposed for x in view.lines} if view else {}
    locked = (enabled | set(proposed)) if p is not None and p.state == P.SUBMITTED else frozenset()
    values = customers.customer_values(c)
    fields = [
        FieldState(
            name=n,
            label=s.label,
            kind=s.kind,
            max_length=s.max_length,
            choices=list(s.choices),
            value=("yes" if values[n] else "no") if s.kind == "bool" else str(plain_value(n, values[n])),
            needs_approval=n in enabled,
            locked=n in locked,
            proposed=proposed.get(n),
        )
        for n, s in customers.FIELDS.items()
    ]
    waiting = False
    if p is not None and p.state == P.SUBMITTED and actor.user_name not in proposers(session, p):
        waiting = p.number in waiting_numbers(session, actor) if p.workflow_instance_id else actor.can("changes.decide")
    shown = status(p.state) if p else ""
    return EditContext(
        customer=customers.customer_view(c, shown),
        status=shown,
        fields=fields,
        proposal=view,
        history=audit.history(session, "customer", c.account),
        can_edit=actor.can("customer.edit"),
        can_submit=actor.can("changes.submit"),
        waiting_for_me=waiting,
    )


def count_open(session: Session) -> dict[str, int]:
    rows = session.exec(
        select(ChangeProposal.state, func.count())
        .where(col(ChangeProposal.state).in_(OPEN_STATES))
        .group_by(col(ChangeProposal.state))
    ).all()
    return {s: n for s, n in rows}
