"""Deciding a proposal: approve all or some lines (conflicting lines are never applied), or reject it.

With a customer change workflow running, the approver's decision is a work item's decision
(the engine calls back ``documents``); without one, any approver decides directly. Nobody
decides a proposal they submitted or proposed a line of.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable

from sqlalchemy import update
from sqlmodel import Session, col, select

from models.changes import ChangeLine, ChangeProposal, LineDecision
from models.customer import Customer
from services import audit, customers, transitions
from services.changes.commands import lock_planned, update_customer
from services.changes.queries import find, find_customer, lines, open_proposal, proposal_view, proposers
from services.changes.table import DOC_TYPE, ENTITY, PROCESS, P, explain, transition
from services.changes.values import decode, display, display_raw, encode, parse_field
from services.changes.views import DecisionResult
from services.errors import Conflict, NotFound, PermissionDenied, RegdeskError, ValidationFailed
from services.permissions import Actor, require
from services.store import now, writes
from services.text import clean

if TYPE_CHECKING:  # the engine itself is imported on first use
    from services.workflow import WorkItemView


def _to_decide(session: Session, c: Customer, verb: str) -> ChangeProposal:
    """The customer's open proposal; when there is none, say who decided the last one."""
    p = open_proposal(session, c.id)
    if p is not None:
        return p
    last = session.exec(
        select(ChangeProposal).where(col(ChangeProposal.customer_id) == c.id).order_by(col(ChangeProposal.id).desc())
    ).first()
    if last is not None and last.state in (P.APPROVED, P.PARTIALLY_APPROVED, P.REJECTED):
        raise Conflict(
            f"customer {c.account} has no proposed changes to {verb}: " + (explain(last, verb) or last.state)
        )
    raise NotFound(f"customer {c.account} has no proposed changes")


def _check_decider(session: Session, actor: Actor, p: ChangeProposal, verb: str) -> None:
    transitions.check(session, PROCESS, p, verb)
    who = proposers(session, p)
    if actor.user_name in who:
        role = "submitted" if actor.user_name == p.submitted_by else "proposed changes in"
        raise PermissionDenied(
            f"{actor.user_name} cannot {verb} {p.number}: they {role} it; "
            "another approver must decide (self-approval is not allowed)"
        )


def refusal(session: Session, actor: Actor, number: str, action: str) -> str | None:
    """Why ``action`` (approve or reject) cannot decide proposal ``number`` now, in the command's
    words, or None (the command checks again when it runs). Asked before a dialog opens. The
    commands decide the customer's open proposal, so a proposal that is not it (decided, or an
    older one) is refused here: the decision would act on another."""
    require(actor, "changes.view")
    p = find(session, number)
    try:
        require(actor, "changes.decide")
        _check_decider(session, actor, p, action)
        _work_item(session, actor, p)
    except RegdeskError as exc:
        return exc.message
    return None


def _work_item(session: Session, actor: Actor, p: ChangeProposal) -> WorkItemView | None:
    """The actor's open work item on ``p`` when a workflow runs it; PermissionDenied when it is someone else's."""
    from services import workflow

    if p.workflow_instance_id is None or workflow.active_instance(session, DOC_TYPE, p.number) is None:
        return None
    for item in workflow.list_work(session, actor, mine=True, doc_type=DOC_TYPE):
        if item.doc_key == p.number:
            return item
    raise PermissionDenied(
        f"{p.number} is in the customer change workflow and has no work item assigned to "
        f"{actor.user_name}: see 'regdesk work list'"
    )


def _conflicting(c: Customer, rows: Iterable[ChangeLine]) -> list[ChangeLine]:
    current = customers.customer_values(c)
    return [x for x in rows if encode(x.field, current[x.field]) != x.original_value]


@writes(phased=True)
def approve(
    session: Session,
    actor: Actor,
    account: str,
    only: list[str] | None = None,
    comments: dict[str, str] | None = None,
    comment: str | None = None,
) -> DecisionResult:
    """Approve every line, or only the fields in ``only`` (the other lines are rejected, with ``comments``)."""
    from services import workflow

    require(actor, "changes.decide")
    c = find_customer(session, account)
    p = _to_decide(session, c, "approve")
    _check_decider(session, actor, p, "approve")
    rows = lines(session, p)
    fields = [x.field for x in rows]
    comment = clean(comment, multiline=True) or None
    comments = {parse_field(k): clean(v, multiline=True) for k, v in (comments or {}).items() if clean(v)}
    if only is not None:
        chosen = [parse_field(f) for f in only]
        missing = [f for f in chosen if f not in fields]
        if missing:
            raise ValidationFailed({f: f"not a line of {p.number} (lines: {', '.join(fields)})" for f in missing})
        if not chosen:
            raise ValidationFailed({"only": "approve at least one line, or reject the proposal"})
    else:
        chosen = fields
    approved = [x for x in rows if x.field in chosen]
    stale = _conflicting(c, approved)
    if len(stale) == len(approved):
        detail = "; ".join(
            f"{x.field} was {display_raw(x.field, x.original_value)} when proposed, "
            f"now {display(x.field, getattr(c, x.field))}"
            for x in stale
        )
        raise Conflict(
            f"nothing of {p.number} can be applied: the customer changed since the proposal ({detail}); "
            "reject it and propose again"
        )
    item = _work_item(session, actor, p)
    c, fresh = lock_planned(session, c, p, "approval")
    assert fresh is not None  # lock_planned replans when it is gone
    p = fresh
    current = now(session)
    for x in lines(session, p):
        x.decided_by, x.decided_at = actor.user_name, current
        x.comment = comments.get(x.field) or comment
        x.decision = (LineDecision.PENDING if x.field in chosen else LineDecision.REJECTED).value
        session.add(x)
    session.flush()
    if item is not None:
        workflow.approve(session, actor, item.id, comment)  # the final step calls documents.on_approved
        session.refresh(p)
    else:
        apply(session, actor, p, c)
    return _decision_result(session, p, c)


