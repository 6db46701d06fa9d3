"""The workflow engine: one engine for every approval (user requests, customer changes, cases).

A document type registers its callbacks (``register(DocumentType(...))``, see DESIGN.md); the
engine owns definitions, instances, steps, work items, completion policies, escalation,
delegation, recall and history. Definitions are imported from TOML (``services.workflow_defs``).

How an instance moves (``INSTANCE_TRANSITIONS``)::

    submit --> running --(last step done)--> approved
                 |  \\--(reject / automatic reject)--> rejected
                 |  \\--(request change)--> change_requested --(resubmit)--> running (same step again)
                 \\-----------(recall by the submitter, from running or change_requested)--> recalled

and a work item (``ITEM_TRANSITIONS``): open --> approved | rejected | change_requested |
delegated (a new open item for the delegate takes its place) | escalated (time limit passed:
new items for the escalation role take its place) | canceled (the step was decided without it).

Rules:
- A step starts by expanding its assignee to operators *at that moment* (a role becomes one
  item per active operator holding it): later changes of roles or definitions move no work.
  An instance follows the definition version it started with, whatever is activated later.
- Completion policies count the live items of the current step activation (not delegated,
  escalated or canceled): ``any`` - the first decision decides; ``all`` - every item approved,
  one rejection rejects; ``majority`` - more than half approve, rejected as soon as a majority
  can no longer be reached. A request for change sends the document back at once.
- Step conditions are checked when the step would start; a step whose condition is false is
  skipped. Automated steps call the document type's ``automated[action]`` handler (as SYSTEM)
  in the same transaction, then the next step starts.
- Every change first claims the instance with a conditional UPDATE (``WHERE id AND version AND
  status IN (...)``), so of two approvers deciding at once exactly one wins; the loser is told
  who decided. Work items move by conditional UPDATEs too.
- ``tick`` (cron, and the console every minute) applies time limits: an overdue step is
  escalated to the next entry of its escalation list; after the last one the final action
  (approve / reject) is taken by the system; with none, the assignee gets an overdue reminder.
  Steps with ``reminder_hours`` remind their assignees by e-mail every that many hours. tick
  decides only from stored state, so running it again (or twice at once) changes nothing more.
- Every change is in the document's history: audit events with entity_type = doc type and
  entity_key = document key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, Literal

from pydantic import BaseModel
from sqlalchemy import func, tuple_, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlmodel import Session, col, select

from models.core import Operator
from models.workflow import (
    CompletionPolicy, FinalAction, InstanceStatus, ItemStatus, StepKind, WorkflowDefinition, WorkflowInstance,
    WorkflowStep, WorkItem,
)
from services import audit, conditions, mail, params, transitions
from services.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, RegdeskError, ValidationFailed
from services.permissions import STAFF, SYSTEM, Actor, require
from services.store import Replan, begin_write, in_plan_phase, now, writes
from services.text import clean

IS, ITS = InstanceStatus, ItemStatus
BULK_LIMIT = 500

# ------------------------------------------------------------------------ document types


@dataclass(frozen=True)
class DocumentType:
    name: str  # "user_request", "customer_change", "case"
    title: str  # "User request"
    attributes: Callable[[Session, str], dict]  # fields conditions can test, by document key
    submitter: Callable[[Session, str], str]  # user_name of the originator
    on_approved: Callable[[Session, Actor, str], None]  # final approval: apply it
    on_rejected: Callable[[Session, Actor, str, str], None]  # (key, reason)
    on_change_requested: Callable[[Session, Actor, str, str], None] | None = None
    on_recalled: Callable[[Session, Actor, str], None] | None = None
    on_started: Callable[[Session, Actor, str], None] | None = None  # e.g. status -> Pending approval
    automated: dict[str, Callable[[Session, Actor, str], None]] = field(default_factory=dict)
    # optional extras (additive to the contract)
    describe: Callable[[Session, str], str] | None = None  # one line for the inbox ("Fabrikam: credit limit")
    # the same lines for many documents at once ({key: line}; keys it does not know are left out):
    # ``list_work`` asks each document type once per page instead of once per item
    describe_many: Callable[[Session, list[str]], dict[str, str]] | None = None
    fields: tuple[str, ...] | None = None  # attribute names conditions may use (checked at import)


_TYPES: dict[str, DocumentType] = {}


def register(doc_type: DocumentType) -> DocumentType:
    """Make a document type known (at import of its service module; registering again replaces)."""
    _TYPES[doc_type.name] = doc_type
    return doc_type


def unregister(name: str) -> None:
    _TYPES.pop(name, None)


def document_types() -> list[DocumentType]:
    from services.documents import ensure_registered

    ensure_registered()
    return sorted(_TYPES.values(), key=lambda t: t.name)


def get_type(name: str) -> DocumentType:
    from services.documents import ensure_registered

    ensure_registered()
    try:
        return _TYPES[name]
    except KeyError:
        known = ", ".join(sorted(_TYPES)) or "none registered"
        raise NotFound(f"unknown document type {name!r} (known: {known})") from None


def _title(doc_type: str) -> str:
    dt = _TYPES.get(doc_type)
    return dt.title if dt else doc_type


def _doc_label(inst: WorkflowInstance) -> str:
    return f"{_title(inst.doc_type)} {inst.doc_key}"


# ------------------------------------------------------------------------ transitions


# (action, from, to, permission, wording): None as "to": the status stays (a claim, a move to the next step)
INSTANCE_TRANSITIONS = transitions.table("workflow_instance", [
    ("claim", {IS.RUNNING}, None, None, "act on"),
    ("advance", {IS.RUNNING}, None, None, "move on"),
    ("approve", {IS.RUNNING}, IS.APPROVED, None, "approve"),
    ("reject", {IS.RUNNING}, IS.REJECTED, None, "reject"),
    ("request_change", {IS.RUNNING}, IS.CHANGE_REQUESTED, None, "send back for changes"),
    ("resubmit", {IS.CHANGE_REQUESTED}, IS.RUNNING, None, "resubmit"),
    ("recall", {IS.RUNNING, IS.CHANGE_REQUESTED}, IS.RECALLED, None, "recall"),
])
ITEM_TRANSITIONS = transitions.table("work_item", [
    ("approve", {ITS.OPEN}, ITS.APPROVED, None, "approve"),
    ("reject", {ITS.OPEN}, ITS.REJECTED, None, "reject"),
    ("request_change", {ITS.OPEN}, ITS.CHANGE_REQUESTED, None, "request a change on"),
    ("delegate", {ITS.OPEN}, ITS.DELEGATED, None, "delegate"),
    ("escalate", {ITS.OPEN}, ITS.ESCALATED, None, "escalate"),
    ("cancel", {ITS.OPEN}, ITS.CANCELED, None, "cancel"),
])
ENDED = (IS.APPROVED.value, IS.REJECTED.value, IS.RECALLED.value)
LIVE = (IS.RUNNING.value, IS.CHANGE_REQUESTED.value)
NOT_COUNTED = (ITS.DELEGATED.value, ITS.ESCALATED.value, ITS.CANCELED.value)


def _at(t: datetime | None) -> str:
    return f"{t:%Y-%m-%d %H:%M}" if t else "?"


def _decisive_item(session: Session, inst: WorkflowInstance) -> WorkItem | None:
    return session.exec(
        select(WorkItem).where(WorkItem.instance_id == inst.id,
                               col(WorkItem.status).in_([ITS.APPROVED, ITS.REJECTED, ITS.CHANGE_REQUESTED]))
        .order_by(col(WorkItem.decided_at).desc(), col(WorkItem.id).desc())
    ).first()


def _explain_instance(session: Session, inst: WorkflowInstance) -> str:
    label = _doc_label(inst)
    last = _decisive_item(session, inst)
    by = f" by {last.decided_by}" if last is not None and last.decided_by else ""
    if inst.status == IS.APPROVED:
        return f"{label}: its workflow is finished already (approved, {_at(inst.ended_at)})"
    if inst.status == IS.REJECTED:
        return f"{label} was rejected already{by} ({_at(inst.ended_at)})"
    if inst.status == IS.CHANGE_REQUESTED:
        return f"{label} was sent back to {inst.submitter} for changes{by}; it waits for resubmission"
    if inst.status == IS.RECALLED:
        return f"{label} was recalled by its submitter {inst.submitter} ({_at(inst.ended_at)})"
    return f"{label} was changed by someone else meanwhile: reread and try again"


def _explain_item(session: Session, item: WorkItem) -> str:
    n = f"work item {item.id}"
    st = item.status
    if st in (ITS.APPROVED, ITS.REJECTED, ITS.CHANGE_REQUESTED):
        what = {"approved": "approved", "rejected": "rejected", "change_requested": "sent back for changes"}[st]
        return f"{n} was already {what} by {item.decided_by} ({_at(item.decided_at)})"
    if st == ITS.DELEGATED:
        nxt = session.exec(select(WorkItem).where(WorkItem.instance_id == item.instance_id,
                                                  WorkItem.activation == item.activation,
                                                  WorkItem.delegated_from == item.assignee, WorkItem.id > item.id)
                           .order_by(col(WorkItem.id))).first()
        to = f" to {nxt.assignee}" if nxt else ""
        return f"{n} was delegated by {item.assignee}{to} ({_at(item.decided_at)})"
    if st == ITS.ESCALATED:
        return f"{n} was escalated after its time limit ({_at(item.decided_at)}): it is no longer {item.assignee}'s"
    if st == ITS.CANCELED:
        inst = session.get(WorkflowInstance, item.instance_id)
        if inst is not None and inst.status in (IS.RECALLED, IS.CHANGE_REQUESTED):
            return f"{n} is closed: " + _explain_instance(session, inst)
        decided = session.exec(
            select(WorkItem).where(WorkItem.instance_id == item.instance_id, WorkItem.activation == item.activation,
                                   col(WorkItem.status).in_([ITS.APPROVED, ITS.REJECTED, ITS.CHANGE_REQUESTED]))
            .order_by(col(WorkItem.decided_at).desc(), col(WorkItem.id).desc())).first()
        if decided is not None:
            return (f"{n} is closed: step '{item.step_name}' was already decided "
                    f"({decided.status.replace('_', ' ')} by {decided.decided_by}, {_at(decided.decided_at)})")
        return f"{n} is closed: {item.comment or 'the step was decided without it'}"
    return f"{n} was changed by someone else meanwhile: reread and try again"


INSTANCE_PROCESS = transitions.register(transitions.Process(
    name="workflow_instance", title="Workflow instance", model=WorkflowInstance, states=tuple(IS),
    transitions=INSTANCE_TRANSITIONS, entity="workflow", initial=(IS.RUNNING,), key="id",
    explain=lambda s, inst, action: (f"cannot {INSTANCE_TRANSITIONS[action].wording} {_doc_label(inst)}: "
                                     + _explain_instance(s, inst)),
    label=lambda inst: f"workflow instance {inst.id} ({_doc_label(inst)})"))
ITEM_PROCESS = transitions.register(transitions.Process(
    name="work_item", title="Work item", model=WorkItem, states=tuple(ITS), transitions=ITEM_TRANSITIONS,
    entity="work_item", initial=(ITS.OPEN,), key="id",
    explain=lambda s, item, _action: _explain_item(s, item), label=lambda item: f"work item {item.id}"))


def _move_instance(session: Session, inst: WorkflowInstance, action: str, **values: Any) -> None:
    """Move the instance (services/transitions.py: check, write lock, compare-and-set)."""
    transitions.move(session, INSTANCE_PROCESS, inst, action, **values)


def _move_item(session: Session, item: WorkItem, action: str, **values: Any) -> None:
    transitions.move(session, ITEM_PROCESS, item, action, **values)


# ------------------------------------------------------------------------ views


class StepView(BaseModel):
    sequence: int
    name: str
    kind: str
    assignee: str  # "role:approver", "operator:admin1", "" (automated)
    policy: str
    condition: str
    time_limit_hours: int | None
    reminder_hours: int | None
    escalation: list[str]
    final_action: str
    action: str


class WorkItemView(BaseModel):
    id: int
    instance_id: int
    doc_type: str
    doc_title: str
    doc_key: str
    summary: str
    step: str
    assignee: str
    assigned_via: str
    status: str
    assigned_at: datetime
    due_at: datetime | None
    overdue: bool
    age_minutes: int
    escalation_level: int
    delegated_from: str | None
    decided_by: str | None
    decided_at: datetime | None
    comment: str | None
    submitter: str
    assignee_name: str = ""  # the assignee's display name ("Alice Approver")
    # the viewing operator submitted the document: while 'Disallow approval by submitter' is on
    # they may not approve it, and ``count_waiting`` does not count it as waiting for them
    own_submission: bool = False


class InstanceView(BaseModel):
    id: int
    doc_type: str
    doc_key: str
    definition_id: int
    definition: str  # "name v3"
    status: str
    current_step: str | None
    submitter: str
    started_at: datetime
    ended_at: datetime | None
    assignees: list[str]  # who has an open item now


class InstanceDetail(InstanceView):
    steps: list[StepView]
    items: list[WorkItemView]


class WorkflowHistory(BaseModel):
    doc_type: str
    doc_key: str
    instances: list[InstanceDetail]
    events: list[audit.AuditView]


class ActionResult(BaseModel):
    item_id: int | None
    action: str
    ok: bool = True
    message: str
    item_status: str | None = None
    doc_type: str | None = None
    doc_key: str | None = None
    instance_status: str | None = None
    current_step: str | None = None
    error: str | None = None  # the refusal's kind (PermissionDenied, Conflict...) when not ok


class TickReport(BaseModel):
    at: datetime
    reminders: int = 0
    escalations: int = 0
    automatic_approvals: int = 0
    automatic_rejections: int = 0
    events: list[str] = []


def step_view(step: WorkflowStep) -> StepView:
    return StepView(
        sequence=step.sequence, name=step.name, kind=step.kind,
        assignee=f"{step.assignee_kind}:{step.assignee}" if step.assignee_kind else "",
        policy=step.policy, condition=step.condition, time_limit_hours=step.time_limit_hours,
        reminder_hours=step.reminder_hours, escalation=json.loads(step.escalation or "[]"),
        final_action=step.final_action, action=step.action,
    )


def _summary(session: Session, doc_type: str, key: str) -> str:
    dt = _TYPES.get(doc_type)
    if dt is None or dt.describe is None:
        return ""
    try:
        return clean(dt.describe(session, key))
    except RegdeskError:
        return ""


SUMMARY_CHUNK = 500


def summaries(session: Session, docs: Any) -> dict[tuple[str, str], str]:
    """{(doc type, key): one line} for many documents: one ``describe_many`` call per document type
    (per 500 keys); a type without it falls back to ``describe`` per document."""
    by_type: dict[str, list[str]] = {}
    for doc_type, key in docs:
        keys = by_type.setdefault(doc_type, [])
        if key not in keys:
            keys.append(key)
    out: dict[tuple[str, str], str] = {}
    for doc_type, keys in by_type.items():
        dt = _TYPES.get(doc_type)
        if dt is not None and dt.describe_many is not None:
            for start in range(0, len(keys), SUMMARY_CHUNK):
                chunk = keys[start:start + SUMMARY_CHUNK]
                try:
                    lines = dt.describe_many(session, chunk)
                except RegdeskError:
                    lines = {}
                for key in chunk:
                    line = lines.get(key, "")
                    # clean() only when needed: most lines are printable already (cheap check)
                    out[(doc_type, key)] = line.strip() if line.isprintable() and "  " not in line else clean(line)
        else:
            for key in keys:
                out[(doc_type, key)] = _summary(session, doc_type, key)
    return out


def _display_names(session: Session, users: Any) -> dict[str, str]:
    names = sorted(set(users))
    if not names:
        return {}
    return dict(session.exec(select(Operator.user_name, Operator.display_name)
                             .where(col(Operator.user_name).in_(names))).all())


def _item_view(session: Session, item: WorkItem, inst: WorkflowInstance, current: datetime,
               summaries: dict[tuple[str, str], str] | None = None, *, viewer: str | None = None,
               names: dict[str, str] | None = None) -> WorkItemView:
    cache = summaries if summaries is not None else {}
    k = (inst.doc_type, inst.doc_key)
    if k not in cache:
        cache[k] = _summary(session, *k)
    is_open = item.status == ITS.OPEN
    return WorkItemView(
        assignee_name=(names or {}).get(item.assignee, ""), own_submission=viewer is not None and inst.submitter == viewer,
        id=item.id or 0, instance_id=inst.id or 0, doc_type=inst.doc_type, doc_title=_title(inst.doc_type),
        doc_key=inst.doc_key, summary=cache[k], step=item.step_name, assignee=item.assignee,
        assigned_via=item.assigned_via, status=item.status, assigned_at=item.created_at, due_at=item.due_at,
        overdue=bool(is_open and item.due_at is not None and item.due_at <= current),
        age_minutes=max(0, int((current - item.created_at).total_seconds() // 60)),
        escalation_level=item.escalation_level, delegated_from=item.delegated_from, decided_by=item.decided_by,
        decided_at=item.decided_at, comment=item.comment, submitter=inst.submitter,
    )


def _definition(session: Session, definition_id: int) -> WorkflowDefinition:
    d = session.get(WorkflowDefinition, definition_id)
    if d is None:  # pragma: no cover - foreign key
        raise NotFound(f"no workflow definition {definition_id}")
    return d


def _steps(session: Session, definition_id: int) -> list[WorkflowStep]:
    return list(session.exec(select(WorkflowStep).where(WorkflowStep.definition_id == definition_id)
                             .order_by(col(WorkflowStep.sequence))).all())


def _step(session: Session, definition_id: int, sequence: int | None) -> WorkflowStep | None:
    if sequence is None:
        return None
    return session.exec(select(WorkflowStep).where(WorkflowStep.definition_id == definition_id,
                                                   WorkflowStep.sequence == sequence)).first()


def _instance_view(session: Session, inst: WorkflowInstance, cls: type = InstanceView, **extra: Any) -> Any:
    d = _definition(session, inst.definition_id)
    step = _step(session, inst.definition_id, inst.current_step) if inst.status in LIVE else None
    open_items = session.exec(select(WorkItem.assignee).where(WorkItem.instance_id == inst.id,
                                                              WorkItem.status == ITS.OPEN)
                              .order_by(col(WorkItem.id))).all()
    return cls(id=inst.id or 0, doc_type=inst.doc_type, doc_key=inst.doc_key, definition_id=d.id or 0,
               definition=f"{d.name} v{d.version}", status=inst.status, current_step=step.name if step else None,
               submitter=inst.submitter, started_at=inst.started_at, ended_at=inst.ended_at,
               assignees=list(open_items), **extra)


def _instance_detail(session: Session, inst: WorkflowInstance) -> InstanceDetail:
    current = now(session)
    items = session.exec(select(WorkItem).where(WorkItem.instance_id == inst.id).order_by(col(WorkItem.id))).all()
    cache = summaries(session, [(inst.doc_type, inst.doc_key)])
    names = _display_names(session, (i.assignee for i in items))
    return _instance_view(session, inst, InstanceDetail,
                          steps=[step_view(s) for s in _steps(session, inst.definition_id)],
                          items=[_item_view(session, i, inst, current, cache, names=names) for i in items])


# ------------------------------------------------------------------------ assignment


def parse_assignee(spec: str) -> tuple[str, str]:
    """"role:approver" / "operator:admin1" -> (kind, name); ValueError when it is neither."""
    kind, sep, name = (spec or "").partition(":")
    kind, name = kind.strip().lower(), name.strip()
    if not sep or kind not in ("role", "operator") or not name:
        raise ValueError(f"{spec!r}: expected \"role:NAME\" or \"operator:USER\"")
    return kind, name


def _expand(session: Session, kind: str, name: str) -> list[str]:
    """The active operators an assignee means right now (fixed on the work items)."""
    if kind == "operator":
        op = session.exec(select(Operator).where(Operator.user_name == name, Operator.active == True)).first()  # noqa: E712
        return [op.user_name] if op is not None and set(op.roles.split()) & STAFF else []
    ops = session.exec(select(Operator).where(Operator.active == True).order_by(col(Operator.user_name))).all()  # noqa: E712
    return [op.user_name for op in ops if name in op.roles.split()]


def _operator_email(session: Session, user_name: str) -> tuple[str | None, str]:
    op = session.exec(select(Operator).where(Operator.user_name == user_name)).first()
    if op is None:
        return None, user_name
    return op.email, op.display_name


def _notify(session: Session, template: str, item: WorkItem, inst: WorkflowInstance, **context: Any) -> bool:
    email, name = _operator_email(session, item.assignee)
    if not email:
        return False
    mail.enqueue(session, email, template,
                 {"name": name, "document": _doc_label(inst), "step": item.step_name, "item": item.id,
                  "assigned": _at(item.created_at), "due": f"{_at(item.due_at)} UTC" if item.due_at else "no time limit",
                  **context},
                 entity_type=inst.doc_type, entity_key=inst.doc_key)
    return True


# ------------------------------------------------------------------------ running steps


def _record(session: Session, actor: Actor, inst: WorkflowInstance, what: str, /, *, comment: str | None = None,
            **after: Any) -> None:
    audit.record(session, actor, inst.doc_type, inst.doc_key, what[:60],
                 after={"workflow": inst.id, **after}, comment=comment or None)


def _run_from(session: Session, actor: Actor, inst: WorkflowInstance, dt: DocumentType, sequence: int) -> None:
    """Start the first step at or after ``sequence`` whose condition holds; finish when none is left."""
    for step in _steps(session, inst.definition_id):
        if step.sequence < sequence:
            continue
        if step.condition:
            try:
                tree = conditions.parse(step.condition)
            except conditions.ConditionError as exc:
                raise InvalidTransition(f"step '{step.name}' has a bad condition: {exc}") from None
            if not conditions.evaluate(tree, dt.attributes(session, inst.doc_key)):
                _record(session, SYSTEM, inst, "workflow step skipped", step=step.name,
                        comment=f"condition not met: {step.condition}")
                continue
        if step.kind == StepKind.AUTOMATED:
            handler = dt.automated.get(step.action)
            if handler is None:
                raise InvalidTransition(f"{_doc_label(inst)}: step '{step.name}' needs the automated action "
                                        f"{step.action!r}, which document type {dt.name} does not offer")
            _move_instance(session, inst, "advance", current_step=step.sequence)
            handler(session, SYSTEM, inst.doc_key)
            _record(session, SYSTEM, inst, "workflow automated step done", step=step.name, action=step.action)
            continue
        _start_approval(session, actor, inst, step)
        return
    _move_instance(session, inst, "approve", current_step=None, ended_at=now(session))
    _record(session, actor, inst, "workflow approved", status=IS.APPROVED.value)
    dt.on_approved(session, actor, inst.doc_key)


def _start_approval(session: Session, actor: Actor, inst: WorkflowInstance, step: WorkflowStep) -> None:
    assignees = _expand(session, step.assignee_kind, step.assignee)
    via = f"{step.assignee_kind} {step.assignee}" if step.assignee_kind == "role" else "operator"
    level = 0
    chain = json.loads(step.escalation or "[]")
    while not assignees and level < len(chain):  # nobody holds the role: straight to the escalation
        kind, name = parse_assignee(chain[level])
        level += 1
        assignees = _expand(session, kind, name)
        via = f"{kind} {name} (nobody in {step.assignee_kind} {step.assignee})"
    if not assignees:
        raise InvalidTransition(
            f"{_doc_label(inst)}: step '{step.name}' has nobody to assign: no active operator is "
            f"{step.assignee_kind} {step.assignee}" + (f" (nor in the escalation {', '.join(chain)})" if chain else "")
            + "; add one, or change the workflow definition")
    _move_instance(session, inst, "advance", current_step=step.sequence, activation=inst.activation + 1)
    current = now(session)
    due = current + timedelta(hours=step.time_limit_hours) if step.time_limit_hours else None
    for user in assignees:
        session.add(_schedule(WorkItem(instance_id=inst.id, activation=inst.activation, step_sequence=step.sequence,
                                       step_name=step.name, assignee=user, assigned_via=via[:120], created_at=current,
                                       due_at=due, escalation_level=level), step, current))
    session.flush()
    _record(session, actor, inst, "workflow step started", step=step.name, assignees=assignees, policy=step.policy,
            due=due)


def _live_items(session: Session, inst: WorkflowInstance) -> list[WorkItem]:
    return list(session.exec(select(WorkItem).where(WorkItem.instance_id == inst.id,
                                                    WorkItem.activation == inst.activation,
                                                    col(WorkItem.status).not_in(NOT_COUNTED))
                             .order_by(col(WorkItem.id))).all())


def _cancel_open(session: Session, inst: WorkflowInstance, why: str) -> None:
    for item in session.exec(select(WorkItem).where(WorkItem.instance_id == inst.id,
                                                    WorkItem.status == ITS.OPEN)).all():
        _move_item(session, item, "cancel", comment=why, decided_at=now(session))


def _outcome(policy: str, items: list[WorkItem]) -> Literal["approved", "rejected", "waiting"]:
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


def _settle(session: Session, actor: Actor, inst: WorkflowInstance, dt: DocumentType) -> None:
    step = _step(session, inst.definition_id, inst.current_step)
    if step is None:  # pragma: no cover - a running instance is always on a step
        return
    items = _live_items(session, inst)
    outcome = _outcome(step.policy, items)
    if outcome == "approved":
        _cancel_open(session, inst, f"step '{step.name}' approved without this item ({step.policy} policy)")
        _record(session, actor, inst, "workflow step approved", step=step.name)
        _run_from(session, actor, inst, dt, step.sequence + 1)
    elif outcome == "rejected":
        rejections = [i for i in items if i.status == ITS.REJECTED]
        reasons = [f"{i.decided_by}: {i.comment}" if len(rejections) > 1 else (i.comment or "") for i in rejections]
        _finish_rejected(session, actor, inst, dt, "; ".join(reasons) or "rejected")


def _finish_rejected(session: Session, actor: Actor, inst: WorkflowInstance, dt: DocumentType, reason: str) -> None:
    _cancel_open(session, inst, "the document was rejected")
    _move_instance(session, inst, "reject", ended_at=now(session))
    _record(session, actor, inst, "workflow rejected", comment=reason, status=IS.REJECTED.value)
    dt.on_rejected(session, actor, inst.doc_key, reason)


# ------------------------------------------------------------------------ submit, resubmit, recall


def _live_instance(session: Session, doc_type: str, key: str) -> WorkflowInstance | None:
    return session.exec(select(WorkflowInstance).where(WorkflowInstance.doc_type == doc_type,
                                                       WorkflowInstance.doc_key == key,
                                                       col(WorkflowInstance.status).in_(LIVE))).first()


def matching_definition(session: Session, doc_type: str, key: str) -> WorkflowDefinition | None:
    """The active definition (by priority, then name) whose condition the document meets."""
    dt = get_type(doc_type)
    defs = session.exec(select(WorkflowDefinition).where(WorkflowDefinition.doc_type == doc_type,
                                                         WorkflowDefinition.active == True)  # noqa: E712
                        .order_by(col(WorkflowDefinition.priority), col(WorkflowDefinition.name))).all()
    attrs: dict | None = None
    for d in defs:
        if not d.condition.strip():
            return d
        if attrs is None:
            attrs = dt.attributes(session, key)
        try:
            if conditions.evaluate(conditions.parse(d.condition), attrs):
                return d
        except conditions.ConditionError as exc:
            raise InvalidTransition(f"workflow '{d.name}' v{d.version} has a bad condition: {exc}") from None
    return None


def _comment(value: str | None, name: str = "comment") -> str | None:
    text = clean(value, multiline=True)
    if len(text) > 1000:
        raise ValidationFailed({name: "at most 1000 characters"})
    return text or None


def submit(session: Session, actor: Actor, doc_type: str, key: str, comment: str | None = None) -> int | None:
    """Start the active definition whose condition matches the document; None when none does
    (the caller keeps its manual state). Runs in the caller's transaction."""
    dt = get_type(doc_type)
    note = _comment(comment)
    live = _live_instance(session, doc_type, key)
    if live is not None:
        raise Conflict(f"{_doc_label(live)} is already in workflow (instance {live.id}, {live.status})")
    definition = matching_definition(session, doc_type, key)
    if definition is None:
        return None
    current = now(session)
    inst = WorkflowInstance(doc_type=doc_type, doc_key=key, definition_id=definition.id, status=IS.RUNNING,
                            submitter=dt.submitter(session, key), started_at=current, updated_at=current)
    try:
        with session.begin_nested():
            session.add(inst)
            session.flush()
    except IntegrityError:
        raise Conflict(f"{dt.title} {key} was submitted to workflow by someone else meanwhile") from None
    _record(session, actor, inst, "workflow submitted", comment=note,
            definition=f"{definition.name} v{definition.version}", submitter=inst.submitter)
    if dt.on_started is not None:
        dt.on_started(session, actor, key)
    _run_from(session, actor, inst, dt, 0)
    return inst.id


