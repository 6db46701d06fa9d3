"""Deciding work items: approve, reject, request a change, delegate, and several at once.

Phased (services/store.py): the checks only read; ``_enter_write`` takes the write
transaction and re-reads the item and instance, replanning (``Replan``) when either moved.
"""

from __future__ import annotations

from typing import Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from models.core import Operator
from models.workflow import WorkflowInstance, WorkItem
from services import params
from services.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, RegdeskError, ValidationFailed
from services.permissions import STAFF, Actor, require
from services.store import Replan, begin_write, in_plan_phase, now, writes
from services.text import clean
from services.workflow.commands import comment_text
from services.workflow.doctypes import DocumentType, doc_label, get_type
from services.workflow.queries import current_step, get_item, step
from services.workflow.steps import cancel_open, notify, record, schedule, settle
from services.workflow.table import IS, ITS, explain_instance, explain_item, move_instance, move_item
from services.workflow.views import ActionResult

BULK_LIMIT = 500


def _prepare(
    session: Session, actor: Actor, item_id: int | str, verb: str
) -> tuple[WorkItem, WorkflowInstance, DocumentType]:
    require(actor, "work.act")
    item = get_item(session, item_id)
    inst = session.get(WorkflowInstance, item.instance_id)
    assert inst is not None
    dt = get_type(inst.doc_type)
    if item.status != ITS.OPEN:
        raise Conflict(f"cannot {verb} work item {item.id}: " + explain_item(session, item))
    if inst.status != IS.RUNNING:  # pragma: no cover - open items belong to running instances
        raise InvalidTransition(f"cannot {verb} work item {item.id}: " + explain_instance(session, inst))
    if item.assignee != actor.user_name:
        via = f" (delegated by {item.delegated_from})" if item.delegated_from else ""
        raise PermissionDenied(
            f"work item {item.id} ({doc_label(inst)}, step '{item.step_name}') is assigned to "
            f"{item.assignee}{via}, not to {actor.user_name}: only its assignee may {verb} it"
        )
    return item, inst, dt


def _enter_write(session: Session, item: WorkItem, inst: WorkflowInstance) -> None:
    """End the plan of a phased decision (everything above only read: a missing item, a wrong
    state, a bad comment was refused without waiting for SQLite's write lock). In the write
    transaction the item and instance are read again: if someone moved either meanwhile the
    call is planned afresh (Replan), so a parallel step's second approver is not told Conflict
    for the first one's decision, and a decided item gets its usual message."""
    if not in_plan_phase(session):
        return
    planned = (item.version, inst.version)
    begin_write(session)
    session.refresh(item)
    session.refresh(inst)
    if (item.version, inst.version) != planned:
        raise Replan()


def _decide(
    session: Session, actor: Actor, item: WorkItem, inst: WorkflowInstance, action: str, note: str | None
) -> None:
    """Into the write phase, claim the instance, move the item by ``action`` (decided by the actor)."""
    _enter_write(session, item, inst)
    move_instance(session, inst, "claim")
    move_item(session, item, action, decided_by=actor.user_name, decided_at=now(session), comment=note)


def _decide_and_settle(
    session: Session,
    actor: Actor,
    item: WorkItem,
    inst: WorkflowInstance,
    dt: DocumentType,
    action: str,
    note: str | None,
) -> ActionResult:
    """Approve or reject the item, then let the step's completion policy decide what follows."""
    _decide(session, actor, item, inst, action, note)
    done = {"approve": "approved", "reject": "rejected"}[action]
    record(session, actor, inst, f"work item {done}", comment=note, item=item.id, step=item.step_name)
    settle(session, actor, inst, dt)
    return _result(session, item, inst, action, f"work item {item.id} {done} ({doc_label(inst)})")


def _result(session: Session, item: WorkItem, inst: WorkflowInstance, action: str, message: str) -> ActionResult:
    session.refresh(inst)
    on = current_step(session, inst)
    return ActionResult(
        item_id=item.id,
        action=action,
        message=message,
        item_status=item.status,
        doc_type=inst.doc_type,
        doc_key=inst.doc_key,
        instance_status=inst.status,
        current_step=on.name if on else None,
    )


def _approve(session: Session, actor: Actor, item_id: int | str, comment: str | None = None) -> ActionResult:
    item, inst, dt = _prepare(session, actor, item_id, "approve")
    note = comment_text(comment)
    _check_submitter(session, actor, inst)
    return _decide_and_settle(session, actor, item, inst, dt, "approve", note)


