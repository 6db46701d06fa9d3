"""Portal users: provisioning, activation, disable/enable.

A portal user is provisioned for the contact of an approved user request (status
*Pending activation*), with the request's preferred logon as user name. The logon e-mail
carries a single-use activation link (only the token's SHA-256 is stored, see
``services.tokens``); no password is ever generated, mailed or stored. The portal calls
``regdesk portal activate TOKEN`` with the password the user chose: it is checked against
``PASSWORD_POLICY`` and stored as an Argon2id hash (pwdlib); the user becomes *Active* and
the user request *Completed*.

Portal user states, in one table (``TRANSITIONS``)::

    Pending activation --activate--> Active
    Pending activation | Active --disable--> Disabled --enable--> Active (password set)
                                                              \\-> Pending activation (not yet)
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from pydantic import BaseModel
from sqlalchemy import Select, func
from sqlalchemy import select as select_columns
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped
from sqlmodel import Session, col, select

from models.customer import ContactPerson, Customer, PortalRole
from models.portal import PortalUser, PortalUserStatus
from models.signup import UserRequest
from services import audit, mail, params, tokens, transitions
from services.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from services.permissions import PORTAL, Actor, require
from services.store import begin_write, begin_write_rechecked, in_plan_phase, now, writes
from services.text import clean

P = PortalUserStatus
ENTITY = "portal_user"
TOKEN_PURPOSE = "portal-activate"
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{2,63}$")
USER_NAME_HINT = "3-64 characters: letters, digits and . _ @ -, starting with a letter or digit"

# Argon2id with pwdlib's defaults (64 MiB, 3 passes, 4 lanes)
_HASHER = PasswordHash((Argon2Hasher(),))


TRANSITIONS = transitions.table(
    "portal_user",
    [
        ("activate", {P.PENDING_ACTIVATION}, P.ACTIVE, None, "activate"),
        ("disable", {P.PENDING_ACTIVATION, P.ACTIVE}, P.DISABLED, "admin.portal_users", "disable"),
        # back to Active when the user had set a password, else to Pending activation
        ("enable", {P.DISABLED}, P.ACTIVE, "admin.portal_users", "enable", frozenset({P.PENDING_ACTIVATION})),
        ("resend", {P.PENDING_ACTIVATION}, None, "user_request.process", "send a new activation link to"),
    ],
)


def _explain(_session: Session, user: PortalUser, action: str) -> str | None:
    """The process's own words for a refusal (None: the mover's sentence, services/transitions.py)."""
    if action == "disable" and user.status == P.DISABLED:
        at = f"{user.disabled_at:%Y-%m-%d %H:%M}" if user.disabled_at else "?"
        return f"portal user {user.user_name} is disabled already (by {user.disabled_by} on {at})"
    if action == "enable":
        return f"portal user {user.user_name} is {user.status}: only a disabled user can be enabled"
    if action == "resend":
        return (
            f"portal user {user.user_name} is {user.status}: only a user pending activation gets a new activation link"
        )
    if action == "activate" and user.status == P.DISABLED:
        return f"portal user {user.user_name} is disabled: ask us to enable it"
    return None


PROCESS = transitions.register(
    transitions.Process(
        name="portal_user",
        title="Portal user",
        model=PortalUser,
        states=tuple(PortalUserStatus),
        transitions=TRANSITIONS,
        entity=ENTITY,
        initial=(P.PENDING_ACTIVATION,),
        key="user_name",
        explain=_explain,
        label=lambda u: f"portal user {u.user_name}",
    )
)

PASSWORD_POLICY = (
    "at least 12 and at most 128 characters; at least two kinds of characters "
    "(lower case, upper case, digits, others); must not contain the user name; "
    "not one character repeated"
)


def check_password(password: str, user_name: str) -> None:
    """Refuse a password that breaks ``PASSWORD_POLICY`` (ValidationFailed on field ``password``)."""
    problems = []
    if not isinstance(password, str) or len(password) < 12:
        problems.append("at least 12 characters")
    elif len(password) > 128:
        problems.append("at most 128 characters")
    else:
        kinds = sum(bool(re.search(p, password)) for p in (r"[a-z]", r"[A-Z]", r"[0-9]", r"[^a-zA-Z0-9]"))
        if kinds < 2:
            problems.append("mix at least two kinds of characters (lower case, upper case, digits, others)")
        if len(set(password)) == 1:
            problems.append("not one character repeated")
        if user_name and user_name.casefold() in password.casefold():
            problems.append("must not contain the user name")
        if any(ord(ch) < 32 or ord(ch) == 127 for ch in password):
            problems.append("no control characters")
    if problems:
        raise ValidationFailed({"password": "; ".join(problems)})


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    return _HASHER.verify(password, password_hash)


# ------------------------------------------------------------------ views


class PortalUserView(BaseModel):
    user_name: str
    status: str
    email: str
    customer_account: str
    customer_name: str
    contact: str
    role: str
    user_request: str | None
    created_at: datetime
    created_by: str
    activated_at: datetime | None
    disabled_at: datetime | None
    disabled_by: str | None
    password_set: bool


_Joined = Select[PortalUser, Customer, ContactPerson, PortalRole, str | None]


def _joined() -> _Joined:
    """A portal user with its customer, contact, role and request number (None: made without a
    request). SQLAlchemy's select: SQLModel's types at most four entities."""
    number: Mapped[str | None] = col(UserRequest.number)  # NULL from the outer join
    return (
        select_columns(PortalUser, Customer, ContactPerson, PortalRole, number)
        .join(Customer, col(PortalUser.customer_id) == col(Customer.id))
        .join(ContactPerson, col(PortalUser.contact_id) == col(ContactPerson.id))
        .join(PortalRole, col(PortalUser.role_id) == col(PortalRole.id))
        .outerjoin(UserRequest, col(PortalUser.user_request_id) == col(UserRequest.id))
    )


def _view(
    u: PortalUser, c: Customer, contact: ContactPerson, role: PortalRole, ur_number: str | None
) -> PortalUserView:
    return PortalUserView(
        user_name=u.user_name,
        status=u.status,
        email=u.email,
        customer_account=c.account,
        customer_name=c.name,
        contact=f"{contact.first_name} {contact.last_name}",
        role=role.name,
        user_request=ur_number,
        created_at=u.created_at,
        created_by=u.created_by,
        activated_at=u.activated_at,
        disabled_at=u.disabled_at,
        disabled_by=u.disabled_by,
        password_set=u.password_hash is not None,
    )


def list_users(
    session: Session, actor: Actor, *, status: str | None = None, search: str | None = None, limit: int = 200
) -> list[PortalUserView]:
    require(actor, "user_request.view")
    query = _joined()
    if status and status.lower() != "all":
        try:
            query = query.where(col(PortalUser.status) == P.parse(status).value)
        except ValueError as exc:
            raise ValidationFailed({"status": str(exc)}) from None
    if search:
        term = f"%{clean(search).lower()}%"
        query = query.where(
            func.lower(PortalUser.user_name).like(term)
            | func.lower(PortalUser.email).like(term)
            | func.lower(Customer.account).like(term)
        )
    rows = session.execute(query.order_by(col(PortalUser.user_name_key)).limit(max(1, min(limit, 10_000)))).all()
    return [_view(*r) for r in rows]


def find_by_name(session: Session, user_name: str) -> PortalUser | None:
    return session.exec(select(PortalUser).where(PortalUser.user_name_key == clean(user_name).casefold())).first()


def get_user(session: Session, user_name: str) -> PortalUser:
    user = find_by_name(session, user_name)
    if user is None:
        raise NotFound(f"no portal user {user_name!r}")
    return user


def show_user(session: Session, actor: Actor, user_name: str) -> PortalUserView:
    require(actor, "user_request.view")
    user = get_user(session, user_name)
    row = session.execute(_joined().where(col(PortalUser.id) == user.id)).one()
    return _view(*row)


def view_for_request(session: Session, user_request_id: int) -> PortalUserView | None:
    row = session.execute(_joined().where(col(PortalUser.user_request_id) == user_request_id)).first()
    return _view(*row) if row else None


# ------------------------------------------------------------------ provisioning


def describe(session: Session, user: PortalUser) -> str:
    account = session.exec(select(Customer.account).where(Customer.id == user.customer_id)).first() or "?"
    return f"portal user {user.user_name} of customer {account} ({user.status}, created {user.created_at:%Y-%m-%d})"


def user_name_problem(session: Session, user_name: str, *, user_request_id: int | None = None) -> str | None:
    """Why ``user_name`` cannot be given to a new portal user, or None when it can."""
    if not USER_NAME.match(user_name or ""):
        return f"user name {user_name!r} is not valid: {USER_NAME_HINT}"
    other = find_by_name(session, user_name)
    if other is not None and (user_request_id is None or other.user_request_id != user_request_id):
        return f"user name {user_name!r} is taken by {describe(session, other)}"
    return None


def provision(session: Session, actor: Actor, ur: UserRequest) -> PortalUser:
    """Create the portal user of ``ur`` (Pending activation) and queue its logon e-mail.

    Refuses with Conflict, naming the existing user, when the user name is taken: the
    caller never picks another name on its own.
    """
    existing = session.exec(select(PortalUser).where(PortalUser.user_request_id == ur.id)).first()
    if existing is not None:
        raise Conflict(f"{ur.number} already has {describe(session, existing)}")
    problem = user_name_problem(session, ur.user_name, user_request_id=ur.id)
    if problem:
        raise Conflict(problem)
    current = now(session)
    user = PortalUser(
        user_name=ur.user_name,
        user_name_key=ur.user_name.casefold(),
        email=ur.email,
        customer_id=ur.customer_id,
        contact_id=ur.contact_id,
        role_id=ur.role_id,
        user_request_id=ur.id,
        status=P.PENDING_ACTIVATION.value,
        created_at=current,
        created_by=actor.user_name,
    )
    try:
        with session.begin_nested():  # a concurrent provisioning of the same name loses here
            session.add(user)
            session.flush()
    except IntegrityError:
        other = find_by_name(session, ur.user_name)
        raise Conflict(
            f"user name {ur.user_name!r} was just taken by "
            f"{describe(session, other) if other else 'another portal user'}"
        ) from None
    role = session.get(PortalRole, ur.role_id)
    audit.record(
        session,
        actor,
        ENTITY,
        user.user_name,
        "provisioned",
        after={
            "status": user.status,
            "user_request": ur.number,
            "email": ur.email,
            "role": role.name if role else None,
        },
    )
    _send_logon(session, user)
    return user


def _send_logon(session: Session, user: PortalUser) -> None:
    """Queue the logon mail; an earlier activation link stops working now, the new one is minted
    when the mail is sent (``mint_activation_link``), so no working token is ever stored."""
    tokens.void(session, TOKEN_PURPOSE, ENTITY, user.user_name_key)
    portal_url = params.get(session, "portal.url").rstrip("/")
    contact = session.get(ContactPerson, user.contact_id)
    mail.enqueue(
        session,
        user.email,
        "portal_logon",
        {
            "first_name": contact.first_name if contact else "",
            "last_name": contact.last_name if contact else "",
            "user_name": user.user_name,
            "portal_url": portal_url,
        },
        entity_type=ENTITY,
        entity_key=user.user_name,
    )


def mint_activation_link(session: Session, user_name: str) -> dict[str, str]:
    """Called by the sender when it renders a logon mail: a new activation token replaces the
    user's earlier one (only its hash is stored), valid ``portal.activation_ttl_hours`` from now.
    Refused when the user no longer waits for activation."""
    user = session.exec(select(PortalUser).where(PortalUser.user_name_key == user_name.casefold())).first()
    if user is None or user.status != P.PENDING_ACTIVATION:
        raise InvalidTransition(
            f"portal user {user_name} is {user.status if user else 'gone'}: an activation link would not work"
        )
    ttl = params.get(session, "portal.activation_ttl_hours")
    raw = tokens.issue(session, TOKEN_PURPOSE, ENTITY, user.user_name_key, ttl)
    portal_url = params.get(session, "portal.url").rstrip("/")
    expires = now(session) + timedelta(hours=ttl)
    return {"link": f"{portal_url}/activate?token={raw}", "token": raw, "expires": f"{expires:%Y-%m-%d %H:%M} UTC"}


def _move(session: Session, user: PortalUser, action: str, target: PortalUserStatus, **values: Any) -> None:
    """Move ``user`` by ``action`` (services/transitions.py: check, write lock, compare-and-set)."""
    transitions.move(session, PROCESS, user, action, to=target, **values)


# ------------------------------------------------------------------ activation (the portal)


class ActivationResult(BaseModel):
    user_name: str
    status: str
    user_request: str | None
    user_request_status: str | None


@writes(phased=True)
def activate(session: Session, raw_token: str, password: str) -> ActivationResult:
    """What the portal calls with the activation link's token and the chosen password.

    Phased: a bad link, a disabled user or a weak password is refused from reads alone."""
    if in_plan_phase(session):
        _plan_activation(session, raw_token, password)
        begin_write(session)
    token = tokens.consume(session, TOKEN_PURPOSE, raw_token, what="activation link")
    user = session.exec(select(PortalUser).where(PortalUser.user_name_key == token.entity_key)).first()
    if user is None:
        raise NotFound("this activation link belongs to no portal user any more")
    transitions.check(session, PROCESS, user, "activate")
    check_password(password, user.user_name)  # a refusal rolls the token's use back: the link still works
    current = now(session)
    _move(session, user, "activate", P.ACTIVE, password_hash=hash_password(password), activated_at=current)
    audit.record(
        session,
        PORTAL,
        ENTITY,
        user.user_name,
        "activated",
        before={"status": P.PENDING_ACTIVATION.value},
        after={"status": P.ACTIVE.value},
    )
    ur_number = ur_status = None
    if user.user_request_id is not None:
        from services import user_requests

        ur_number, ur_status = user_requests.complete_on_activation(session, user.user_request_id)
    return ActivationResult(
        user_name=user.user_name, status=P.ACTIVE.value, user_request=ur_number, user_request_status=ur_status
    )


def _plan_activation(session: Session, raw_token: str, password: str) -> None:
    """The refusals of ``activate`` from reads only (the write phase checks them all again)."""
    from models.core import Token

    raw = (raw_token or "").strip()
    token = (
        session.exec(
            select(Token).where(Token.token_hash == tokens.hash_token(raw), Token.purpose == TOKEN_PURPOSE)
        ).first()
        if tokens.TOKEN_PATTERN.fullmatch(raw)
        else None
    )
    if token is None or token.used_at is not None or token.voided_at is not None or token.expires_at <= now(session):
        tokens.consume(session, TOKEN_PURPOSE, raw_token, what="activation link")  # raises its refusal before writing
        return  # pragma: no cover - consume refused above
    user = session.exec(select(PortalUser).where(PortalUser.user_name_key == token.entity_key)).first()
    if user is None:
        raise NotFound("this activation link belongs to no portal user any more")
    if user.status == P.DISABLED:
        raise InvalidTransition(f"portal user {user.user_name} is disabled: ask us to enable it")
    check_password(password, user.user_name)


def verify_logon(session: Session, user_name: str, password: str) -> bool:
    """Whether the portal should let this logon in (Active and the password matches)."""
    user = find_by_name(session, user_name)
    if user is None or user.status != P.ACTIVE or not user.password_hash:
        return False
    return verify_password(password, user.password_hash)


# ------------------------------------------------------------------ administration


@writes(phased=True)
def disable(session: Session, actor: Actor, user_name: str, reason: str | None = None) -> PortalUserView:
    require(actor, TRANSITIONS["disable"].permission or "")
    user = get_user(session, user_name)
    transitions.check(session, PROCESS, user, "disable")  # refused before the write lock
    begin_write_rechecked(session, user)
    before = user.status
    _move(session, user, "disable", P.DISABLED, disabled_at=now(session), disabled_by=actor.user_name)
    audit.record(
        session,
        actor,
        ENTITY,
        user.user_name,
        "disabled",
        before={"status": before},
        after={"status": P.DISABLED.value},
        comment=clean(reason, multiline=True) or None,
    )
    return show_user(session, actor, user.user_name)


@writes(phased=True)
def enable(session: Session, actor: Actor, user_name: str, reason: str | None = None) -> PortalUserView:
    require(actor, TRANSITIONS["enable"].permission or "")
    user = get_user(session, user_name)
    transitions.check(session, PROCESS, user, "enable")  # refused before the write lock
    begin_write_rechecked(session, user)
    target = P.ACTIVE if user.password_hash else P.PENDING_ACTIVATION
    _move(session, user, "enable", target, disabled_at=None, disabled_by=None)
    audit.record(
        session,
        actor,
        ENTITY,
        user.user_name,
        "enabled",
        before={"status": P.DISABLED.value},
        after={"status": target.value},
        comment=clean(reason, multiline=True) or None,
    )
    return show_user(session, actor, user.user_name)


def disable_for_request(session: Session, actor: Actor, user_request_id: int, reason: str) -> str | None:
    """When a provisioned request is canceled: its portal user is disabled and its link voided."""
    user = session.exec(select(PortalUser).where(PortalUser.user_request_id == user_request_id)).first()
    if user is None:
        return None
    tokens.void(session, TOKEN_PURPOSE, ENTITY, user.user_name_key)
    if user.status != P.DISABLED:
        before = user.status
        _move(session, user, "disable", P.DISABLED, disabled_at=now(session), disabled_by=actor.user_name)
        audit.record(
            session,
            actor,
            ENTITY,
            user.user_name,
            "disabled",
            before={"status": before},
            after={"status": P.DISABLED.value},
            comment=reason,
        )
    return user.user_name


@writes(phased=True)
def resend_activation(session: Session, actor: Actor, user_name: str) -> PortalUserView:
    """A new activation link (the old one stops working), e.g. after the first expired."""
    require(actor, TRANSITIONS["resend"].permission or "")
    user = get_user(session, user_name)
    transitions.check(session, PROCESS, user, "resend")  # refused before the write lock
    begin_write_rechecked(session, user)  # moved meanwhile (activated, disabled): planned afresh
    transitions.move(session, PROCESS, user, "resend")  # no state change: the version is bumped
    _send_logon(session, user)
    audit.record(
        session, actor, ENTITY, user.user_name, "activation link sent", comment=f"new link sent to {user.email}"
    )
    return show_user(session, actor, user.user_name)