def _require_submitter(actor: Actor, inst: WorkflowInstance, what: str) -> None:
    if actor.user_name != inst.submitter:
        raise PermissionDenied(f"only the submitter of {_doc_label(inst)} ({inst.submitter}) may {what} it; "
                               f"{actor.user_name} is not")


def _latest_instance(session: Session, doc_type: str, key: str) -> WorkflowInstance | None:
    return session.exec(select(WorkflowInstance).where(WorkflowInstance.doc_type == doc_type,
                                                       WorkflowInstance.doc_key == key)
                        .order_by(col(WorkflowInstance.id).desc())).first()


def _resubmit_target(session: Session, actor: Actor, doc_type: str, key: str,
                     comment: str | None) -> tuple[DocumentType, str | None, WorkflowInstance | None]:
    """resubmit's checks (reads only): the type, the comment, and the instance sent back for
    changes (None: the document left workflow, so resubmitting starts a new one)."""
    dt = get_type(doc_type)
    note = _comment(comment)
    inst = _live_instance(session, doc_type, key)
    if inst is None:
        last = _latest_instance(session, doc_type, key)
        if last is None:
            raise NotFound(f"{dt.title} {key} has never been in workflow: submit it")
        _require_submitter(actor, last, "resubmit")
        return dt, note, None
    _require_submitter(actor, inst, "resubmit")
    if inst.status != IS.CHANGE_REQUESTED:
        raise InvalidTransition(f"{_doc_label(inst)} is in workflow already (status {inst.status}): "
                                "only a document sent back for changes can be resubmitted")
    return dt, note, inst


