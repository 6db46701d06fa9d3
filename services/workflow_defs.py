"""Workflow definitions: TOML files in and out, list, show, activate, deactivate.

The definition file format (UTF-8 TOML; ``regdesk workflow export TYPE`` writes one)::

    doc_type = "user_request"            # required: a registered document type
    name = "Customer user request"       # required: 1-40 characters
    description = "Review, then provision the portal user"   # optional
    condition = 'request_type == "Customer"'                  # optional: empty = every document
    priority = 100                       # optional (default 100): lower is tried first when
                                         # several active definitions of the type match

    [[steps]]                            # one table per step, in order (at least one, at most 20)
    name = "Review"                      # required, unique in the file
    kind = "approval"                    # approval (default) | automated
    assignee = "role:approver"           # approval: "role:ROLE" or "operator:USER"
    policy = "any"                       # any (default) | all | majority
    condition = "credit_limit > 10000"   # optional: the step is skipped when false
    time_limit_hours = 24                # optional: due time of each work item
    reminder_hours = 8                   # optional: e-mail the assignee every N hours while open
    escalation = ["role:admin"]          # optional (needs time_limit_hours): who gets the step,
                                         # in turn, each time the time limit passes
    final_action = "reject"              # none (default) | approve | reject: taken by the
                                         # system when the time limit passes after the last escalation

    [[steps]]
    name = "Provision portal user"
    kind = "automated"
    action = "provision"                 # automated: an action the document type offers

Conditions use the small language of ``services.conditions`` (``==``, ``!=``, ``<``..., ``in``,
``not in``, ``and``, ``or``, ``not``, literals): never evaluated as Python.

Importing checks everything (unknown keys, types, policies, roles, operators, conditions,
automated actions) and refuses a bad file with each problem's line number and reason; a
refused file changes nothing. A good file becomes a new version of (doc type, name),
inactive unless activated. One version per (doc type, name) is active; activating one
deactivates the others. Running workflows keep the version they started with.
"""

from __future__ import annotations

import json
import re
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import tomlkit
from pydantic import BaseModel
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from models.core import Operator, Role
from models.workflow import CompletionPolicy, FinalAction, StepKind, WorkflowDefinition, WorkflowInstance, WorkflowStep
from services import audit, conditions
from services.errors import Conflict, NotFound, ValidationFailed
from services.permissions import Actor, require
from services.store import now, writes
from services.text import clean
from services.workflow import DocumentType, StepView, get_type, parse_assignee, step_view

TOP_KEYS = {"doc_type", "name", "description", "condition", "priority", "steps"}
STEP_KEYS = {
    "name",
    "kind",
    "assignee",
    "policy",
    "condition",
    "time_limit_hours",
    "reminder_hours",
    "escalation",
    "final_action",
    "action",
}
APPROVAL_ONLY = {"assignee", "policy", "time_limit_hours", "reminder_hours", "escalation", "final_action"}
MAX_STEPS = 20
MAX_FILE = 200_000
ENTITY = "workflow"


class DefinitionView(BaseModel):
    id: int
    doc_type: str
    name: str
    version: int
    active: bool
    description: str
    condition: str
    priority: int
    steps: int
    created_at: datetime
    created_by: str
    activated_at: datetime | None
    activated_by: str | None
    running: int  # instances running on this version


class DefinitionDetail(DefinitionView):
    step_list: list[StepView]


# ------------------------------------------------------------------------ parsing


