"""Running an instance: assignment, starting steps, completion policies, the end of a workflow.

Everything here runs in the caller's transaction (a command or ``tick``) and moves the
instance and its items only through the process tables (``table.move_instance/move_item``).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlmodel import Session, col, select

from models.core import Operator
from models.workflow import CompletionPolicy, StepKind, WorkflowInstance, WorkflowStep, WorkItem
from services import audit, conditions, mail
from services.errors import InvalidTransition
from services.permissions import STAFF, SYSTEM, Actor
from services.store import now
from services.workflow.doctypes import DocumentType, doc_label
from services.workflow.queries import live_items, step, steps
from services.workflow.table import IS, ITS, at, move_instance, move_item

# ------------------------------------------------------------------------ assignment


def parse_assignee(spec: str) -> tuple[str, str]:
    """ "role:approver" / "operator:admin1" -> (kind, name); ValueError when it is neither."""
    kind, sep, name = (spec or "").partition(":")
    kind, name = kind.strip().lower(), name.strip()
    if not sep or kind not in ("role", "operator") or not name:
        raise ValueError(f'{spec!r}: expected "role:NAME" or "operator:USER"')
    return kind, name


def expand(session: Session, kind: str, name: str) -> list[str]:
    """The active operators an assignee means right now (fixed on the work items)."""
    if kind == "operator":
        op = session.exec(select(Operator).where(col(Operator.user_name) == name, col(Operator.active) == True)).first()  # noqa: E712
        return [op.user_name] if op is not None and set(op.roles.split()) & STAFF else []
    ops = session.exec(
        select(Operator)
        .where(col(Operator.active) == True)  # noqa: E712
        .order_by(col(Operator.user_name))
    ).all()
    return [op.user_name for op in ops if name in op.roles.split()]


def escalation(step_: WorkflowStep) -> list[str]:
    """The step's escalation list ("role:admin", ...), in order."""
    chain: list[str] = json.loads(step_.escalation or "[]")
    return chain


def next_escalation(session: Session, chain: list[str], level: int) -> tuple[list[str], str, int]:
    """The first entry of ``chain`` from ``level`` on with somebody in it: (its operators, "kind
    name", the level after it); ([], "", len(chain)) when none has anybody."""
    while level < len(chain):
        kind, name = parse_assignee(chain[level])
        level += 1
        users = expand(session, kind, name)
        if users:
            return users, f"{kind} {name}", level
    return [], "", level


def _operator_email(session: Session, user_name: str) -> tuple[str | None, str]:
    op = session.exec(select(Operator).where(col(Operator.user_name) == user_name)).first()
    if op is None:
        return None, user_name
    return op.email, op.display_name


def notify(session: Session, template: str, item: WorkItem, inst: WorkflowInstance, **context: Any) -> bool:
    """Mail the item's assignee (False: they have no e-mail address)."""
    email, name = _operator_email(session, item.assignee)
    if not email:
        return False
    mail.enqueue(
        session,
        email,
        template,
        {
            "name": name,
            "document": doc_label(inst),
            "step": item.step_name,
            "item": item.id,
            "assigned": at(item.created_at),
            "due": f"{at(item.due_at)} UTC" if item.due_at else "no time limit",
            **context,
        },
        entity_type=inst.doc_type,
        entity_key=inst.doc_key,
    )
    return True


def record(
    session: Session, actor: Actor, inst: WorkflowInstance, what: str, /, *, comment: str | None = None, **after: Any
) -> None:
    """An event of the document's history (audit: entity = doc type, key = document key)."""
    audit.record(
        session,
        actor,
        inst.doc_type,
        inst.doc_key,
        what[:60],
        after={"workflow": inst.id, **after},
        comment=comment or None,
    )


# ------------------------------------------------------------------------ when tick looks again


def next_check(item: WorkItem, step_: WorkflowStep | None, current: datetime) -> datetime | None:
    """When ``tick`` must next look at an open item: the first moment it could act on it (its time
    limit, its overdue reminder period, or its next ``reminder_hours`` reminder); None: never."""
    times: list[datetime] = []
    limit = step_.time_limit_hours if step_ is not None else None
    every = step_.reminder_hours if step_ is not None else None
    if item.due_at is not None:
        if item.due_at > current:
            times.append(item.due_at)
        else:  # overdue and still open: one reminder per period (see deadlines._overdue)
            last = item.last_reminded_at
            period = timedelta(hours=every or limit or 24)
            times.append(last + period if last is not None and last >= item.due_at else item.due_at)
    if every and (item.due_at is None or item.due_at > current):
        times.append((item.last_reminded_at or item.created_at) + timedelta(hours=every))
    return min(times) if times else None


def schedule(item: WorkItem, step_: WorkflowStep | None, current: datetime) -> WorkItem:
    item.next_check_at = next_check(item, step_, current)
    return item


def new_item(
    inst: WorkflowInstance,
    step_: WorkflowStep,
    user: str,
    via: str,
    current: datetime,
    due: datetime | None,
    level: int,
) -> WorkItem:
    """An open item of the instance's current step activation for ``user`` (scheduled for tick)."""
    assert inst.id is not None  # the instance was flushed before its first step starts
    return schedule(
        WorkItem(
            instance_id=inst.id,
            activation=inst.activation,
            step_sequence=step_.sequence,
            step_name=step_.name,
            assignee=user,
            assigned_via=via[:120],
            created_at=current,
            due_at=due,
            escalation_level=level,
        ),
        step_,
        current,
    )