def resubmit(session: Session, actor: Actor, doc_type: str, key: str, comment: str | None = None) -> int | None:
    """After a request for change: the submitter sends the document back into the same step
    (assignees taken afresh). After a rejection or a recall, a new workflow starts (submit)."""
    dt, note, inst = _resubmit_target(session, actor, doc_type, key, comment)
    if inst is None:
        return submit(session, actor, doc_type, key, comment)
    _move_instance(session, inst, "resubmit")
    _record(session, actor, inst, "workflow resubmitted", comment=note)
    if dt.on_started is not None:
        dt.on_started(session, actor, key)
    _run_from(session, actor, inst, dt, inst.current_step or 0)
    return inst.id


def _recall_target(session: Session, actor: Actor, doc_type: str, key: str,
                   comment: str | None) -> tuple[DocumentType, str | None, WorkflowInstance]:
    """recall's checks (reads only): the type, the comment, the live instance of the submitter."""
    dt = get_type(doc_type)
    note = _comment(comment)
    inst = _live_instance(session, doc_type, key)
    if inst is None:
        last = _latest_instance(session, doc_type, key)
        if last is None:
            raise NotFound(f"{dt.title} {key} is not in workflow")
        raise InvalidTransition(f"cannot recall {dt.title} {key}: " + _explain_instance(session, last))
    _require_submitter(actor, inst, "recall")
    return dt, note, inst


