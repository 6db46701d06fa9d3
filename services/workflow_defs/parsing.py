"""Reading a definition file: every problem with its line number, nothing written (see the package's doc)."""

from __future__ import annotations

import re
import tomllib
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, select

from models.core import Operator, Role
from models.workflow import CompletionPolicy, FinalAction, StepKind
from services import conditions
from services.errors import NotFound, ValidationFailed
from services.text import clean
from services.workflow import DocumentType, get_type, parse_assignee

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
