"""What the customer does on the public pages beyond the CLI's portal commands.

* ``link_state``: what a verification or activation link is (valid, expired, used, replaced,
  unknown) without using it, so the page a customer opens can say so before any click, and
  a link prefetched by a mail scanner changes nothing.
* ``renew_verification``: the customer's own "Activation URL" (seed 001): a new verification
  link for the request an expired or replaced link belonged to.
* ``resend_verification``: the same from the e-mail address alone; it answers nothing, so a
  caller cannot learn whether somebody signed up with an address.

Both resends run the sign-up service's own transition and mail (``signup.resend``'s steps)
with the portal as the actor, and write the same audit event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from models.core import Token
from models.portal import PortalUser
from models.signup import SignupRequest, SignupStatus
from services import audit, signup, tokens
from services.permissions import PORTAL
from services.store import now, writes
from services.text import clean, normalize_email

VERIFY = "signup-verify"
ACTIVATE = "portal-activate"


@dataclass(frozen=True)
class LinkState:
    state: str  # valid, expired, used, replaced, unknown
    at: datetime | None = None  # when it expired / was used / was replaced
    number: str | None = None  # the sign-up request (verification links)
    status: str | None = None  # the request's or portal user's status now
    company: str | None = None
    user_name: str | None = None  # the portal user (activation links)


def _token(session: Session, purpose: str, raw: str) -> Token | None:
    raw = (raw or "").strip()
    if not tokens.TOKEN_PATTERN.fullmatch(raw):
        return None
    return session.exec(
        select(Token).where(Token.token_hash == tokens.hash_token(raw), Token.purpose == purpose)
    ).first()


def link_state(session: Session, purpose: str, raw: str) -> LinkState:
    """Read-only: what ``tokens.consume`` would say about this link, and whose it is."""
    token = _token(session, purpose, raw)
    if token is None:
        return LinkState("unknown")
    current = now(session)
    extra: dict[str, str | None] = {}
    if purpose == VERIFY:
        req = session.exec(select(SignupRequest).where(SignupRequest.number == token.entity_key)).first()
        if req is None:
            return LinkState("unknown")
        extra = {"number": req.number, "status": req.status, "company": req.company}
    else:
        user = session.exec(select(PortalUser).where(PortalUser.user_name_key == token.entity_key)).first()
        if user is None:
            return LinkState("unknown")
        extra = {"user_name": user.user_name, "status": user.status}
    if token.used_at is not None:
        return LinkState("used", token.used_at, **extra)
    if token.voided_at is not None:
        return LinkState("replaced", token.voided_at, **extra)
    if token.expires_at <= current:
        return LinkState("expired", token.expires_at, **extra)
    return LinkState("valid", token.expires_at, **extra)


def _resend(session: Session, req: SignupRequest, how: str) -> bool:
    if req.status != SignupStatus.REQUESTED:
        return False
    signup.transition(session, req, "resend")
    signup.send_verification(session, req)
    audit.record(
        session,
        PORTAL,
        signup.ENTITY,
        req.number,
        "activation URL sent",
        comment=f"new link sent to {req.email}, asked for by the customer {how}",
    )
    return True


@writes
def renew_verification(session: Session, raw: str) -> LinkState:
    """A new verification link for the request of an expired or replaced link (Requested only)."""
    state = link_state(session, VERIFY, raw)
    if state.state not in ("expired", "replaced") or state.number is None:
        return state
    req = session.exec(select(SignupRequest).where(SignupRequest.number == state.number)).one()
    _resend(session, req, "from an old link")
    return state


@writes
def resend_verification(session: Session, email: str) -> None:
    """A new link for the newest request of this address still waiting for confirmation; silent."""
    key = normalize_email(clean(email or "")[:254])
    if not key:
        return
    req = session.exec(
        select(SignupRequest)
        .where(SignupRequest.email_normalized == key, SignupRequest.status == SignupStatus.REQUESTED.value)
        .order_by(col(SignupRequest.id).desc())
    ).first()
    if req is not None:
        _resend(session, req, "on the sign-up page")