def recall(session: Session, actor: Actor, doc_type: str, key: str, comment: str | None = None) -> InstanceView:
    """The submitter takes the document back out of workflow; open work items are canceled."""
    dt, note, inst = _recall_target(session, actor, doc_type, key, comment)
    _move_instance(session, inst, "recall", ended_at=now(session))
    _cancel_open(session, inst, f"recalled by {actor.user_name}")
    _record(session, actor, inst, "workflow recalled", comment=note, status=IS.RECALLED.value)
    if dt.on_recalled is not None:
        dt.on_recalled(session, actor, key)
    return _instance_view(session, inst)


def active_instance(session: Session, doc_type: str, key: str) -> InstanceView | None:
    inst = _live_instance(session, doc_type, key)
    return _instance_view(session, inst) if inst is not None else None


# service-call wrappers (own transaction) for the CLI and the console
# (phased: the refusals that reads can tell, an unknown type, a document already in workflow,
# not the submitter, a wrong state, are said before the write transaction; the engine
# function then checks everything again in it)
@writes(phased=True)
def submit_document(session: Session, actor: Actor, doc_type: str, key: str, comment: str | None = None) -> int | None:
    require(actor, "work.view")
    if in_plan_phase(session):
        get_type(doc_type)
        _comment(comment)
        live = _live_instance(session, doc_type, key)
        if live is not None:
            raise Conflict(f"{_doc_label(live)} is already in workflow (instance {live.id}, {live.status})")
        begin_write(session)
    return submit(session, actor, doc_type, key, comment)


