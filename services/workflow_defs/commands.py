"""Importing definition files and (de)activating versions (audited)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from models.workflow import WorkflowDefinition, WorkflowStep
from services import audit
from services.errors import Conflict, RegdeskError, ValidationFailed
from services.permissions import Actor, require
from services.store import now, writes
from services.workflow_defs.parsing import parse_definition
from services.workflow_defs.queries import get_definition
from services.workflow_defs.views import DefinitionDetail, definition_detail

ENTITY = "workflow"


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
    return definition_detail(session, d)


@writes
def import_file(session: Session, actor: Actor, path: str, activate: bool = False) -> DefinitionDetail:
    require(actor, "admin.workflows")
    return import_definition(session, actor, read_file(path), filename=Path(path).name, activate=activate)


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
    d = get_definition(session, ref)
    if not d.active:
        _set_active(session, actor, d, True)
    return definition_detail(session, d)


def refusal(session: Session, actor: Actor, ref: int | str, action: str) -> str | None:
    """Why ``action`` (activate or deactivate) would do nothing to the definition now, or None:
    both are no-ops on a definition already so; said before a confirmation is asked for nothing."""
    try:
        require(actor, "admin.workflows")
    except RegdeskError as exc:
        return exc.message
    d = get_definition(session, ref)
    want = action == "activate"
    if d.active == want:
        return f"{d.doc_type} '{d.name}' version {d.version} is {'active' if want else 'inactive'} already"
    return None


@writes
def deactivate(session: Session, actor: Actor, ref: int | str) -> DefinitionDetail:
    """New documents no longer start on it; running instances finish on it."""
    require(actor, "admin.workflows")
    d = get_definition(session, ref)
    if d.active:
        _set_active(session, actor, d, False)
    return definition_detail(session, d)