class _Problems:
    """Problems found in a file, each at a line."""

    def __init__(self, source: str) -> None:
        self.lines = source.splitlines()
        self.headers = [i for i, line in enumerate(self.lines) if re.match(r"\s*\[\[\s*steps\s*\]\]", line)]
        self.items: list[tuple[int, str]] = []

    def line_of(self, key: str | None, step: int | None = None) -> int:
        """The line of ``key`` at the top of the file or in the ``step``-th [[steps]] table."""
        if step is None:
            start = 0
            end = next((i for i, line in enumerate(self.lines) if re.match(r"\s*\[", line)), len(self.lines))
        else:
            if step >= len(self.headers):
                start = 0
                end = len(self.lines)
                key = key if key is not None else "steps"
            else:
                start = self.headers[step]
                end = next(
                    (i for i in range(start + 1, len(self.lines)) if re.match(r"\s*\[", self.lines[i])), len(self.lines)
                )
        if key is not None:
            pattern = re.compile(r"\s*[\"']?" + re.escape(key) + r"[\"']?\s*=")
            for i in range(start, end):
                if pattern.match(self.lines[i]):
                    return i + 1
        return start + 1

    def add(self, reason: str, key: str | None = None, step: int | None = None, name: str | None = None) -> None:
        where = ""
        if step is not None:
            where = f"step {step + 1}" + (f" ({name!r})" if name else "") + ": "
        self.items.append((self.line_of(key, step), where + reason))

    def raise_if_any(self, filename: str) -> None:
        if not self.items:
            return
        errors: dict[str, str] = {}
        for line, reason in sorted(self.items, key=lambda x: x[0]):
            k = f"line {line}"
            errors[k] = f"{errors[k]}; {reason}" if k in errors else reason
        lines = "\n  ".join(f"{k}: {v}" for k, v in errors.items())
        raise ValidationFailed(errors, f"{filename}: not imported (nothing was changed):\n  {lines}")


class ParsedStep(BaseModel):
    name: str
    kind: str
    assignee_kind: str = ""
    assignee: str = ""
    policy: str = CompletionPolicy.ANY.value
    condition: str = ""
    time_limit_hours: int | None = None
    reminder_hours: int | None = None
    escalation: list[str] = []
    final_action: str = FinalAction.NONE.value
    action: str = ""


class ParsedDefinition(BaseModel):
    doc_type: str
    name: str
    description: str
    condition: str
    priority: int
    steps: list[ParsedStep]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_assignee(
    session: Session, spec: Any, problems: _Problems, key: str, step: int, name: str | None
) -> tuple[str, str]:
    if not isinstance(spec, str):
        problems.add(f'{key} must be text like "role:approver" or "operator:admin1"', key, step, name)
        return "", ""
    try:
        kind, who = parse_assignee(spec)
    except ValueError as exc:
        problems.add(f"{key} {exc}", key, step, name)
        return "", ""
    if kind == "role":
        try:
            who = Role.parse(who).value
        except ValueError:
            problems.add(f"{key}: unknown role {who!r} (one of: {', '.join(r.value for r in Role)})", key, step, name)
            return "", ""
    else:
        op = session.exec(select(Operator).where(Operator.user_name == who)).first()
        if op is None:
            problems.add(f"{key}: unknown operator {who!r}", key, step, name)
            return "", ""
        if not op.active:
            problems.add(f"{key}: operator {who!r} is disabled", key, step, name)
    return kind, who