@writes(phased=True)
def resubmit_document(session: Session, actor: Actor, doc_type: str, key: str, comment: str | None = None) -> int | None:
    if in_plan_phase(session):
        _resubmit_target(session, actor, doc_type, key, comment)
        begin_write(session)
    return resubmit(session, actor, doc_type, key, comment)


@writes(phased=True)
def recall_document(session: Session, actor: Actor, doc_type: str, key: str, comment: str | None = None) -> InstanceView:
    if in_plan_phase(session):
        _recall_target(session, actor, doc_type, key, comment)
        begin_write(session)
    return recall(session, actor, doc_type, key, comment)


# ------------------------------------------------------------------------ work items


def _get_item(session: Session, item_id: int | str) -> WorkItem:
    from services.validation import record_id

    ident = record_id(item_id)
    if ident is None:  # not a number, or beyond any id the store holds
        raise NotFound(f"no work item {str(item_id)[:40]!r} (work items are numbers)")
    item = session.get(WorkItem, ident)
    if item is None:
        raise NotFound(f"no work item {ident}")
    return item


def _prepare(session: Session, actor: Actor, item_id: int | str, verb: str) -> tuple[WorkItem, WorkflowInstance, DocumentType]:
    require(actor, "work.act")
    item = _get_item(session, item_id)
    inst = session.get(WorkflowInstance, item.instance_id)
    assert inst is not None
    dt = get_type(inst.doc_type)
    if item.status != ITS.OPEN:
        raise Conflict(f"cannot {verb} work item {item.id}: " + _explain_item(session, item))
    if inst.status != IS.RUNNING:  # pragma: no cover - open items belong to running instances
        raise InvalidTransition(f"cannot {verb} work item {item.id}: " + _explain_instance(session, inst))
    if item.assignee != actor.user_name:
        via = f" (delegated by {item.delegated_from})" if item.delegated_from else ""
        raise PermissionDenied(f"work item {item.id} ({_doc_label(inst)}, step '{item.step_name}') is assigned to "
                               f"{item.assignee}{via}, not to {actor.user_name}: only its assignee may {verb} it")
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