def _check_submitter(session: Session, actor: Actor, inst: WorkflowInstance) -> None:
    if inst.submitter == actor.user_name and params.get(session, "workflow.disallow_submitter_approval"):
        raise PermissionDenied(
            f"{actor.user_name} submitted {doc_label(inst)} and may not approve it: the parameter "
            "'Disallow approval by submitter' (workflow.disallow_submitter_approval) is on. "
            "Delegate the item to another operator, or reject / request a change"
        )


def refusal(session: Session, actor: Actor, item_id: int | str, action: str) -> str | None:
    """Why ``action`` (approve, reject, request_change, delegate) cannot be taken on work item
    ``item_id`` now, in the command's words, or None (the command checks again when it runs):
    the same checks as the command before it writes. Asked before a dialog opens."""
    verb = {"approve": "approve", "reject": "reject", "request_change": "request a change on", "delegate": "delegate"}[
        action
    ]
    try:
        _, inst, _ = _prepare(session, actor, item_id, verb)
        if action == "approve":
            _check_submitter(session, actor, inst)
    except NotFound:
        raise
    except RegdeskError as exc:
        return exc.message
    return None


def _reject(session: Session, actor: Actor, item_id: int | str, reason: str | None = None) -> ActionResult:
    item, inst, dt = _prepare(session, actor, item_id, "reject")
    text = comment_text(reason, "reason")
    if not text:
        raise ValidationFailed({"reason": "a reason is required to reject"})
    return _decide_and_settle(session, actor, item, inst, dt, "reject", text)


def _request_change(session: Session, actor: Actor, item_id: int | str, comment: str | None = None) -> ActionResult:
    item, inst, dt = _prepare(session, actor, item_id, "request a change on")
    note = comment_text(comment)
    _decide(session, actor, item, inst, "request_change", note)
    cancel_open(session, inst, f"change requested by {actor.user_name}")
    move_instance(session, inst, "request_change")
    record(
        session,
        actor,
        inst,
        "workflow change requested",
        comment=note,
        item=item.id,
        step=item.step_name,
        status=IS.CHANGE_REQUESTED.value,
    )
    if dt.on_change_requested is not None:
        dt.on_change_requested(session, actor, inst.doc_key, note or "")
    return _result(
        session,
        item,
        inst,
        "request_change",
        f"work item {item.id}: {doc_label(inst)} sent back to {inst.submitter} for changes",
    )


@writes(phased=True)
def approve(session: Session, actor: Actor, item_id: int | str, comment: str | None = None) -> ActionResult:
    return _approve(session, actor, item_id, comment)


@writes(phased=True)
def reject(session: Session, actor: Actor, item_id: int | str, reason: str | None = None) -> ActionResult:
    return _reject(session, actor, item_id, reason)


@writes(phased=True)
def request_change(session: Session, actor: Actor, item_id: int | str, comment: str | None = None) -> ActionResult:
    return _request_change(session, actor, item_id, comment)