# ------------------------------------------------------------------------ running steps


def run_from(session: Session, actor: Actor, inst: WorkflowInstance, dt: DocumentType, sequence: int) -> None:
    """Start the first step at or after ``sequence`` whose condition holds; finish when none is left."""
    for s in steps(session, inst.definition_id):
        if s.sequence < sequence:
            continue
        if s.condition:
            try:
                tree = conditions.parse(s.condition)
            except conditions.ConditionError as exc:
                raise InvalidTransition(f"step '{s.name}' has a bad condition: {exc}") from None
            if not conditions.evaluate(tree, dt.attributes(session, inst.doc_key)):
                record(
                    session,
                    SYSTEM,
                    inst,
                    "workflow step skipped",
                    step=s.name,
                    comment=f"condition not met: {s.condition}",
                )
                continue
        if s.kind == StepKind.AUTOMATED:
            handler = dt.automated.get(s.action)
            if handler is None:
                raise InvalidTransition(
                    f"{doc_label(inst)}: step '{s.name}' needs the automated action "
                    f"{s.action!r}, which document type {dt.name} does not offer"
                )
            move_instance(session, inst, "advance", current_step=s.sequence)
            handler(session, SYSTEM, inst.doc_key)
            record(session, SYSTEM, inst, "workflow automated step done", step=s.name, action=s.action)
            continue
        _start_approval(session, actor, inst, s)
        return
    move_instance(session, inst, "approve", current_step=None, ended_at=now(session))
    record(session, actor, inst, "workflow approved", status=IS.APPROVED.value)
    dt.on_approved(session, actor, inst.doc_key)


def _start_approval(session: Session, actor: Actor, inst: WorkflowInstance, s: WorkflowStep) -> None:
    assignees = expand(session, s.assignee_kind, s.assignee)
    via = f"{s.assignee_kind} {s.assignee}" if s.assignee_kind == "role" else "operator"
    level = 0
    chain = escalation(s)
    if not assignees:  # nobody holds the role: straight to the escalation
        assignees, where, level = next_escalation(session, chain, 0)
        via = f"{where} (nobody in {s.assignee_kind} {s.assignee})"
    if not assignees:
        raise InvalidTransition(
            f"{doc_label(inst)}: step '{s.name}' has nobody to assign: no active operator is "
            f"{s.assignee_kind} {s.assignee}"
            + (f" (nor in the escalation {', '.join(chain)})" if chain else "")
            + "; add one, or change the workflow definition"
        )
    move_instance(session, inst, "advance", current_step=s.sequence, activation=inst.activation + 1)
    current = now(session)
    due = current + timedelta(hours=s.time_limit_hours) if s.time_limit_hours else None
    for user in assignees:
        session.add(new_item(inst, s, user, via, current, due, level))
    session.flush()
    record(session, actor, inst, "workflow step started", step=s.name, assignees=assignees, policy=s.policy, due=due)


def cancel_open(session: Session, inst: WorkflowInstance, why: str) -> None:
    for item in session.exec(
        select(WorkItem).where(col(WorkItem.instance_id) == inst.id, col(WorkItem.status) == ITS.OPEN)
    ).all():
        move_item(session, item, "cancel", comment=why, decided_at=now(session))


def outcome(policy: str, items: list[WorkItem]) -> Literal["approved", "rejected", "waiting"]:
    n = len(items)
    approved = sum(1 for i in items if i.status == ITS.APPROVED)
    rejected = sum(1 for i in items if i.status == ITS.REJECTED)
    if policy == CompletionPolicy.ALL:
        return "rejected" if rejected else ("approved" if approved == n else "waiting")
    if policy == CompletionPolicy.MAJORITY:
        if approved * 2 > n:
            return "approved"
        return "rejected" if (n - rejected) * 2 <= n else "waiting"
    return "approved" if approved else ("rejected" if rejected else "waiting")


def settle(session: Session, actor: Actor, inst: WorkflowInstance, dt: DocumentType) -> None:
    """After a decision: the step's completion policy approves it (next step), rejects the document, or waits."""
    s = step(session, inst.definition_id, inst.current_step)
    if s is None:  # pragma: no cover - a running instance is always on a step
        return
    items = live_items(session, inst)
    result = outcome(s.policy, items)
    if result == "approved":
        cancel_open(session, inst, f"step '{s.name}' approved without this item ({s.policy} policy)")
        record(session, actor, inst, "workflow step approved", step=s.name)
        run_from(session, actor, inst, dt, s.sequence + 1)
    elif result == "rejected":
        rejections = [i for i in items if i.status == ITS.REJECTED]
        reasons = [f"{i.decided_by}: {i.comment}" if len(rejections) > 1 else (i.comment or "") for i in rejections]
        finish_rejected(session, actor, inst, dt, "; ".join(reasons) or "rejected")


def finish_rejected(session: Session, actor: Actor, inst: WorkflowInstance, dt: DocumentType, reason: str) -> None:
    cancel_open(session, inst, "the document was rejected")
    move_instance(session, inst, "reject", ended_at=now(session))
    record(session, actor, inst, "workflow rejected", comment=reason, status=IS.REJECTED.value)
    dt.on_rejected(session, actor, inst.doc_key, reason)