def _result(session: Session, item: WorkItem, inst: WorkflowInstance, action: str, message: str) -> ActionResult:
    session.refresh(inst)
    step = _step(session, inst.definition_id, inst.current_step) if inst.status in LIVE else None
    return ActionResult(item_id=item.id, action=action, message=message, item_status=item.status,
                        doc_type=inst.doc_type, doc_key=inst.doc_key, instance_status=inst.status,
                        current_step=step.name if step else None)


def _approve(session: Session, actor: Actor, item_id: int | str, comment: str | None = None) -> ActionResult:
    item, inst, dt = _prepare(session, actor, item_id, "approve")
    note = _comment(comment)
    if inst.submitter == actor.user_name and params.get(session, "workflow.disallow_submitter_approval"):
        raise PermissionDenied(
            f"{actor.user_name} submitted {_doc_label(inst)} and may not approve it: the parameter "
            "'Disallow approval by submitter' (workflow.disallow_submitter_approval) is on. "
            "Delegate the item to another operator, or reject / request a change")
    _enter_write(session, item, inst)
    _move_instance(session, inst, "claim")
    _move_item(session, item, "approve", decided_by=actor.user_name, decided_at=now(session), comment=note)
    _record(session, actor, inst, "work item approved", comment=note, item=item.id, step=item.step_name)
    _settle(session, actor, inst, dt)
    return _result(session, item, inst, "approve", f"work item {item.id} approved ({_doc_label(inst)})")


def _reject(session: Session, actor: Actor, item_id: int | str, reason: str | None = None) -> ActionResult:
    item, inst, dt = _prepare(session, actor, item_id, "reject")
    text = _comment(reason, "reason")
    if not text:
        raise ValidationFailed({"reason": "a reason is required to reject"})
    _enter_write(session, item, inst)
    _move_instance(session, inst, "claim")
    _move_item(session, item, "reject", decided_by=actor.user_name, decided_at=now(session), comment=text)
    _record(session, actor, inst, "work item rejected", comment=text, item=item.id, step=item.step_name)
    _settle(session, actor, inst, dt)
    return _result(session, item, inst, "reject", f"work item {item.id} rejected ({_doc_label(inst)})")


def _request_change(session: Session, actor: Actor, item_id: int | str, comment: str | None = None) -> ActionResult:
    item, inst, dt = _prepare(session, actor, item_id, "request a change on")
    note = _comment(comment)
    _enter_write(session, item, inst)
    _move_instance(session, inst, "claim")
    _move_item(session, item, "request_change", decided_by=actor.user_name, decided_at=now(session), comment=note)
    _cancel_open(session, inst, f"change requested by {actor.user_name}")
    _move_instance(session, inst, "request_change")
    _record(session, actor, inst, "workflow change requested", comment=note, item=item.id, step=item.step_name,
            status=IS.CHANGE_REQUESTED.value)
    if dt.on_change_requested is not None:
        dt.on_change_requested(session, actor, inst.doc_key, note or "")
    return _result(session, item, inst, "request_change",
                   f"work item {item.id}: {_doc_label(inst)} sent back to {inst.submitter} for changes")


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
    item, inst, _dt = _prepare(session, actor, item_id, "delegate")
    note = _comment(comment)
    target = clean(to)
    op = session.exec(select(Operator).where(Operator.user_name == target)).first()
    if op is None:
        raise NotFound(f"no operator {to!r} to delegate to")
    if not op.active:
        raise InvalidTransition(f"cannot delegate to {target}: the operator is disabled")
    if not set(op.roles.split()) & STAFF:
        raise PermissionDenied(f"cannot delegate to {target}: they may not act on work items")
    if target == actor.user_name:
        raise ValidationFailed({"to": "choose another operator than yourself"})
    if target == inst.submitter and params.get(session, "workflow.disallow_submitter_approval"):
        raise PermissionDenied(f"cannot delegate to {target}: they submitted {_doc_label(inst)} and may not approve "
                               "it ('Disallow approval by submitter' is on)")
    other = session.exec(select(WorkItem).where(WorkItem.instance_id == inst.id, WorkItem.activation == inst.activation,
                                                WorkItem.assignee == target, WorkItem.status == ITS.OPEN)).first()
    _enter_write(session, item, inst)
    if other is not None:  # read again in the write transaction (it may have been decided meanwhile)
        session.refresh(other)
        if other.status != ITS.OPEN:
            raise Replan()
    _move_instance(session, inst, "claim")
    _move_item(session, item, "delegate", decided_by=actor.user_name, decided_at=now(session), comment=note)
    if other is not None:
        _notify(session, "workflow_assigned", other, inst,
                reason=f"delegated by {actor.display_name} (your work item {other.id} now stands for both)")
        _record(session, actor, inst, "work item delegated", comment=note, item=item.id, step=item.step_name,
                to=target, merged_into=other.id)
        _settle(session, actor, inst, _dt)  # one live item fewer may decide a majority step
        return _result(session, other, inst, "delegate",
                       f"work item {item.id} delegated to {target}: their work item {other.id} on this step "
                       "now stands for both")
    new = WorkItem(instance_id=inst.id, activation=item.activation, step_sequence=item.step_sequence,
                   step_name=item.step_name, assignee=target, assigned_via=f"delegated by {actor.user_name}",
                   created_at=now(session), due_at=item.due_at, escalation_level=item.escalation_level,
                   delegated_from=actor.user_name)
    _schedule(new, _step(session, inst.definition_id, inst.current_step), now(session))
    session.add(new)
    session.flush()
    _notify(session, "workflow_assigned", new, inst, reason=f"delegated by {actor.display_name}")
    _record(session, actor, inst, "work item delegated", comment=note, item=item.id, step=item.step_name, to=target,
            new_item=new.id)
    return _result(session, new, inst, "delegate", f"work item {item.id} delegated to {target} (now item {new.id})")


_BULK_ACTIONS: dict[str, Callable[..., ActionResult]] = {
    "approve": _approve, "reject": _reject, "request_change": _request_change,
}


_BULK_VERBS = {"approve": "approve", "reject": "reject", "request_change": "request a change on"}


@writes(phased=True)
def bulk_decide(session: Session, actor: Actor, item_ids: list[int | str], action: str,
                comment: str | None = None) -> list[ActionResult]:
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

    item_id = record_id(ident)
    return ActionResult(item_id=item_id, action=action, ok=False, message=message, error=kind)


_INBOX_COLUMNS = (
    WorkItem.id, WorkItem.step_name, WorkItem.assignee, WorkItem.assigned_via, WorkItem.created_at, WorkItem.due_at,
    WorkItem.escalation_level, WorkItem.delegated_from, WorkItem.comment,
    WorkflowInstance.id.label("inst_id"), WorkflowInstance.doc_type, WorkflowInstance.doc_key,  # type: ignore[union-attr]
    WorkflowInstance.submitter,
)


def _inbox(actor: Actor, mine: bool, doc_type: str | None):
    query = (select(*_INBOX_COLUMNS).join(WorkflowInstance, WorkItem.instance_id == WorkflowInstance.id)
             .where(WorkItem.status == ITS.OPEN, WorkflowInstance.status == IS.RUNNING))
    if mine:
        query = query.where(WorkItem.assignee == actor.user_name)
    if doc_type:
        query = query.where(WorkflowInstance.doc_type == doc_type)
    return query


