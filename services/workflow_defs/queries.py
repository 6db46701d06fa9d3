"""Finding, listing and showing workflow definitions."""

from __future__ import annotations

from sqlmodel import Session, col, select

from models.workflow import WorkflowDefinition
from services.errors import NotFound
from services.permissions import Actor, require
from services.workflow_defs.views import DefinitionDetail, DefinitionView, definition_detail, definition_view


def find_definition(session: Session, doc_type: str, name: str | None, version: int | None) -> WorkflowDefinition:
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
    return [definition_view(session, d, DefinitionView) for d in rows]


def get_definition(session: Session, ref: int | str) -> WorkflowDefinition:
    text = str(ref).strip()
    if text.isdigit():
        from services.validation import record_id

        ident = record_id(text)
        d = session.get(WorkflowDefinition, ident) if ident is not None else None
        if d is None:
            raise NotFound(f"no workflow definition {text} (see 'regdesk workflow list')")
        return d
    return find_definition(session, text, None, None)


def show_definition(session: Session, actor: Actor, ref: int | str) -> DefinitionDetail:
    """A definition by id, or the active (else newest) one of a document type."""
    require(actor, "work.view")
    return definition_detail(session, get_definition(session, ref))
