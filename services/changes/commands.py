"""Writing proposals: edit a customer (fields saved or proposed), discard, submit, recall.

Phased (services/store.py): each command plans on the unlocked customer, then ``lock_planned``
takes the write lock, locks the customer and replans when it or its open proposal moved.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col

from models.changes import ChangeLine, ChangeProposal, LineDecision
from models.core import NumberSequence
from models.customer import Customer
from services import audit, customers, sequences, transitions
from services.changes.queries import (
    customer_and_proposal,
    find_customer,
    last_saver,
    lines,
    open_proposal,
    proposal_key,
    proposal_view,
)
from services.changes.settings import enabled_fields
from services.changes.table import DOC_TYPE, ENTITY, PENDING_STATUS, PROCESS, SEQUENCE, P, transition
from services.changes.values import display, encode, parse_field
from services.changes.views import EditResult, ProposalView
from services.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from services.permissions import Actor, require
from services.store import Replan, begin_write, now, writes
from services.text import clean, normalize_company, normalize_email


def lock_planned(
    session: Session, c: Customer, p: ChangeProposal | None, what: str
) -> tuple[Customer, ChangeProposal | None]:
    """The end of a plan: take the write lock, lock the customer, and replan (services.store.Replan)
    when the customer or its open proposal changed since the plan read them."""
    planned = (c.version, proposal_key(p))
    begin_write(session)
    c, fresh = customer_and_proposal(session, c.account, lock=True)
    if (c.version, proposal_key(fresh)) != planned:
        raise Replan(f"customer {c.account} changed while the {what} was planned")
    return c, fresh


def ensure_sequence(session: Session) -> None:
    """The CHG- number sequence, made on first use."""
    if session.get(NumberSequence, "change") is not None:
        return
    try:
        with session.begin_nested():
            sequences.ensure_defaults(session, {"change": SEQUENCE})
    except IntegrityError:  # another transaction created it first
        pass


def _new_proposal(session: Session, actor: Actor, c: Customer, source: str = "edit") -> ChangeProposal:
    assert c.id is not None  # loaded from the store
    ensure_sequence(session)
    current = now(session)
    p = ChangeProposal(
        number=sequences.next_number(session, "change"),
        customer_id=c.id,
        account=c.account,
        state=P.NOT_SUBMITTED.value,
        created_at=current,
        created_by=actor.user_name,
        updated_at=current,
        source=source,
    )
    session.add(p)
    session.flush()
    audit.record(
        session, actor, ENTITY, p.number, "created", after={"customer": c.account, "state": p.state, "source": source}
    )
    return p


def put_lines(session: Session, actor: Actor, p: ChangeProposal, c: Customer, values: dict[str, Any]) -> list[str]:
    """Add or replace the lines of ``values`` (typed, each differing from the customer); returns the fields changed."""
    assert p.id is not None  # flushed when it was made
    existing = {x.field: x for x in lines(session, p)}
    current = customers.customer_values(c)
    changed: list[str] = []
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for field, value in values.items():
        proposed = encode(field, value)
        line = existing.get(field)
        if line is not None and line.proposed_value == proposed:
            continue
        before[field] = None if line is None else json.loads(line.proposed_value)
        after[field] = json.loads(proposed)
        if line is None:
            line = ChangeLine(
                proposal_id=p.id,
                field=field,
                original_value=encode(field, current[field]),
                proposed_value=proposed,
                proposed_by=actor.user_name,
                proposed_at=now(session),
            )
        else:  # a later edit of the same field replaces its line (the original stays the customer's value now)
            line.original_value = encode(field, current[field])
            line.proposed_value = proposed
            line.proposed_by = actor.user_name
            line.proposed_at = now(session)
        session.add(line)
        changed.append(field)
    if changed:
        session.flush()
        audit.record(
            session,
            actor,
            ENTITY,
            p.number,
            "lines proposed",
            before=before,
            after=after,
            comment=f"customer {c.account}",
        )
    return changed


def update_customer(
    session: Session,
    actor: Actor,
    c: Customer,
    values: dict[str, Any],
    *,
    action: str = "updated",
    comment: str | None = None,
) -> None:
    """Write typed ``values`` to the customer (conditional on its version) with one audit event."""
    if not values:
        return
    before = {k: getattr(c, k) for k in values}
    extra: dict[str, Any] = {}
    if "name" in values:
        extra["name_normalized"] = normalize_company(values["name"])
    if "email" in values:
        extra["email_normalized"] = normalize_email(values["email"])
    result = session.execute(
        update(Customer)
        .where(col(Customer.id) == c.id, col(Customer.version) == c.version)
        .values(**values, **extra, version=c.version + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]  # execute() is typed Result; an UPDATE's is a CursorResult
        raise Conflict(
            f"customer {c.account} was changed by {last_saver(session, c.account)} meanwhile: reload and try again"
        )
    # the row as written, without reading it back: the values are typed as stored (validated)
    for key, value in {**values, **extra, "version": c.version + 1}.items():
        set_committed_value(c, key, value)
    audit.record(session, actor, "customer", c.account, action, before=before, after=dict(values), comment=comment)


def _start_workflow(session: Session, actor: Actor, p: ChangeProposal, comment: str | None = None) -> int | None:
    from services import workflow

    if workflow.active_instance(session, DOC_TYPE, p.number) is not None:  # sent back for changes: same step again
        instance = workflow.resubmit(session, actor, DOC_TYPE, p.number, comment)
    else:
        instance = workflow.submit(session, actor, DOC_TYPE, p.number, comment)
    if instance is not None and instance != p.workflow_instance_id:
        session.execute(
            update(ChangeProposal)
            .where(col(ChangeProposal.id) == p.id)
            .values(workflow_instance_id=instance)
            .execution_options(synchronize_session=False)
        )
        session.refresh(p)
    return instance


def submit_proposal(session: Session, actor: Actor, p: ChangeProposal, comment: str | None = None) -> int | None:
    """Not submitted -> Submitted, then start the workflow (no-op workflow: any approver decides)."""
    rows = lines(session, p)
    if not rows:
        raise InvalidTransition(f"{p.number} ({p.account}) has no lines to submit")
    transition(session, p, "submit", P.SUBMITTED, submitted_by=actor.user_name, submitted_at=now(session))
    audit.record(
        session,
        actor,
        ENTITY,
        p.number,
        "submitted",
        before={"state": P.NOT_SUBMITTED.value},
        after={"state": P.SUBMITTED.value, "fields": [x.field for x in rows]},
        comment=comment,
    )
    audit.record(
        session,
        actor,
        "customer",
        p.account,
        "changes submitted",
        after={"proposal": p.number, "fields": [x.field for x in rows]},
        comment=PENDING_STATUS,
    )
    return _start_workflow(session, actor, p, comment)


# ---------------------------------------------------------------------------- edit


@writes(phased=True)
def edit_customer(
    session: Session, actor: Actor, account: str, values: dict[str, Any], expected_version: int | None = None
) -> EditResult:
    """Save a customer's fields: the ones needing approval become proposal lines, the rest are saved.

    Phased: everything is read, validated and compared without a lock; the write phase locks
    the customer and replans (services.store.Replan) if it or its proposal changed meanwhile."""
    require(actor, "customer.edit")
    c, p = customer_and_proposal(session, account)
    if expected_version is not None and c.version != expected_version:
        raise Conflict(
            f"customer {c.account} was changed by {last_saver(session, c.account)} since you opened it: "
            "reload and try again"
        )
    if not values:
        raise ValidationFailed({"values": "nothing to save: give FIELD=VALUE"})
    typed = customers.validate_values(session, values, self_account=c.account)
    current = customers.customer_values(c)
    changed = {k: v for k, v in typed.items() if encode(k, v) != encode(k, current[k])}
    unchanged = [k for k in typed if k not in changed]
    enabled = enabled_fields(session)
    if p is not None and p.state == P.SUBMITTED:
        locked = enabled | {x.field for x in lines(session, p)}
        refused = {k: f"locked: {PENDING_STATUS.lower()} ({p.number})" for k in changed if k in locked}
        if refused:
            raise ValidationFailed(
                refused,
                message=(
                    f"customer {c.account}: {PENDING_STATUS.lower()} ({p.number}, submitted by {p.submitted_by} on "
                    f"{p.submitted_at:%Y-%m-%d %H:%M}); {', '.join(refused)} "
                    f"{'is' if len(refused) == 1 else 'are'} locked until it is decided"
                ),
            )
    c, p = lock_planned(session, c, p, "edit")
    direct = {k: v for k, v in changed.items() if k not in enabled}
    propose = {k: v for k, v in changed.items() if k in enabled}
    update_customer(session, actor, c, direct)
    proposed: dict[str, str] = {}
    if propose:
        p = p or _new_proposal(session, actor, c)
        put_lines(session, actor, p, c, propose)
        proposed = {k: display(k, v) for k, v in propose.items()}
    parts = []
    if direct:
        parts.append(f"{len(direct)} change{'s' if len(direct) != 1 else ''} saved")
    if proposed:
        parts.append(
            f"{len(proposed)} change{'s' if len(proposed) != 1 else ''} proposed for approval "
            f"({', '.join(proposed)}): not submitted"
        )
    if not parts:
        parts.append("nothing changed")
    view = proposal_view(session, p, c) if p is not None else None
    return EditResult(
        account=c.account,
        saved={k: display(k, v) for k, v in direct.items()},
        proposed=proposed,
        unchanged=unchanged,
        version=c.version,
        proposal=view,
        message="; ".join(parts),
    )


# ---------------------------------------------------------------------------- discard / submit / recall


def _open_for(
    session: Session, actor: Actor, account: str, action: str, missing: str = ""
) -> tuple[Customer, ChangeProposal]:
    """The plan's start of discard/submit/recall: the customer and its open proposal, which ``action`` suits."""
    require(actor, "changes.submit")
    c = find_customer(session, account)
    p = open_proposal(session, c.id)
    if p is None:
        raise NotFound(f"customer {c.account} has no proposed changes{missing}")
    transitions.check(session, PROCESS, p, action)
    return c, p