def work_cursor(item: WorkItemView) -> tuple[datetime | None, datetime, int]:
    """The keyset position of an item in My work's order: pass it as ``after`` for the next page."""
    return (item.due_at, item.assigned_at, item.id)


def list_work(session: Session, actor: Actor, mine: bool = True, doc_type: str | None = None, *,
              limit: int = 500, after: tuple[datetime | None, datetime, int] | list | None = None) -> list[WorkItemView]:
    """Open work items (mine, or everyone's): overdue first, then by due time, then those without
    a time limit, oldest first; at most ``limit``. Each item carries its document's one-line
    summary (one query per document type, not per item), its assignee's name and whether the
    viewing operator submitted the document (``own_submission``). Plain column reads, no ORM
    objects: a page costs the same whatever the number of open items. ``after`` (``work_cursor``
    of the last item shown) continues with the next page, by keyset."""
    require(actor, "work.view")
    current = now(session)
    limit = max(1, min(int(limit), 10_000))
    query = _inbox(actor, mine, doc_type)
    # due time ascending puts the overdue ones first; the index (assignee,) status, due_at,
    # created_at, id serves both halves in order (no sort of every open item)
    dated = query.where(col(WorkItem.due_at).is_not(None))
    undated = query.where(col(WorkItem.due_at).is_(None))
    rows: list[Any] = []
    if after is not None:
        due, created, last_id = after
        if isinstance(due, str):
            due = datetime.fromisoformat(due)
        if isinstance(created, str):
            created = datetime.fromisoformat(created)
        if due is None:  # already among those without a time limit
            dated = None
            undated = undated.where(tuple_(WorkItem.created_at, WorkItem.id) > (created, int(last_id)))
        else:
            dated = dated.where(tuple_(WorkItem.due_at, WorkItem.created_at, WorkItem.id) > (due, created, int(last_id)))
    if dated is not None:
        rows += session.execute(dated.order_by(col(WorkItem.due_at), col(WorkItem.created_at), col(WorkItem.id))
                                .limit(limit)).all()
    if len(rows) < limit:
        rows += session.execute(undated.order_by(col(WorkItem.created_at), col(WorkItem.id))
                                .limit(limit - len(rows))).all()
    document_types()  # every title known
    lines = summaries(session, ((r[10], r[11]) for r in rows))
    names = _display_names(session, (r[2] for r in rows))
    me = actor.user_name
    open_status = ITS.OPEN.value
    titles = {t: _title(t) for t in {r[10] for r in rows}}
    views = []
    # the values are the store's own, typed by the columns: built without re-validating each
    # field (a page of 60 cost more in pydantic validation than in SQL)
    make = WorkItemView.model_construct
    for (item_id, step, assignee, via, created, due, level, delegated_from, comment, inst_id, doc_type, doc_key,
         submitter) in rows:
        views.append(make(
            id=item_id, instance_id=inst_id, doc_type=doc_type, doc_title=titles[doc_type], doc_key=doc_key,
            summary=lines.get((doc_type, doc_key), ""), step=step, assignee=assignee, assigned_via=via,
            status=open_status, assigned_at=created, due_at=due, overdue=due is not None and due <= current,
            age_minutes=max(0, int((current - created).total_seconds() // 60)), escalation_level=level,
            delegated_from=delegated_from, decided_by=None, decided_at=None, comment=comment, submitter=submitter,
            assignee_name=names.get(assignee, ""), own_submission=submitter == me))
    return views


def count_waiting(session: Session, actor: Actor, doc_type: str | None = None) -> int:
    """Open work items waiting for this operator: assigned to them, and (while 'Disallow approval
    by submitter' is on) not on documents they submitted (header counts, ``work count``).

    Open items belong to running instances only (every end of an instance cancels its open
    items), so the count is read from the (assignee, status) index alone, less the few on the
    operator's own submissions (ix_workflowinstance_submitter, then ix_workitem_assignee_instance)."""
    require(actor, "work.view")
    me = actor.user_name
    mine = select(func.count()).select_from(WorkItem).where(WorkItem.assignee == me, WorkItem.status == ITS.OPEN)
    if doc_type:
        mine = (mine.join(WorkflowInstance, WorkItem.instance_id == WorkflowInstance.id)
                .where(WorkflowInstance.doc_type == doc_type))
    total = int(session.exec(mine).one())
    if total and params.get(session, "workflow.disallow_submitter_approval"):
        submitted = select(WorkflowInstance.id).where(WorkflowInstance.submitter == me,
                                                      WorkflowInstance.status == IS.RUNNING)
        if doc_type:
            submitted = submitted.where(WorkflowInstance.doc_type == doc_type)
        # probes (assignee, status, instance_id) once per own instance: no walk over my items
        own = select(func.count()).select_from(WorkItem).where(
            WorkItem.assignee == me, WorkItem.status == ITS.OPEN, col(WorkItem.instance_id).in_(submitted))
        total -= int(session.exec(own).one())
    return total


def show_item(session: Session, actor: Actor, item_id: int | str) -> InstanceDetail:
    """A work item's workflow: the steps, every item and decision of the instance."""
    require(actor, "work.view")
    item = _get_item(session, item_id)
    inst = session.get(WorkflowInstance, item.instance_id)
    assert inst is not None
    document_types()
    return _instance_detail(session, inst)


def history(session: Session, actor: Actor, doc_type: str, key: str) -> WorkflowHistory:
    """Every workflow a document went through, with its items and the document's audit events."""
    require(actor, "work.view")
    get_type(doc_type)
    instances = session.exec(select(WorkflowInstance).where(WorkflowInstance.doc_type == doc_type,
                                                            WorkflowInstance.doc_key == key)
                             .order_by(col(WorkflowInstance.id))).all()
    return WorkflowHistory(doc_type=doc_type, doc_key=key, instances=[_instance_detail(session, i) for i in instances],
                           events=audit.history(session, doc_type, key))


def operators_for_delegation(session: Session, actor: Actor) -> list[tuple[str, str]]:
    """(user name, display name) of the active operators who may take a work item."""
    require(actor, "work.act")
    ops = session.exec(select(Operator).where(Operator.active == True).order_by(col(Operator.user_name))).all()  # noqa: E712
    return [(o.user_name, o.display_name) for o in ops if set(o.roles.split()) & STAFF and o.user_name != actor.user_name]


# ------------------------------------------------------------------------ tick


def next_check(item: WorkItem, step: WorkflowStep | None, current: datetime) -> datetime | None:
    """When ``tick`` must next look at an open item: the first moment it could act on it (its time
    limit, its overdue reminder period, or its next ``reminder_hours`` reminder); None: never."""
    times: list[datetime] = []
    limit = step.time_limit_hours if step is not None else None
    every = step.reminder_hours if step is not None else None
    if item.due_at is not None:
        if item.due_at > current:
            times.append(item.due_at)
        else:  # overdue and still open: one reminder per period (see _overdue)
            last = item.last_reminded_at
            period = timedelta(hours=every or limit or 24)
            times.append(last + period if last is not None and last >= item.due_at else item.due_at)
    if every and (item.due_at is None or item.due_at > current):
        times.append((item.last_reminded_at or item.created_at) + timedelta(hours=every))
    return min(times) if times else None


def _schedule(item: WorkItem, step: WorkflowStep | None, current: datetime) -> WorkItem:
    item.next_check_at = next_check(item, step, current)
    return item


def _reschedule(session: Session, inst: WorkflowInstance, current: datetime) -> None:
    """After tick looked at an instance: each of its open items gets its next check time."""
    session.refresh(inst)
    step = _step(session, inst.definition_id, inst.current_step) if inst.status == IS.RUNNING else None
    for item in _open_items(session, inst.id or 0):
        when = next_check(item, step, current)
        if when != item.next_check_at:
            session.execute(update(WorkItem).where(WorkItem.id == item.id).values(next_check_at=when)
                            .execution_options(synchronize_session=False))


def _open_items(session: Session, instance_id: int) -> list[WorkItem]:
    return list(session.exec(select(WorkItem).where(WorkItem.instance_id == instance_id, WorkItem.status == ITS.OPEN)
                             .order_by(col(WorkItem.id)).execution_options(populate_existing=True)).all())


TICK_BATCH = 20_000


@writes
def tick(session: Session, actor: Actor = SYSTEM) -> TickReport:
    """Apply time limits (escalation, final automatic action), send reminders. Idempotent.

    Proportional to what is due: the open items whose ``next_check_at`` has come are found
    through an index, and each of their instances is handled in its own short transaction
    (tick commits as it goes: call it through ``Store.call``, never inside another
    transaction). An instance that fails is rolled back alone and reported in ``events``."""
    require(actor, "work.view")
    document_types()
    current = now(session)
    report = TickReport(at=current)
    due = session.exec(select(WorkItem.instance_id).where(WorkItem.status == ITS.OPEN,
                                                          col(WorkItem.next_check_at) <= current)
                       .order_by(col(WorkItem.next_check_at)).limit(TICK_BATCH)).all()
    session.commit()  # the look-up's transaction ends here: nothing is held while instances are handled
    ran_by = None if actor is SYSTEM else f"tick run by {actor.user_name}"
    for inst_id in dict.fromkeys(due):
        counts, said = report.model_dump(exclude={"at", "events"}), len(report.events)
        label = f"workflow instance {inst_id}"
        try:
            inst = session.exec(select(WorkflowInstance).where(WorkflowInstance.id == inst_id)
                                .execution_options(populate_existing=True)).first()
            if inst is None:
                continue
            label = _doc_label(inst)
            if inst.status == IS.RUNNING:
                items = _open_items(session, inst_id)
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
    step = _step(session, inst.definition_id, inst.current_step)
    if step is None or not step.reminder_hours:
        return
    current = now(session)
    for item in items:
        since = item.last_reminded_at or item.created_at
        if current < since + timedelta(hours=step.reminder_hours):
            continue
        if _mark_reminded(session, item):
            sent = _notify(session, "workflow_reminder", item, inst,
                           note=f"It has waited since {_at(item.created_at)} UTC.")
            report.reminders += 1
            report.events.append(f"reminder to {item.assignee} for work item {item.id} ({_doc_label(inst)})"
                                 + ("" if sent else " (no e-mail address: not sent)"))


def _mark_reminded(session: Session, item: WorkItem) -> bool:
    """Count the reminder unless another tick just did (no version bump: deciders are not disturbed)."""
    result = session.execute(
        update(WorkItem).where(WorkItem.id == item.id, WorkItem.status == ITS.OPEN,
                               WorkItem.reminders_sent == item.reminders_sent)
        .values(reminders_sent=item.reminders_sent + 1, last_reminded_at=now(session))
        .execution_options(synchronize_session=False))
    session.refresh(item)
    return result.rowcount == 1  # type: ignore[attr-defined]


def _overdue(session: Session, inst: WorkflowInstance, overdue: list[WorkItem], report: TickReport,
             ran_by: str | None) -> None:
    dt = get_type(inst.doc_type)
    step = _step(session, inst.definition_id, inst.current_step)
    if step is None:  # pragma: no cover
        return
    current = now(session)
    chain = json.loads(step.escalation or "[]")
    level = max(i.escalation_level for i in overdue)
    hours = step.time_limit_hours or 0
    # the next escalation target that has somebody in it
    targets: list[str] = []
    via = ""
    while level < len(chain) and not targets:
        kind, name = parse_assignee(chain[level])
        level += 1
        targets = _expand(session, kind, name)
        via = f"escalated to {kind} {name}"
    if targets:
        _move_instance(session, inst, "claim")
        already = {i.assignee for i in _live_items(session, inst) if i.status == ITS.OPEN and i not in overdue}
        for item in overdue:
            _move_item(session, item, "escalate", decided_at=current,
                       comment=f"no decision within {hours} h: {via}")
        due = current + timedelta(hours=hours) if hours else None
        new_items = []
        for user in targets:
            if user in already:
                continue
            new = _schedule(WorkItem(instance_id=inst.id, activation=inst.activation, step_sequence=step.sequence,
                                     step_name=step.name, assignee=user, assigned_via=via[:120], created_at=current,
                                     due_at=due, escalation_level=level), step, current)
            session.add(new)
            new_items.append(new)
        session.flush()
        for new in new_items:
            _notify(session, "workflow_assigned", new, inst,
                    reason=f"escalated: nobody decided within {hours} hours")
        _record(session, SYSTEM, inst, "workflow escalated", comment=ran_by, step=step.name,
                escalated_from=[i.assignee for i in overdue], to=targets, level=level)
        report.escalations += 1
        report.events.append(f"{_doc_label(inst)}: step '{step.name}' {via} ({', '.join(targets)})")
        return
    final = step.final_action
    if final in (FinalAction.APPROVE, FinalAction.REJECT):
        _move_instance(session, inst, "claim")
        why = f"automatic {'approval' if final == FinalAction.APPROVE else 'rejection'}: no decision within " \
              f"{hours} hours" + (" after the last escalation" if chain else "")
        for item in overdue:
            _move_item(session, item, "cancel", decided_at=current, comment=why)
        if final == FinalAction.APPROVE:
            _cancel_open(session, inst, why)
            _record(session, SYSTEM, inst, "workflow step approved automatically", comment=why, step=step.name)
            report.automatic_approvals += 1
            report.events.append(f"{_doc_label(inst)}: step '{step.name}' approved automatically")
            _run_from(session, SYSTEM, inst, dt, step.sequence + 1)
        else:
            report.automatic_rejections += 1
            report.events.append(f"{_doc_label(inst)}: rejected automatically")
            _finish_rejected(session, SYSTEM, inst, dt, why)
        return
    # nothing left to do but tell the assignees (once per period)
    period = timedelta(hours=step.reminder_hours or hours or 24)
    for item in overdue:
        last = item.last_reminded_at
        if last is not None and last >= item.due_at and current < last + period:  # type: ignore[operator]
            continue
        if _mark_reminded(session, item):
            sent = _notify(session, "workflow_reminder", item, inst,
                           note=f"It is OVERDUE since {_at(item.due_at)} UTC.")
            report.reminders += 1
            report.events.append(f"overdue reminder to {item.assignee} for work item {item.id} ({_doc_label(inst)})"
                                 + ("" if sent else " (no e-mail address: not sent)"))
