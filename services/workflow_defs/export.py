"""A definition as TOML: the imported file itself, or one built with tomlkit."""

from __future__ import annotations

import json

import tomlkit
from sqlmodel import Session, col, select

from models.workflow import FinalAction, StepKind, WorkflowDefinition, WorkflowStep
from services.permissions import Actor, require
from services.workflow_defs.queries import find_definition


def export_definition(
    session: Session, actor: Actor, doc_type: str, name: str | None = None, version: int | None = None
) -> str:
    """The TOML of a definition (the active one of the type unless name/version say otherwise).
    The file as imported (comments kept); built with tomlkit when there is none."""
    require(actor, "admin.workflows")
    d = find_definition(session, doc_type, name, version)
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