@writes(phased=True)
def discard(session: Session, actor: Actor, account: str, field: str | None = None) -> ProposalView | None:
    """Discard one line (``field``) or all lines of the customer's unsubmitted proposal."""
    c, p = _open_for(session, actor, account, "discard")
    rows = lines(session, p)
    if field is not None:
        name = parse_field(field)
        gone = [x for x in rows if x.field == name]
        if not gone:
            raise NotFound(f"{p.number} has no proposed change of {name} (lines: {', '.join(x.field for x in rows)})")
    else:
        gone = rows
    c, fresh = lock_planned(session, c, p, "discard")
    assert fresh is not None  # lock_planned replans when it is gone
    session.execute(delete(ChangeLine).where(col(ChangeLine.id).in_([x.id for x in gone])))
    audit.record(
        session,
        actor,
        ENTITY,
        fresh.number,
        "discarded" if field is None else "line discarded",
        before={x.field: json.loads(x.proposed_value) for x in gone},
        comment=f"customer {c.account}",
    )
    if len(gone) == len(rows):
        transition(session, fresh, "discard", P.DISCARDED)
        return None
    return proposal_view(session, fresh, c)


@writes(phased=True)
def submit(session: Session, actor: Actor, account: str, comment: str | None = None) -> ProposalView:
    """Workflow > Submit: the proposal goes to approval; the customer shows "Changes pending approval"."""
    c, p = _open_for(session, actor, account, "submit", " to submit")
    if not lines(session, p):
        raise InvalidTransition(f"{p.number} ({p.account}) has no lines to submit")
    from services import workflow  # noqa: F401  # the workflow's first-use imports: before the write lock

    c, fresh = lock_planned(session, c, p, "submit")
    assert fresh is not None  # lock_planned replans when it is gone
    submit_proposal(session, actor, fresh, clean(comment, multiline=True) or None)
    return proposal_view(session, fresh, c)


