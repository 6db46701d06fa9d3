"""The workflow's two process tables (instances and work items), their wording, and their movers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from models.workflow import InstanceStatus, ItemStatus, WorkflowInstance, WorkItem
from services import transitions
from services.workflow.doctypes import doc_label

IS, ITS = InstanceStatus, ItemStatus

# (action, from, to, permission, wording): None as "to": the status stays (a claim, a move to the next step)
INSTANCE_TRANSITIONS = transitions.table(
    "workflow_instance",
    [
        ("claim", {IS.RUNNING}, None, None, "act on"),
        ("advance", {IS.RUNNING}, None, None, "move on"),
        ("approve", {IS.RUNNING}, IS.APPROVED, None, "approve"),
        ("reject", {IS.RUNNING}, IS.REJECTED, None, "reject"),
        ("request_change", {IS.RUNNING}, IS.CHANGE_REQUESTED, None, "send back for changes"),
        ("resubmit", {IS.CHANGE_REQUESTED}, IS.RUNNING, None, "resubmit"),
        ("recall", {IS.RUNNING, IS.CHANGE_REQUESTED}, IS.RECALLED, None, "recall"),
    ],
)
ITEM_TRANSITIONS = transitions.table(
    "work_item",
    [
        ("approve", {ITS.OPEN}, ITS.APPROVED, None, "approve"),
        ("reject", {ITS.OPEN}, ITS.REJECTED, None, "reject"),
        ("request_change", {ITS.OPEN}, ITS.CHANGE_REQUESTED, None, "request a change on"),
        ("delegate", {ITS.OPEN}, ITS.DELEGATED, None, "delegate"),
        ("escalate", {ITS.OPEN}, ITS.ESCALATED, None, "escalate"),
        ("cancel", {ITS.OPEN}, ITS.CANCELED, None, "cancel"),
    ],
)
ENDED = (IS.APPROVED.value, IS.REJECTED.value, IS.RECALLED.value)
LIVE = (IS.RUNNING.value, IS.CHANGE_REQUESTED.value)
NOT_COUNTED = (ITS.DELEGATED.value, ITS.ESCALATED.value, ITS.CANCELED.value)
DECIDED = (ITS.APPROVED.value, ITS.REJECTED.value, ITS.CHANGE_REQUESTED.value)


def at(t: datetime | None) -> str:
    return f"{t:%Y-%m-%d %H:%M}" if t else "?"


def decisive_item(session: Session, instance_id: int | None, activation: int | None = None) -> WorkItem | None:
    """The last decided item of an instance (of one step activation when given)."""
    query = select(WorkItem).where(col(WorkItem.instance_id) == instance_id, col(WorkItem.status).in_(DECIDED))
    if activation is not None:
        query = query.where(col(WorkItem.activation) == activation)
    return session.exec(query.order_by(col(WorkItem.decided_at).desc(), col(WorkItem.id).desc())).first()


def explain_instance(session: Session, inst: WorkflowInstance) -> str:
    label = doc_label(inst)
    last = decisive_item(session, inst.id)
    by = f" by {last.decided_by}" if last is not None and last.decided_by else ""
    if inst.status == IS.APPROVED:
        return f"{label}: its workflow is finished already (approved, {at(inst.ended_at)})"
    if inst.status == IS.REJECTED:
        return f"{label} was rejected already{by} ({at(inst.ended_at)})"
    if inst.status == IS.CHANGE_REQUESTED:
        return f"{label} was sent back to {inst.submitter} for changes{by}; it waits for resubmission"
    if inst.status == IS.RECALLED:
        return f"{label} was recalled by its submitter {inst.submitter} ({at(inst.ended_at)})"
    return f"{label} was changed by someone else meanwhile: reread and try again"


def explain_item(session: Session, item: WorkItem) -> str:
    n = f"work item {item.id}"
    st = item.status
    if st in DECIDED:
        what = {"approved": "approved", "rejected": "rejected", "change_requested": "sent back for changes"}[st]
        return f"{n} was already {what} by {item.decided_by} ({at(item.decided_at)})"
    if st == ITS.DELEGATED:
        nxt = session.exec(
            select(WorkItem)
            .where(
                col(WorkItem.instance_id) == item.instance_id,
                col(WorkItem.activation) == item.activation,
                col(WorkItem.delegated_from) == item.assignee,
                col(WorkItem.id) > item.id,
            )
            .order_by(col(WorkItem.id))
        ).first()
        to = f" to {nxt.assignee}" if nxt else ""
        return f"{n} was delegated by {item.assignee}{to} ({at(item.decided_at)})"
    if st == ITS.ESCALATED:
        return f"{n} was escalated after its time limit ({at(item.decided_at)}): it is no longer {item.assignee}'s"
    if st == ITS.CANCELED:
        inst = session.get(WorkflowInstance, item.instance_id)
        if inst is not None and inst.status in (IS.RECALLED, IS.CHANGE_REQUESTED):
            return f"{n} is closed: " + explain_instance(session, inst)
        decided = decisive_item(session, item.instance_id, item.activation)
        if decided is not None:
            return (
                f"{n} is closed: step '{item.step_name}' was already decided "
                f"({decided.status.replace('_', ' ')} by {decided.decided_by}, {at(decided.decided_at)})"
            )
        return f"{n} is closed: {item.comment or 'the step was decided without it'}"
    return f"{n} was changed by someone else meanwhile: reread and try again"


# filed with services.transitions by the package (services/workflow/__init__.py), whose module
# name places them in ``regdesk processes``
INSTANCE_PROCESS = transitions.Process(
    name="workflow_instance",
    title="Workflow instance",
    model=WorkflowInstance,
    states=tuple(IS),
    transitions=INSTANCE_TRANSITIONS,
    entity="workflow",
    initial=(IS.RUNNING,),
    key="id",
    explain=lambda s, inst, action: (
        f"cannot {INSTANCE_TRANSITIONS[action].wording} {doc_label(inst)}: " + explain_instance(s, inst)
    ),
    label=lambda inst: f"workflow instance {inst.id} ({doc_label(inst)})",
)
ITEM_PROCESS = transitions.Process(
    name="work_item",
    title="Work item",
    model=WorkItem,
    states=tuple(ITS),
    transitions=ITEM_TRANSITIONS,
    entity="work_item",
    initial=(ITS.OPEN,),
    key="id",
    explain=lambda s, item, _action: explain_item(s, item),
    label=lambda item: f"work item {item.id}",
)


def move_instance(session: Session, inst: WorkflowInstance, action: str, **values: Any) -> None:
    """Move the instance (services/transitions.py: check, write lock, compare-and-set)."""
    transitions.move(session, INSTANCE_PROCESS, inst, action, **values)


def move_item(session: Session, item: WorkItem, action: str, **values: Any) -> None:
    transitions.move(session, ITEM_PROCESS, item, action, **values)