def parse_definition(session: Session, source: str, filename: str = "definition") -> ParsedDefinition:
    """Read and check a definition file; ValidationFailed lists every problem with its line."""
    if len(source) > MAX_FILE:
        raise ValidationFailed({"file": f"too large (at most {MAX_FILE} characters)"})
    problems = _Problems(source)
    try:
        data = tomllib.loads(source)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        if match:
            problems.items.append((int(match.group(1)), f"TOML syntax: {msg} (column {match.group(2)})"))
        else:
            problems.items.append((1, f"TOML syntax: {exc}"))
        problems.raise_if_any(filename)
        raise  # pragma: no cover
    for key in data:
        if key not in TOP_KEYS:
            problems.add(f"unknown key {key!r} (allowed: {', '.join(sorted(TOP_KEYS))})", key)

    dt: DocumentType | None = None
    doc_type = data.get("doc_type")
    if not isinstance(doc_type, str) or not doc_type.strip():
        problems.add('doc_type is required (the document type, e.g. "user_request")', "doc_type")
    else:
        try:
            dt = get_type(doc_type.strip())
        except NotFound as exc:
            problems.add(exc.message, "doc_type")
    name = data.get("name")
    if not isinstance(name, str) or not clean(name):
        problems.add("name is required (1-40 characters)", "name")
        name = ""
    elif len(clean(name)) > 40:
        problems.add("name: at most 40 characters", "name")
    description = data.get("description", "")
    if not isinstance(description, str) or len(description) > 500:
        problems.add("description must be text of at most 500 characters", "description")
        description = ""
    priority = data.get("priority", 100)
    if not _is_int(priority) or not 0 <= priority <= 10_000:
        problems.add("priority must be a whole number from 0 to 10000", "priority")
        priority = 100
    names = dt.fields if dt is not None else None
    condition = data.get("condition", "")
    if not isinstance(condition, str):
        problems.add("condition must be text", "condition")
        condition = ""
    else:
        try:
            conditions.parse(condition, names=names)
        except conditions.ConditionError as exc:
            problems.add(f"condition: {exc}", "condition")

    raw_steps = data.get("steps")
    steps: list[ParsedStep] = []
    if not isinstance(raw_steps, list) or not raw_steps:
        problems.add("at least one [[steps]] table is required", "steps")
        raw_steps = []
    elif len(raw_steps) > MAX_STEPS:
        problems.add(f"at most {MAX_STEPS} steps", "steps")
    seen: set[str] = set()
    for index, raw in enumerate(raw_steps):
        if not isinstance(raw, dict):
            problems.add("each step must be a table ([[steps]])", None, index)
            continue
        steps.append(_parse_step(session, raw, index, dt, names, seen, problems))
    problems.raise_if_any(filename)
    return ParsedDefinition(
        doc_type=str(doc_type).strip(),
        name=clean(name),
        description=clean(description),
        condition=condition.strip(),
        priority=priority,
        steps=steps,
    )


def _parse_step(
    session: Session,
    raw: dict[str, Any],
    index: int,
    dt: DocumentType | None,
    names: Any,
    seen: set[str],
    problems: _Problems,
) -> ParsedStep:
    sname = raw.get("name")
    label = sname if isinstance(sname, str) else None
    for key in raw:
        if key not in STEP_KEYS:
            problems.add(f"unknown key {key!r} (allowed: {', '.join(sorted(STEP_KEYS))})", key, index, label)
    if not isinstance(sname, str) or not clean(sname) or len(clean(sname)) > 60:
        problems.add("name is required (1-60 characters)", "name", index)
        sname = f"step {index + 1}"
    sname = clean(sname)
    if sname in seen:
        problems.add(f"another step is named {sname!r}", "name", index, label)
    seen.add(sname)
    kind = raw.get("kind", StepKind.APPROVAL.value)
    if kind not in (StepKind.APPROVAL, StepKind.AUTOMATED):
        problems.add(f"kind {kind!r} is not approval or automated", "kind", index, label)
        kind = StepKind.APPROVAL.value
    step = ParsedStep(name=sname, kind=str(kind))
    cond = raw.get("condition", "")
    if not isinstance(cond, str):
        problems.add("condition must be text", "condition", index, label)
    else:
        try:
            conditions.parse(cond, names=names)
            step.condition = cond.strip()
        except conditions.ConditionError as exc:
            problems.add(f"condition: {exc}", "condition", index, label)
    if kind == StepKind.AUTOMATED:
        for key in APPROVAL_ONLY & set(raw):
            problems.add(f"{key} does not apply to an automated step", key, index, label)
        action = raw.get("action")
        if not isinstance(action, str) or not action.strip():
            problems.add("action is required for an automated step", "action", index, label)
        elif dt is not None and action.strip() not in dt.automated:
            offered = ", ".join(sorted(dt.automated)) or "none"
            problems.add(
                f"unknown automated action {action!r} for {dt.name} (offered: {offered})", "action", index, label
            )
        else:
            step.action = action.strip()
        return step
    if "action" in raw:
        problems.add('action applies to automated steps only (add kind = "automated")', "action", index, label)
    if "assignee" not in raw:
        problems.add('assignee is required ("role:ROLE" or "operator:USER")', None, index, label)
    else:
        step.assignee_kind, step.assignee = _check_assignee(
            session, raw["assignee"], problems, "assignee", index, label
        )
    policy = raw.get("policy", CompletionPolicy.ANY.value)
    if policy not in {p.value for p in CompletionPolicy}:
        problems.add(f"policy {policy!r} is not one of any, all, majority", "policy", index, label)
    else:
        step.policy = policy
    for key in ("time_limit_hours", "reminder_hours"):
        if key in raw:
            value = raw[key]
            if not _is_int(value) or not 1 <= value <= 24 * 365:
                problems.add(f"{key} must be a whole number of hours from 1 to 8760", key, index, label)
            else:
                setattr(step, key, value)
    escalation = raw.get("escalation", [])
    if not isinstance(escalation, list):
        problems.add('escalation must be a list like ["role:admin"]', "escalation", index, label)
        escalation = []
    if escalation and "time_limit_hours" not in raw:
        problems.add("escalation needs time_limit_hours (when to escalate)", "escalation", index, label)
    if len(escalation) > 5:
        problems.add("at most 5 escalation levels", "escalation", index, label)
    for entry in escalation:
        kind_, who = _check_assignee(session, entry, problems, "escalation", index, label)
        if kind_:
            step.escalation.append(f"{kind_}:{who}")
    final = raw.get("final_action", FinalAction.NONE.value)
    if final not in {f.value for f in FinalAction}:
        problems.add(f"final_action {final!r} is not one of none, approve, reject", "final_action", index, label)
    else:
        step.final_action = final
        if final != FinalAction.NONE and "time_limit_hours" not in raw:
            problems.add("final_action needs time_limit_hours", "final_action", index, label)
    return step


