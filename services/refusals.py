"""Why an action cannot apply to a sign-up request now (None: nothing stands against it; the
command checks again when it runs), asked by the console before it opens the action's dialog.
Every other process answers this in its own package (``cases.refusal``, ``changes.refusal``,
``workflow.refusal``, ...); this one is built from ``services.signup``'s own precheck.
"""

from __future__ import annotations

from sqlmodel import Session

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