@writes(phased=True)
def recall(session: Session, actor: Actor, account: str, comment: str | None = None) -> ProposalView:
    """The submitter takes a submitted proposal back (Submitted -> Not submitted)."""
    from services import workflow

    c, p = _open_for(session, actor, account, "return")
    if p.submitted_by != actor.user_name:
        raise PermissionDenied(f"only the submitter ({p.submitted_by}) may recall {p.number}")
    in_workflow = p.workflow_instance_id is not None and workflow.active_instance(session, DOC_TYPE, p.number)
    c, fresh = lock_planned(session, c, p, "recall")
    assert fresh is not None  # lock_planned replans when it is gone
    if in_workflow:
        workflow.recall(session, actor, DOC_TYPE, fresh.number, comment)  # calls documents.on_recalled
        session.refresh(fresh)
    else:
        return_to_proposer(session, actor, fresh, "recalled", comment)
    return proposal_view(session, fresh, c)


def return_to_proposer(session: Session, actor: Actor, p: ChangeProposal, what: str, comment: str | None) -> None:
    """Submitted -> Not submitted (recalled, or a change requested): every line pending again."""
    session.execute(
        update(ChangeLine)
        .where(col(ChangeLine.proposal_id) == p.id)
        .values(decision=LineDecision.PENDING.value, decided_by=None, decided_at=None, comment=None)
        .execution_options(synchronize_session=False)
    )
    transition(session, p, "return", P.NOT_SUBMITTED)
    audit.record(
        session,
        actor,
        ENTITY,
        p.number,
        what,
        before={"state": P.SUBMITTED.value},
        after={"state": P.NOT_SUBMITTED.value},
        comment=clean(comment, multiline=True) or None,
    )