# ------------------------------------------------------------------------ import / export


def _audit_key(d: WorkflowDefinition) -> str:
    return f"{d.doc_type}/{d.name}"[:64]


def read_file(path: str) -> str:
    try:
        return Path(path).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationFailed({"file": f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}"}) from None


@writes
def import_definition(
    session: Session, actor: Actor, source: str, *, filename: str = "definition", activate: bool = False
) -> DefinitionDetail:
    """A checked file becomes a new version (inactive unless ``activate``)."""
    require(actor, "admin.workflows")
    parsed = parse_definition(session, source, filename)
    latest = session.exec(
        select(func.max(WorkflowDefinition.version)).where(
            WorkflowDefinition.doc_type == parsed.doc_type, WorkflowDefinition.name == parsed.name
        )
    ).one()
    d = WorkflowDefinition(
        doc_type=parsed.doc_type,
        name=parsed.name,
        version=(latest or 0) + 1,
        description=parsed.description,
        condition=parsed.condition,
        priority=parsed.priority,
        active=False,
        source=source,
        created_at=now(session),
        created_by=actor.user_name,
    )
    session.add(d)
    session.flush()
    assert d.id is not None  # the flush assigned it
    for seq, s in enumerate(parsed.steps, start=1):
        session.add(
            WorkflowStep(
                definition_id=d.id,
                sequence=seq,
                name=s.name,
                kind=s.kind,
                assignee_kind=s.assignee_kind,
                assignee=s.assignee,
                policy=s.policy,
                condition=s.condition,
                time_limit_hours=s.time_limit_hours,
                reminder_hours=s.reminder_hours,
                escalation=json.dumps(s.escalation),
                final_action=s.final_action,
                action=s.action,
            )
        )
    session.flush()
    audit.record(
        session,
        actor,
        ENTITY,
        _audit_key(d),
        "imported",
        after={"id": d.id, "version": d.version, "condition": d.condition, "steps": len(parsed.steps)},
        comment=f"from {filename}",
    )
    if activate:
        _set_active(session, actor, d, True)
    return _detail(session, d)


@writes
def import_file(session: Session, actor: Actor, path: str, activate: bool = False) -> DefinitionDetail:
    require(actor, "admin.workflows")
    return import_definition(session, actor, read_file(path), filename=Path(path).name, activate=activate)


def _find(session: Session, doc_type: str, name: str | None, version: int | None) -> WorkflowDefinition:
    query = select(WorkflowDefinition).where(WorkflowDefinition.doc_type == doc_type)
    if name:
        query = query.where(WorkflowDefinition.name == name)
    if version is not None:
        query = query.where(WorkflowDefinition.version == version)
    rows = session.exec(
        query.order_by(
            col(WorkflowDefinition.active).desc(),
            col(WorkflowDefinition.version).desc(),
            col(WorkflowDefinition.id).desc(),
        )
    ).all()
    if not rows:
        what = f"{doc_type}" + (f" named {name!r}" if name else "") + (f" version {version}" if version else "")
        raise NotFound(f"no workflow definition for {what}")
    return rows[0]


def export_definition(
    session: Session, actor: Actor, doc_type: str, name: str | None = None, version: int | None = None
) -> str:
    """The TOML of a definition (the active one of the type unless name/version say otherwise).
    The file as imported (comments kept); built with tomlkit when there is none."""
    require(actor, "admin.workflows")
    d = _find(session, doc_type, name, version)
    if d.source.strip():
        return d.source
    return to_toml(session, d)


def to_toml(session: Session, d: WorkflowDefinition) -> str:
    doc = tomlkit.document()
    doc.add(
        tomlkit.comment(f"regdesk workflow definition: {d.doc_type} / {d.name} (exported from version {d.version})")
    )
    doc["doc_type"] = d.doc_type
    doc["name"] = d.name
    if d.description:
        doc["description"] = d.description
    doc["condition"] = d.condition
    doc["priority"] = d.priority
    steps = tomlkit.aot()
    for s in session.exec(
        select(WorkflowStep).where(WorkflowStep.definition_id == d.id).order_by(col(WorkflowStep.sequence))
    ).all():
        t = tomlkit.table()
        t["name"] = s.name
        t["kind"] = s.kind
        if s.kind == StepKind.AUTOMATED:
            t["action"] = s.action
        else:
            t["assignee"] = f"{s.assignee_kind}:{s.assignee}"
            t["policy"] = s.policy
        if s.condition:
            t["condition"] = s.condition
        if s.kind != StepKind.AUTOMATED:
            if s.time_limit_hours:
                t["time_limit_hours"] = s.time_limit_hours
            if s.reminder_hours:
                t["reminder_hours"] = s.reminder_hours
            chain = json.loads(s.escalation or "[]")
            if chain:
                t["escalation"] = chain
            if s.final_action != FinalAction.NONE:
                t["final_action"] = s.final_action
        steps.append(t)
    doc["steps"] = steps
    return tomlkit.dumps(doc)


# ------------------------------------------------------------------------ list, show, activate


_View = TypeVar("_View", bound=DefinitionView)


def _view(session: Session, d: WorkflowDefinition, cls: type[_View], **extra: Any) -> _View:
    steps = session.exec(select(func.count()).select_from(WorkflowStep).where(WorkflowStep.definition_id == d.id)).one()
    running = session.exec(
        select(func.count())
        .select_from(WorkflowInstance)
        .where(
            WorkflowInstance.definition_id == d.id, col(WorkflowInstance.status).in_(["running", "change_requested"])
        )
    ).one()
    return cls(
        id=d.id or 0,
        doc_type=d.doc_type,
        name=d.name,
        version=d.version,
        active=d.active,
        description=d.description,
        condition=d.condition,
        priority=d.priority,
        steps=steps,
        created_at=d.created_at,
        created_by=d.created_by,
        activated_at=d.activated_at,
        activated_by=d.activated_by,
        running=running,
        **extra,
    )


def _detail(session: Session, d: WorkflowDefinition) -> DefinitionDetail:
    steps = session.exec(
        select(WorkflowStep).where(WorkflowStep.definition_id == d.id).order_by(col(WorkflowStep.sequence))
    ).all()
    return _view(session, d, DefinitionDetail, step_list=[step_view(s) for s in steps])


def list_definitions(
    session: Session, actor: Actor, doc_type: str | None = None, *, active_only: bool = False
) -> list[DefinitionView]:
    require(actor, "work.view")
    query = select(WorkflowDefinition)
    if doc_type:
        query = query.where(WorkflowDefinition.doc_type == doc_type)
    if active_only:
        query = query.where(WorkflowDefinition.active == True)  # noqa: E712
    rows = session.exec(
        query.order_by(
            col(WorkflowDefinition.doc_type), col(WorkflowDefinition.name), col(WorkflowDefinition.version).desc()
        )
    ).all()
    return [_view(session, d, DefinitionView) for d in rows]


def _get(session: Session, ref: int | str) -> WorkflowDefinition:
    text = str(ref).strip()
    if text.isdigit():
        from services.validation import record_id

        ident = record_id(text)
        d = session.get(WorkflowDefinition, ident) if ident is not None else None
        if d is None:
            raise NotFound(f"no workflow definition {text} (see 'regdesk workflow list')")
        return d
    return _find(session, text, None, None)


def show_definition(session: Session, actor: Actor, ref: int | str) -> DefinitionDetail:
    """A definition by id, or the active (else newest) one of a document type."""
    require(actor, "work.view")
    return _detail(session, _get(session, ref))


def _set_active(session: Session, actor: Actor, d: WorkflowDefinition, active: bool) -> None:
    current = now(session)
    if active:
        # the other active version of the same (doc type, name) steps down first
        for other in session.exec(
            select(WorkflowDefinition).where(
                WorkflowDefinition.doc_type == d.doc_type,
                WorkflowDefinition.name == d.name,
                WorkflowDefinition.active == True,  # noqa: E712
                WorkflowDefinition.id != d.id,
            )
        ).all():
            _flip(session, other, False)
            audit.record(
                session,
                actor,
                ENTITY,
                _audit_key(other),
                "deactivated",
                before={"version": other.version, "active": True},
                after={"version": other.version, "active": False},
                comment=f"version {d.version} activated",
            )
    _flip(
        session,
        d,
        active,
        activated_at=current if active else d.activated_at,
        activated_by=actor.user_name if active else d.activated_by,
    )
    audit.record(
        session,
        actor,
        ENTITY,
        _audit_key(d),
        "activated" if active else "deactivated",
        before={"version": d.version, "active": not active},
        after={"version": d.version, "active": active},
    )


def _flip(session: Session, d: WorkflowDefinition, active: bool, **values: Any) -> None:
    result = session.execute(
        update(WorkflowDefinition)
        .where(
            col(WorkflowDefinition.id) == d.id,
            col(WorkflowDefinition.row_version) == d.row_version,
            col(WorkflowDefinition.active) == (not active),
        )
        .values(active=active, row_version=d.row_version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]  # sqlmodel types execute() as Result; an UPDATE's is a CursorResult
        raise Conflict(f"workflow definition {d.id} was changed by someone else meanwhile: reread and try again")
    session.flush()
    session.refresh(d)


@writes
def activate(session: Session, actor: Actor, ref: int | str) -> DefinitionDetail:
    """Make this version the active one of its (doc type, name); new documents start on it."""
    require(actor, "admin.workflows")
    d = _get(session, ref)
    if not d.active:
        _set_active(session, actor, d, True)
    return _detail(session, d)


@writes
def deactivate(session: Session, actor: Actor, ref: int | str) -> DefinitionDetail:
    """New documents no longer start on it; running instances finish on it."""
    require(actor, "admin.workflows")
    d = _get(session, ref)
    if d.active:
        _set_active(session, actor, d, False)
    return _detail(session, d)