@writes(phased=True)
def delegate(session: Session, actor: Actor, item_id: int | str, to: str, comment: str | None = None) -> ActionResult:
    """Hand an open item to another operator: the delegate gets a new item in its place (same due time).
    When the delegate already has an open item on this step, that item takes this one's place: it
    now stands for both (no second item; the completion policy counts one item fewer)."""
    item, inst, dt = _prepare(session, actor, item_id, "delegate")
    note = comment_text(comment)
    target = clean(to)
    op = session.exec(select(Operator).where(col(Operator.user_name) == target)).first()
    if op is None:
        raise NotFound(f"no operator {to!r} to delegate to")
    if not op.active:
        raise InvalidTransition(f"cannot delegate to {target}: the operator is disabled")
    if not set(op.roles.split()) & STAFF:
        raise PermissionDenied(f"cannot delegate to {target}: they may not act on work items")
    if target == actor.user_name:
        raise ValidationFailed({"to": "choose another operator than yourself"})
    if target == inst.submitter and params.get(session, "workflow.disallow_submitter_approval"):
        raise PermissionDenied(
            f"cannot delegate to {target}: they submitted {doc_label(inst)} and may not approve "
            "it ('Disallow approval by submitter' is on)"
        )
    other = session.exec(
        select(WorkItem).where(
            col(WorkItem.instance_id) == inst.id,
            col(WorkItem.activation) == inst.activation,
            col(WorkItem.assignee) == target,
            col(WorkItem.status) == ITS.OPEN,
        )
    ).first()
    _enter_write(session, item, inst)
    if other is not None:  # read again in the write transaction (it may have been decided meanwhile)
        session.refresh(other)
        if other.status != ITS.OPEN:
            raise Replan()
    _decide(session, actor, item, inst, "delegate", note)
    if other is not None:
        notify(
            session,
            "workflow_assigned",
            other,
            inst,
            reason=f"delegated by {actor.display_name} (your work item {other.id} now stands for both)",
        )
        record(
            session,
            actor,
            inst,
            "work item delegated",
            comment=note,
            item=item.id,
            step=item.step_name,
            to=target,
            merged_into=other.id,
        )
        settle(session, actor, inst, dt)  # one live item fewer may decide a majority step
        return _result(
            session,
            other,
            inst,
            "delegate",
            f"work item {item.id} delegated to {target}: their work item {other.id} on this step now stands for both",
        )
    new = WorkItem(
        instance_id=item.instance_id,
        activation=item.activation,
        step_sequence=item.step_sequence,
        step_name=item.step_name,
        assignee=target,
        assigned_via=f"delegated by {actor.user_name}",
        created_at=now(session),
        due_at=item.due_at,
        escalation_level=item.escalation_level,
        delegated_from=actor.user_name,
    )
    schedule(new, step(session, inst.definition_id, inst.current_step), now(session))
    session.add(new)
    session.flush()
    notify(session, "workflow_assigned", new, inst, reason=f"delegated by {actor.display_name}")
    record(
        session,
        actor,
        inst,
        "work item delegated",
        comment=note,
        item=item.id,
        step=item.step_name,
        to=target,
        new_item=new.id,
    )
    return _result(session, new, inst, "delegate", f"work item {item.id} delegated to {target} (now item {new.id})")


_BULK_ACTIONS: dict[str, Callable[[Session, Actor, int | str, str | None], ActionResult]] = {
    "approve": _approve,
    "reject": _reject,
    "request_change": _request_change,
}
_BULK_VERBS = {"approve": "approve", "reject": "reject", "request_change": "request a change on"}


@writes(phased=True)
def bulk_decide(
    session: Session, actor: Actor, item_ids: list[int | str], action: str, comment: str | None = None
) -> list[ActionResult]:
    """Decide several items; each succeeds or fails on its own (a savepoint each) and is reported.
    ``comment`` is the reason for reject (required there).

    Phased: the request and every item are checked from reads first (not found, not open, not
    the actor's); when every item is refused so, the answers come without the write
    transaction, which is taken only when some item may be decided (and then every item is
    decided or refused again, in order, in it)."""
    require(actor, "work.act")
    action = action.replace("-", "_")
    if action not in _BULK_ACTIONS:
        raise ValidationFailed({"action": "approve, reject or request_change"})
    ids = list(dict.fromkeys(str(i).strip() for i in item_ids if str(i).strip()))
    if not ids:
        raise ValidationFailed({"items": "choose at least one work item"})
    if len(ids) > BULK_LIMIT:
        raise ValidationFailed({"items": f"at most {BULK_LIMIT} work items at once (got {len(ids)})"})
    if action == "reject" and not clean(comment, multiline=True):
        raise ValidationFailed({"reason": "a reason is required to reject"})
    if in_plan_phase(session):
        refused: dict[str, ActionResult] = {}
        for ident in ids:
            try:
                _prepare(session, actor, ident, _BULK_VERBS[action])
            except RegdeskError as exc:
                refused[ident] = _failed(ident, action, exc.message, type(exc).__name__)
        if len(refused) == len(ids):
            return [refused[ident] for ident in ids]
        # some item may be decided: every item is taken again in order in the write transaction
        # (an earlier decision of this very call may close a later item: its answer is then that)
        begin_write(session)
    results: list[ActionResult] = []
    for ident in ids:
        try:
            with session.begin_nested():
                results.append(_BULK_ACTIONS[action](session, actor, ident, comment))
        except RegdeskError as exc:
            results.append(_failed(ident, action, exc.message, type(exc).__name__))
        except SQLAlchemyError as exc:
            results.append(_failed(ident, action, f"database error: {type(exc).__name__}", "DatabaseError"))
    return results


def _failed(ident: str, action: str, message: str, kind: str) -> ActionResult:
    from services.validation import record_id

    return ActionResult(item_id=record_id(ident), action=action, ok=False, message=message, error=kind)
