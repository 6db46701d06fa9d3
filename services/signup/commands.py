"""The sign-up commands up to approval: submit, verify, resend, approve, reject.

Every transition is a conditional UPDATE (``WHERE id = :id AND status IN (...)``) whose row
count is checked, so when two approvers act on one request exactly one wins and the other
is told who was first; nothing else in the transaction survives for the loser.

Every writing command is phased (``@writes(phased=True)``, services/store.py): permissions,
validation, the request lookup, the state check and the duplicate search run first without
any lock; ``begin_write`` then opens a short write transaction whose conditional UPDATEs
(version and status) re-check what the plan read. A registration number is taken just before
the rows that carry it are written.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, select

from models.core import Token
from models.schemas import SignupIn
from models.signup import SignupRequest
from services import audit, mail, params, sequences, tokens
from services.errors import InvalidTransition, PermissionDenied, ValidationFailed
from services.permissions import APPROVER, PORTAL, Actor, require
from services.signup import queries
from services.signup.table import ENTITY, TRANSITIONS, S, get_request, precheck, transition
from services.signup.views import SubmitResult, VerifyResult
from services.store import begin_write, now, writes
from services.text import clean, normalize_company, normalize_email
from services.validation import field_errors


def validate_input(data: Any) -> SignupIn:
    """The sign-up JSON to a clean SignupIn, or ValidationFailed naming each bad field."""
    if not isinstance(data, dict):
        raise ValidationFailed({"request": "expected a JSON object with the sign-up fields"})
    errors: dict[str, str] = {}
    try:
        parsed = SignupIn.model_validate(data)
    except ValidationError as exc:
        errors.update(field_errors(exc, _PATTERN_HINTS, unknown="unknown field (see 'regdesk signup schema')"))
        parsed = None
    email = data.get("email") if isinstance(data.get("email"), str) else None
    if "email" not in errors and email is not None:
        from services.validation import email_address

        try:
            normalized = email_address(clean(email))
            if parsed is not None:
                parsed.email = normalized
        except ValueError as exc:
            errors["email"] = str(exc)
    if errors or parsed is None:
        raise ValidationFailed(errors)
    parsed.country = parsed.country.upper()
    parsed.language = parsed.language.lower()
    parsed.customer_account = parsed.customer_account.upper()
    return parsed


_PATTERN_HINTS = {
    "user_name": "letters, digits and . _ @ - only, starting with a letter or digit",
    "phone": "digits, spaces and + ( ) . / - only",
    "fax": "digits, spaces and + ( ) . / - only",
    "zip": "letters, digits, spaces and - only",
    "country": "an ISO country/region code, e.g. US or DEU",
    "language": "a language code, e.g. en-us",
}


@writes(phased=True)
def submit(session: Session, actor: Actor, data: Any) -> SubmitResult:
    """Store a sign-up request (status Requested) and queue its verification e-mail."""
    if actor is not PORTAL:
        require(actor, "signup.submit")
    parsed = validate_input(data)
    current = now(session)
    req = SignupRequest(
        number="",
        created_at=current,
        updated_at=current,
        status=S.REQUESTED,
        email_normalized=normalize_email(parsed.email),
        company_normalized=normalize_company(parsed.company),
        submitted_by=actor.user_name,
        **parsed.model_dump(),
    )
    hints = len(queries.find_duplicates(session, req))  # reads only: before the write transaction
    begin_write(session)
    number = req.number = sequences.next_number(session, "signup")
    session.add(req)
    session.flush()
    audit.record(
        session,
        actor,
        ENTITY,
        number,
        "submitted",
        after={"status": S.REQUESTED.value, **parsed.model_dump()},
        comment=None if actor is PORTAL else "taken on behalf of the customer",
    )
    _queue_verification(session, req)  # a number just taken has no earlier link to void
    return SubmitResult(number=number, status=req.status, email=req.email, duplicates=hints)


def send_verification(session: Session, req: SignupRequest) -> None:
    """Queue the verification mail; the earlier link stops working now, the new one is minted when
    the mail is sent (``mint_verification_link``), so no working token is ever stored."""
    tokens.void(session, "signup-verify", ENTITY, req.number)
    _queue_verification(session, req)


def _queue_verification(session: Session, req: SignupRequest) -> None:
    mail.enqueue(
        session,
        req.email,
        "signup_verify",
        {"number": req.number, "first_name": req.first_name, "last_name": req.last_name, "company": req.company},
        entity_type=ENTITY,
        entity_key=req.number,
    )


def mint_verification_link(session: Session, number: str) -> dict[str, str]:
    """Called by the sender when it renders a verification mail: a new token replaces the
    request's earlier one (only its hash is stored), valid ``signup.verification_ttl_hours``
    from now. Refused when the request no longer waits for verification."""
    req = session.exec(select(SignupRequest).where(SignupRequest.number == number)).first()
    if req is None or req.status != S.REQUESTED:
        raise InvalidTransition(f"{number} is {req.status if req else 'gone'}: a verification link would not work")
    ttl = params.get(session, "signup.verification_ttl_hours")
    raw = tokens.issue(session, "signup-verify", ENTITY, req.number, ttl)
    portal = params.get(session, "portal.url").rstrip("/")
    expires = now(session) + timedelta(hours=ttl)
    return {"link": f"{portal}/signup/verify?token={raw}", "token": raw, "expires": f"{expires:%Y-%m-%d %H:%M} UTC"}


@writes(phased=True)
def verify(session: Session, raw_token: str) -> VerifyResult:
    """What the link in the verification e-mail calls: Requested -> Verified by user."""
    token, req = _plan_verify(session, raw_token)
    begin_write(session)
    # the plan's token and request, re-checked by the two conditional UPDATEs (token unused, not
    # replaced, not expired; request still Requested at the version the plan read): not read again
    tokens.use(session, token, "signup-verify", raw_token, what="verification link")
    transition(session, req, "verify", verified_at=now(session))
    audit.record(
        session,
        PORTAL,
        ENTITY,
        req.number,
        "verified",
        before={"status": S.REQUESTED.value},
        after={"status": S.VERIFIED.value},
    )
    return VerifyResult(number=req.number, status=S.VERIFIED.value)


def _plan_verify(session: Session, raw_token: str) -> tuple[Token, SignupRequest]:
    """Refuse a link that cannot work (unknown, used, of a request no longer Requested) without a
    lock; the token and its request, for the write phase."""
    token = session.exec(
        select(Token).where(Token.token_hash == tokens.hash_token(raw_token or ""), Token.purpose == "signup-verify")
    ).first()
    if token is None or token.used_at is not None or token.voided_at is not None or token.expires_at <= now(session):
        token = tokens.consume(session, "signup-verify", raw_token, what="verification link")  # raises its refusal
    req = get_request(session, token.entity_key)
    precheck(session, req, "verify")
    return token, req


@writes(phased=True)
def resend(session: Session, actor: Actor, number: str) -> VerifyResult:
    """Activation URL: a new verification link; the old one stops working."""
    require(actor, "signup.resend")
    req = get_request(session, number)
    precheck(session, req, "resend")
    begin_write(session)
    transition(session, req, "resend")
    send_verification(session, req)
    audit.record(session, actor, ENTITY, req.number, "activation URL sent", comment=f"new link sent to {req.email}")
    return VerifyResult(number=req.number, status=req.status)


# ------------------------------------------------------------------------- approve / reject


def _others(session: Session, role: str, barred: set[str]) -> str:
    from models.core import Operator

    names = [
        o.user_name
        for o in session.exec(
            select(Operator)
            .where(Operator.active == True)  # noqa: E712
            .order_by(Operator.user_name)
        ).all()
        if role in o.roles.split() and o.user_name not in barred
    ]
    return ", ".join(names) if names else f"nobody yet (ask an admin to add another {role})"


def four_eyes(session: Session, actor: Actor, req: SignupRequest, action: str) -> None:
    """Separation of duties (issue 11): whoever took the request on the customer's behalf
    neither approves nor creates it; the approver creates it only when
    ``signup.create_needs_second_person`` is off (the seeds' single approver)."""
    me = actor.user_name
    staff_submitter = req.submitted_by if req.submitted_by and req.submitted_by != PORTAL.user_name else None
    if staff_submitter == me:
        raise PermissionDenied(
            f"four eyes: {me} took {req.number} on the customer's behalf and so may not {TRANSITIONS[action].label} it; "
            f"another approver may: {_others(session, APPROVER, {me})}"
        )
    if action == "create" and req.approved_by == me and params.get(session, "signup.create_needs_second_person"):
        barred = {me} | ({staff_submitter} if staff_submitter else set())
        raise PermissionDenied(
            f"four eyes: {me} approved {req.number}, and parameter signup.create_needs_second_person requires "
            f"a second person to create the customer; another approver may: {_others(session, APPROVER, barred)}"
        )


@writes(phased=True)
def approve(session: Session, actor: Actor, number: str, comment: str | None = None) -> VerifyResult:
    require(actor, "signup.approve")
    comment = clean(comment, multiline=True) or None
    req = get_request(session, number)
    precheck(session, req, "approve")
    four_eyes(session, actor, req, "approve")
    begin_write(session)
    current = now(session)
    transition(session, req, "approve", approved_by=actor.user_name, approved_at=current)
    audit.record(
        session,
        actor,
        ENTITY,
        req.number,
        "approved",
        before={"status": S.VERIFIED.value},
        after={"status": S.APPROVED.value},
        comment=comment,
    )
    return VerifyResult(number=req.number, status=S.APPROVED.value)


@writes(phased=True)
def reject(session: Session, actor: Actor, number: str, reason: str) -> VerifyResult:
    require(actor, "signup.reject")
    reason = clean(reason, multiline=True)
    if not reason:
        raise ValidationFailed({"reason": "a reason is required to reject a request"})
    if len(reason) > 1000:
        raise ValidationFailed({"reason": "at most 1000 characters"})
    req = get_request(session, number)
    precheck(session, req, "reject")
    begin_write(session)
    before = req.status
    transition(session, req, "reject", rejected_by=actor.user_name, rejected_at=now(session), reject_reason=reason)
    tokens.void(session, "signup-verify", ENTITY, req.number)
    mail.enqueue(
        session,
        req.email,
        "signup_declined",
        {
            "number": req.number,
            "first_name": req.first_name,
            "last_name": req.last_name,
            "company": req.company,
            "reason": reason,
        },
        entity_type=ENTITY,
        entity_key=req.number,
    )
    audit.record(
        session,
        actor,
        ENTITY,
        req.number,
        "rejected",
        before={"status": before},
        after={"status": S.REJECTED.value},
        comment=reason,
    )
    return VerifyResult(number=req.number, status=S.REJECTED.value)
