"""Documents in and out of workflow: submit, resubmit (after a request for change), recall.

``submit``/``resubmit``/``recall`` run in the caller's transaction (a document type's own
command calls them); ``*_document`` are the same as service calls of their own (phased: the
refusals reads can tell are said before the write transaction).
"""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from models.workflow import WorkflowInstance
from services.errors import Conflict, InvalidTransition, NotFound, PermissionDenied, ValidationFailed
from services.permissions import Actor, require
from services.sequences import is_provisional
from services.store import begin_write, in_plan_phase, now, writes
from services.text import clean
from services.workflow.doctypes import DocumentType, doc_label, get_type
from services.workflow.queries import instance_view, latest_instance, live_instance, matching_definition
from services.workflow.steps import cancel_open, record, run_from
from services.workflow.table import IS, explain_instance, move_instance
from services.workflow.views import InstanceView


def comment_text(value: str | None, name: str = "comment") -> str | None:
    """A decision's comment or reason, cleaned (None when empty); ValidationFailed over 1000 characters."""
    text = clean(value, multiline=True)
    if len(text) > 1000:
        raise ValidationFailed({name: "at most 1000 characters"})
    return text or None


def _refuse_live(session: Session, doc_type: str, key: str) -> None:
    live = live_instance(session, doc_type, key)
    if live is not None:
        raise Conflict(f"{doc_label(live)} is already in workflow (instance {live.id}, {live.status})")


def submit(session: Session, actor: Actor, doc_type: str, key: str, comment: str | None = None) -> int | None:
    """Start the active definition whose condition matches the document; None when none does
    (the caller keeps its manual state). Runs in the caller's transaction."""
    dt = get_type(doc_type)
    note = comment_text(comment)
    if not is_provisional(key):  # a document numbered in this transaction cannot be in workflow yet
        _refuse_live(session, doc_type, key)
    definition = matching_definition(session, doc_type, key)
    if definition is None:
        return None
    assert definition.id is not None  # loaded from the store
    current = now(session)
    inst = WorkflowInstance(
        doc_type=doc_type,
        doc_key=key,
        definition_id=definition.id,
        status=IS.RUNNING,
        submitter=dt.submitter(session, key),
        started_at=current,
        updated_at=current,
    )
    try:
        with session.begin_nested():
            session.add(inst)
            session.flush()
    except IntegrityError:
        raise Conflict(f"{dt.title} {key} was submitted to workflow by someone else meanwhile") from None
    record(
        session,
        actor,
        inst,
        "workflow submitted",
        comment=note,
        definition=f"{definition.name} v{definition.version}",
        submitter=inst.submitter,
    )
    if dt.on_started is not None:
        dt.on_started(session, actor, key)
    run_from(session, actor, inst, dt, 0)
    return inst.id


def _require_submitter(actor: Actor, inst: WorkflowInstance, what: str) -> None:
    if actor.user_name != inst.submitter:
        raise PermissionDenied(
            f"only the submitter of {doc_label(inst)} ({inst.submitter}) may {what} it; {actor.user_name} is not"
        )


def _looked_up(
    session: Session, doc_type: str, key: str, comment: str | None, never: str
) -> tuple[DocumentType, str | None, WorkflowInstance | None, WorkflowInstance]:
    """The type, the comment, the live instance (None: none is live) and the latest instance of a
    document; NotFound ("<title> <key> <never>") when it has never been in workflow."""
    dt = get_type(doc_type)
    note = comment_text(comment)
    inst = live_instance(session, doc_type, key)
    last = inst or latest_instance(session, doc_type, key)
    if last is None:
        raise NotFound(f"{dt.title} {key} {never}")
    return dt, note, inst, last


def _resubmit_target(
    session: Session, actor: Actor, doc_type: str, key: str, comment: str | None
) -> tuple[DocumentType, str | None, WorkflowInstance | None]:
    """resubmit's checks (reads only): the type, the comment, and the instance sent back for
    changes (None: the document left workflow, so resubmitting starts a new one)."""
    dt, note, inst, last = _looked_up(session, doc_type, key, comment, "has never been in workflow: submit it")
    if inst is None:
        _require_submitter(actor, last, "resubmit")
        return dt, note, None
    _require_submitter(actor, inst, "resubmit")
    if inst.status != IS.CHANGE_REQUESTED:
        raise InvalidTransition(
            f"{doc_label(inst)} is in workflow already (status {inst.status}): "
            "only a document sent back for changes can be resubmitted"
        )
    return dt, note, inst


def resubmit(session: Session, actor: Actor, doc_type: str, key: str, comment: str | None = None) -> int | None:
    """After a request for change: the submitter sends the document back into the same step
    (assignees taken afresh). After a rejection or a recall, a new workflow starts (submit)."""
    dt, note, inst = _resubmit_target(session, actor, doc_type, key, comment)
    if inst is None:
        return submit(session, actor, doc_type, key, comment)
    move_instance(session, inst, "resubmit")
    record(session, actor, inst, "workflow resubmitted", comment=note)
    if dt.on_started is not None:
        dt.on_started(session, actor, key)
    run_from(session, actor, inst, dt, inst.current_step or 0)
    return inst.id


def _recall_target(
    session: Session, actor: Actor, doc_type: str, key: str, comment: str | None
) -> tuple[DocumentType, str | None, WorkflowInstance]:
    """recall's checks (reads only): the type, the comment, the live instance of the submitter."""
    dt, note, inst, last = _looked_up(session, doc_type, key, comment, "is not in workflow")
    if inst is None:
        raise InvalidTransition(f"cannot recall {dt.title} {key}: " + explain_instance(session, last))
    _require_submitter(actor, inst, "recall")
    return dt, note, inst


def recall(session: Session, actor: Actor, doc_type: str, key: str, comment: str | None = None) -> InstanceView:
    """The submitter takes the document back out of workflow; open work items are canceled."""
    dt, note, inst = _recall_target(session, actor, doc_type, key, comment)
    move_instance(session, inst, "recall", ended_at=now(session))
    cancel_open(session, inst, f"recalled by {actor.user_name}")
    record(session, actor, inst, "workflow recalled", comment=note, status=IS.RECALLED.value)
    if dt.on_recalled is not None:
        dt.on_recalled(session, actor, key)
    return instance_view(session, inst)


# service-call wrappers (own transaction) for the CLI and the console
# (phased: the refusals that reads can tell, an unknown type, a document already in workflow,
# not the submitter, a wrong state, are said before the write transaction; the engine
# function then checks everything again in it)
@writes(phased=True)
def submit_document(session: Session, actor: Actor, doc_type: str, key: str, comment: str | None = None) -> int | None:
    require(actor, "work.view")
    if in_plan_phase(session):
        get_type(doc_type)
        comment_text(comment)
        _refuse_live(session, doc_type, key)
        begin_write(session)
    return submit(session, actor, doc_type, key, comment)


@writes(phased=True)
def resubmit_document(
    session: Session, actor: Actor, doc_type: str, key: str, comment: str | None = None
) -> int | None:
    if in_plan_phase(session):
        _resubmit_target(session, actor, doc_type, key, comment)
        begin_write(session)
    return resubmit(session, actor, doc_type, key, comment)


@writes(phased=True)
def recall_document(
    session: Session, actor: Actor, doc_type: str, key: str, comment: str | None = None
) -> InstanceView:
    if in_plan_phase(session):
        _recall_target(session, actor, doc_type, key, comment)
        begin_write(session)
    return recall(session, actor, doc_type, key, comment)
