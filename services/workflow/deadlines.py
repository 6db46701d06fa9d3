"""``tick``: time limits (escalation, the final automatic action) and reminders, from stored state only."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from models.workflow import FinalAction, WorkflowInstance, WorkItem
from services.errors import RegdeskError
from services.permissions import SYSTEM, Actor, require
from services.store import begin_write, now, writes
from services.workflow.doctypes import doc_label, document_types, get_type
from services.workflow.queries import live_items, open_items, step
from services.workflow.steps import (
    cancel_open,
    escalation,
    finish_rejected,
    new_item,
    next_check,
    next_escalation,
    notify,
    record,
    run_from,
)
from services.workflow.table import IS, ITS, at, move_instance, move_item
from services.workflow.views import TickReport

TICK_BATCH = 20_000


def _reschedule(session: Session, inst: WorkflowInstance, current: datetime) -> None:
    """After tick looked at an instance: each of its open items gets its next check time."""
    session.refresh(inst)
    on = step(session, inst.definition_id, inst.current_step) if inst.status == IS.RUNNING else None
    for item in open_items(session, inst.id):
        when = next_check(item, on, current)
        if when != item.next_check_at:
            session.execute(
                update(WorkItem)
                .where(col(WorkItem.id) == item.id)
                .values(next_check_at=when)
                .execution_options(synchronize_session=False)
            )


@writes(phased=True)
def tick(session: Session, actor: Actor = SYSTEM) -> TickReport:
    """Apply time limits (escalation, final automatic action), send reminders. Idempotent.

    Proportional to what is due: the open items whose ``next_check_at`` has come are found
    through an index, before any lock (a tick with nothing due, cron's usual case, never
    waits for SQLite's write lock nor holds it), and each of their instances is handled in its
    own short write transaction (tick commits as it goes: call it through ``Store.call``,
    never inside another transaction). An instance that fails is rolled back alone and
    reported in ``events``."""
    require(actor, "work.view")
    document_types()
    current = now(session)
    report = TickReport(at=current)
    due = session.exec(
        select(WorkItem.instance_id)
        .where(col(WorkItem.status) == ITS.OPEN, col(WorkItem.next_check_at) <= current)
        .order_by(col(WorkItem.next_check_at))
        .limit(TICK_BATCH)
    ).all()
    if not due:
        return report
    begin_write(session)  # the look-up's (read) transaction ends here: nothing is held between instances
    session.commit()  # already writing (Store.write, PostgreSQL): end the look-up's transaction all the same
    ran_by = None if actor is SYSTEM else f"tick run by {actor.user_name}"
    for inst_id in dict.fromkeys(due):
        counts, said = report.model_dump(exclude={"at", "events"}), len(report.events)
        label = f"workflow instance {inst_id}"
        try:
            inst = session.exec(
                select(WorkflowInstance)
                .where(col(WorkflowInstance.id) == inst_id)
                .execution_options(populate_existing=True)
            ).first()
            if inst is None:
                continue
            label = doc_label(inst)
            if inst.status == IS.RUNNING:
                items = open_items(session, inst_id)
                overdue = [i for i in items if i.due_at is not None and i.due_at <= current]
                if overdue:
                    _overdue(session, inst, overdue, report, ran_by)
                else:
                    _remind(session, inst, items, report)
            _reschedule(session, inst, current)
            session.commit()
        except RegdeskError as exc:
            session.rollback()
            for name, value in counts.items():
                setattr(report, name, value)
            del report.events[said:]
            report.events.append(f"{label}: {exc.message}")
    return report


def _remind(session: Session, inst: WorkflowInstance, items: list[WorkItem], report: TickReport) -> None:
    on = step(session, inst.definition_id, inst.current_step)
    if on is None or not on.reminder_hours:
        return
    current = now(session)
    for item in items:
        since = item.last_reminded_at or item.created_at
        if current < since + timedelta(hours=on.reminder_hours):
            continue
        if _mark_reminded(session, item):
            sent = notify(
                session, "workflow_reminder", item, inst, note=f"It has waited since {at(item.created_at)} UTC."
            )
            report.reminders += 1
            report.events.append(
                f"reminder to {item.assignee} for work item {item.id} ({doc_label(inst)})"
                + ("" if sent else " (no e-mail address: not sent)")
            )


def _mark_reminded(session: Session, item: WorkItem) -> bool:
    """Count the reminder unless another tick just did (no version bump: deciders are not disturbed)."""
    result = session.execute(
        update(WorkItem)
        .where(
            col(WorkItem.id) == item.id,
            col(WorkItem.status) == ITS.OPEN,
            col(WorkItem.reminders_sent) == item.reminders_sent,
        )
        .values(reminders_sent=item.reminders_sent + 1, last_reminded_at=now(session))
        .execution_options(synchronize_session=False)
    )
    session.refresh(item)
    # sqlmodel types execute() as Result; an UPDATE's is a CursorResult
    return bool(result.rowcount == 1)  # type: ignore[attr-defined]


def _overdue(
    session: Session, inst: WorkflowInstance, overdue: list[WorkItem], report: TickReport, ran_by: str | None
) -> None:
    dt = get_type(inst.doc_type)
    on = step(session, inst.definition_id, inst.current_step)
    if on is None:  # pragma: no cover
        return
    current = now(session)
    chain = escalation(on)
    hours = on.time_limit_hours or 0
    # the next escalation target that has somebody in it
    targets, where, level = next_escalation(session, chain, max(i.escalation_level for i in overdue))
    if targets:
        via = f"escalated to {where}"
        move_instance(session, inst, "claim")
        already = {i.assignee for i in live_items(session, inst) if i.status == ITS.OPEN and i not in overdue}
        for item in overdue:
            move_item(session, item, "escalate", decided_at=current, comment=f"no decision within {hours} h: {via}")
        due = current + timedelta(hours=hours) if hours else None
        new_items = [new_item(inst, on, user, via, current, due, level) for user in targets if user not in already]
        session.add_all(new_items)
        session.flush()
        for new in new_items:
            notify(session, "workflow_assigned", new, inst, reason=f"escalated: nobody decided within {hours} hours")
        record(
            session,
            SYSTEM,
            inst,
            "workflow escalated",
            comment=ran_by,
            step=on.name,
            escalated_from=[i.assignee for i in overdue],
            to=targets,
            level=level,
        )
        report.escalations += 1
        report.events.append(f"{doc_label(inst)}: step '{on.name}' {via} ({', '.join(targets)})")
        return
    final = on.final_action
    if final in (FinalAction.APPROVE, FinalAction.REJECT):
        move_instance(session, inst, "claim")
        why = (
            f"automatic {'approval' if final == FinalAction.APPROVE else 'rejection'}: no decision within "
            f"{hours} hours" + (" after the last escalation" if chain else "")
        )
        for item in overdue:
            move_item(session, item, "cancel", decided_at=current, comment=why)
        if final == FinalAction.APPROVE:
            cancel_open(session, inst, why)
            record(session, SYSTEM, inst, "workflow step approved automatically", comment=why, step=on.name)
            report.automatic_approvals += 1
            report.events.append(f"{doc_label(inst)}: step '{on.name}' approved automatically")
            run_from(session, SYSTEM, inst, dt, on.sequence + 1)
        else:
            report.automatic_rejections += 1
            report.events.append(f"{doc_label(inst)}: rejected automatically")
            finish_rejected(session, SYSTEM, inst, dt, why)
        return
    # nothing left to do but tell the assignees (once per period)
    period = timedelta(hours=on.reminder_hours or hours or 24)
    for item in overdue:
        last = item.last_reminded_at
        if last is not None and item.due_at is not None and last >= item.due_at and current < last + period:
            continue
        if _mark_reminded(session, item):
            sent = notify(session, "workflow_reminder", item, inst, note=f"It is OVERDUE since {at(item.due_at)} UTC.")
            report.reminders += 1
            report.events.append(
                f"overdue reminder to {item.assignee} for work item {item.id} ({doc_label(inst)})"
                + ("" if sent else " (no e-mail address: not sent)")
            )
