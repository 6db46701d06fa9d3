"""Why an action cannot apply to a sign-up request or a change proposal now (None: nothing stands
against it; the command checks again when it runs), asked by the console before it opens the
action's dialog. Cases, prospects and user requests answer this in their own packages
(``cases.refusal``, ...); these two are built here from the public lookups and checks of
``services.signup`` and ``services.changes``, in their commands' words, until those packages
carry a ``refusal`` of their own.
"""

from __future__ import annotations

from sqlmodel import Session

from services import transitions
from services.errors import RegdeskError
from services.permissions import Actor, require


def signup_refusal(session: Session, actor: Actor, number: str, action: str) -> str | None:
    """``action``: one of the sign-up process's actions (approve, reject, create, resend)."""
    from services import signup

    require(actor, "signup.view")
    req = signup.get_request(session, number)
    permission = signup.TRANSITIONS[action].permission
    try:
        if permission is not None:
            require(actor, permission)
        signup.precheck(session, req, action)
    except RegdeskError as exc:
        return exc.message
    return None


def proposal_refusal(session: Session, actor: Actor, number: str, action: str) -> str | None:
    """``action``: approve or reject. They decide the customer's open proposal: a proposal that is not
    it (decided already, or an older one) is refused here, as the decision would act on another."""
    from services import changes
    from services.changes.queries import find

    require(actor, "changes.view")
    p = find(session, number)
    try:
        require(actor, "changes.decide")
        transitions.check(session, changes.PROCESS, p, action)
        if actor.user_name in changes.proposers(session, p):
            role = "submitted" if actor.user_name == p.submitted_by else "proposed changes in"
            return (
                f"{actor.user_name} cannot {action} {p.number}: they {role} it; "
                "another approver must decide (self-approval is not allowed)"
            )
    except RegdeskError as exc:
        return exc.message
    return None


def work_refusal(session: Session, actor: Actor, item_id: int | str, action: str) -> str | None:
    """``action``: approve, reject, request_change or delegate on one work item. The checks of
    ``services.workflow.decisions`` before it writes (open item, running instance, its assignee,
    the submitter rule for approve), in its words."""
    from models.workflow import WorkflowInstance
    from services import params
    from services.workflow.doctypes import doc_label
    from services.workflow.queries import get_item
    from services.workflow.table import IS, ITS, explain_instance, explain_item

    verb = {"approve": "approve", "reject": "reject", "request_change": "request a change on", "delegate": "delegate"}[
        action
    ]
    try:
        require(actor, "work.act")
    except RegdeskError as exc:
        return exc.message
    item = get_item(session, item_id)
    inst = session.get(WorkflowInstance, item.instance_id)
    if inst is None:  # pragma: no cover - an item's instance is a foreign key
        return f"work item {item.id} has no workflow instance"
    if item.status != ITS.OPEN:
        return f"cannot {verb} work item {item.id}: " + explain_item(session, item)
    if inst.status != IS.RUNNING:  # pragma: no cover - open items belong to running instances
        return f"cannot {verb} work item {item.id}: " + explain_instance(session, inst)
    if item.assignee != actor.user_name:
        via = f" (delegated by {item.delegated_from})" if item.delegated_from else ""
        return (
            f"work item {item.id} ({doc_label(inst)}, step '{item.step_name}') is assigned to "
            f"{item.assignee}{via}, not to {actor.user_name}: only its assignee may {verb} it"
        )
    if action == "approve" and inst.submitter == actor.user_name:
        if params.get(session, "workflow.disallow_submitter_approval"):
            return (
                f"{actor.user_name} submitted {doc_label(inst)} and may not approve it: the parameter "
                "'Disallow approval by submitter' (workflow.disallow_submitter_approval) is on. "
                "Delegate the item to another operator, or reject / request a change"
            )
    return None


def definition_refusal(session: Session, actor: Actor, ref: int | str, action: str) -> str | None:
    """``action``: activate or deactivate a workflow definition. Both are no-ops on a definition
    already so (``services.workflow_defs``): said here, before a confirmation is asked for nothing."""
    from services.workflow_defs.queries import get_definition

    try:
        require(actor, "admin.workflows")
    except RegdeskError as exc:
        return exc.message
    d = get_definition(session, ref)
    want = action == "activate"
    if d.active == want:
        return f"{d.doc_type} '{d.name}' version {d.version} is {'active' if want else 'inactive'} already"
    return None
