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
