"""Workflow definitions as the console and CLI show them."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import Session, col, select

from models.workflow import WorkflowDefinition, WorkflowInstance, WorkflowStep
from services.workflow import StepView, step_view


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


_View = TypeVar("_View", bound=DefinitionView)


def definition_view(session: Session, d: WorkflowDefinition, cls: type[_View], **extra: Any) -> _View:
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


def definition_detail(session: Session, d: WorkflowDefinition) -> DefinitionDetail:
    steps = session.exec(
        select(WorkflowStep).where(WorkflowStep.definition_id == d.id).order_by(col(WorkflowStep.sequence))
    ).all()
    return definition_view(session, d, DefinitionDetail, step_list=[step_view(s) for s in steps])