def _decision_result(session: Session, p: ChangeProposal, c: Customer) -> DecisionResult:
    view = proposal_view(session, p, c)
    applied = {x.field: x.proposed for x in view.lines if x.decision == LineDecision.APPROVED}
    rejected = [x.field for x in view.lines if x.decision == LineDecision.REJECTED]
    conflicts = [x.field for x in view.lines if x.decision == LineDecision.CONFLICT]
    if p.state == P.SUBMITTED:
        msg = f"{p.number}: your approval is recorded; the workflow waits for its next step"
    elif p.state == P.REJECTED:
        msg = f"{p.number} rejected: {p.reason}"
    else:
        msg = f"{p.number} {p.state.lower()}: {len(applied)} change{'s' if len(applied) != 1 else ''} applied to {p.account}"
        if rejected:
            msg += f"; rejected: {', '.join(rejected)}"
        if conflicts:
            msg += (
                f"; NOT applied (conflict: the customer's value changed since it was proposed): {', '.join(conflicts)}"
            )
    return DecisionResult(
        number=p.number,
        account=p.account,
        state=p.state,
        applied=applied,
        rejected=rejected,
        conflicts=conflicts,
        message=msg,
        proposal=view,
    )


def apply(session: Session, actor: Actor, p: ChangeProposal, c: Customer) -> None:
    """Final approval: apply the approved lines that do not conflict, in the caller's transaction."""
    rows = lines(session, p)
    todo = [x for x in rows if x.decision in (LineDecision.PENDING, LineDecision.APPROVED)]
    stale = {x.id for x in _conflicting(c, todo)}
    current = now(session)
    values: dict[str, Any] = {}
    for x in todo:
        x.decided_by = x.decided_by or actor.user_name
        x.decided_at = x.decided_at or current
        if x.id in stale:
            x.decision = LineDecision.CONFLICT.value
            x.current_at_decision = encode(x.field, getattr(c, x.field))
        else:
            x.decision = LineDecision.APPROVED.value
            values[x.field] = decode(x.field, x.proposed_value)
        session.add(x)
    session.flush()
    if not values:  # every line rejected or in conflict (a multi-step workflow whose customer changed meanwhile)
        close_rejected(session, actor, p, c, "no line could be applied: the customer changed since the proposal")
        return
    who = sorted({x.proposed_by for x in rows if x.field in values})
    update_customer(
        session,
        actor,
        c,
        values,
        action="change approved",
        comment=f"{p.number}: proposed by {', '.join(who)}, approved by {actor.user_name}",
    )
    target = P.APPROVED if len(values) == len(rows) else P.PARTIALLY_APPROVED
    transition(session, p, "approve", target, decided_by=actor.user_name, decided_at=current)
    audit.record(
        session,
        actor,
        ENTITY,
        p.number,
        target.value.lower(),
        before={"state": P.SUBMITTED.value},
        after={
            "state": target.value,
            "applied": sorted(values),
            "rejected": [x.field for x in rows if x.decision == LineDecision.REJECTED],
            "conflicts": [x.field for x in rows if x.decision == LineDecision.CONFLICT],
        },
    )


@writes(phased=True)
def reject(session: Session, actor: Actor, account: str, reason: str) -> DecisionResult:
    """Reject the whole proposal with a reason; the customer stays as it is."""
    from services import workflow

    require(actor, "changes.decide")
    reason = clean(reason, multiline=True)
    if not reason:
        raise ValidationFailed({"reason": "a reason is required to reject proposed changes"})
    if len(reason) > 1000:
        raise ValidationFailed({"reason": "at most 1000 characters"})
    c = find_customer(session, account)
    p = _to_decide(session, c, "reject")
    _check_decider(session, actor, p, "reject")
    item = _work_item(session, actor, p)
    c, fresh = lock_planned(session, c, p, "rejection")
    assert fresh is not None  # lock_planned replans when it is gone
    p = fresh
    if item is not None:
        workflow.reject(session, actor, item.id, reason)  # calls documents.on_rejected
        session.refresh(p)
    else:
        close_rejected(session, actor, p, c, reason)
    return _decision_result(session, p, c)


def close_rejected(session: Session, actor: Actor, p: ChangeProposal, c: Customer, reason: str) -> None:
    """Submitted -> Rejected: the pending lines rejected with it, in the caller's transaction."""
    current = now(session)
    session.execute(
        update(ChangeLine)
        .where(col(ChangeLine.proposal_id) == p.id, col(ChangeLine.decision) == LineDecision.PENDING.value)
        .values(decision=LineDecision.REJECTED.value, decided_by=actor.user_name, decided_at=current)
        .execution_options(synchronize_session=False)
    )
    transition(session, p, "reject", P.REJECTED, decided_by=actor.user_name, decided_at=current, reason=reason)
    audit.record(
        session,
        actor,
        ENTITY,
        p.number,
        "rejected",
        before={"state": P.SUBMITTED.value},
        after={"state": P.REJECTED.value},
        comment=reason,
    )
    audit.record(
        session,
        actor,
        "customer",
        c.account,
        "changes rejected",
        after={"proposal": p.number, "fields": [x.field for x in lines(session, p)]},
        comment=reason,
    )
