"""Operators: the staff who act in regdesk, their roles, and who is acting now."""

from __future__ import annotations

import re

from sqlmodel import Session, col, select

from models.core import Operator, Profile, Role
from services import audit, identity
from services.errors import Conflict, NotFound, UnknownOperator, ValidationFailed
from services.permissions import Actor, require
from services.store import begin_write, begin_write_rechecked, now, writes
from services.text import clean

USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")


def to_actor(op: Operator) -> Actor:
    return Actor(
        user_name=op.user_name,
        display_name=op.display_name,
        roles=frozenset(op.roles.split()),
        profile=op.profile,
        sales_rep=op.sales_rep,
        email=op.email,
    )


def find_operator(session: Session, user_name: str) -> Operator | None:
    return session.exec(select(Operator).where(Operator.user_name == user_name)).first()


def list_operator_names(session: Session) -> set[str]:
    """Every operator's user name (no permission check: whether a database is new, for ``regdesk demo``)."""
    return set(session.exec(select(Operator.user_name)).all())


def resolve_actor(session: Session, user_name: str) -> Actor:
    """The active operator of that name, or a clear refusal."""
    name = (user_name or "").strip()
    if not name:
        raise UnknownOperator("no operator given: use --as NAME or set REGDESK_OPERATOR")
    op = session.exec(select(Operator).where(Operator.user_name == name)).first()
    if op is None:
        raise UnknownOperator(
            f"unknown operator {name!r}: ask an admin to add you ('regdesk operators add {name}'); "
            "on a demo database --as NAME picks a demo operator"
        )
    if not op.active:
        raise UnknownOperator(f"operator {name!r} is disabled")
    return to_actor(op)


def parse_roles(text: str | list[str]) -> list[str]:
    items = text if isinstance(text, list) else re.split(r"[,\s]+", text)
    roles = []
    for item in items:
        if item.strip():
            try:
                roles.append(Role.parse(item).value)
            except ValueError as exc:
                raise ValidationFailed({"roles": str(exc)}) from None
    if not roles:
        raise ValidationFailed({"roles": "at least one role (support, approver, admin)"})
    return sorted(set(roles))


def list_operators(session: Session, actor: Actor) -> list[Operator]:
    require(actor, "signup.view")
    return list(session.exec(select(Operator).order_by(col(Operator.user_name))).all())


@writes(phased=True)
def add_operator(
    session: Session,
    actor: Actor,
    user_name: str,
    display_name: str,
    roles: str | list[str],
    *,
    email: str | None = None,
    profile: str | None = None,
    sales_rep: bool = False,
) -> Operator:
    require(actor, "admin.operators")
    _checked(session, user_name, display_name, roles, profile)  # refusals from reads alone
    begin_write(session)
    op = create_operator(
        session, actor, user_name, display_name, roles, email=email, profile=profile, sales_rep=sales_rep
    )
    if session.get_bind().dialect.name == "postgresql":
        # the operator is the database login: its LOGIN role, in the groups of its roles
        identity.pg_add_login(session, op.user_name, op.roles.split())
    return op


def create_operator(
    session: Session,
    actor: Actor,
    user_name: str,
    display_name: str,
    roles: str | list[str],
    *,
    email: str | None = None,
    profile: str | None = None,
    sales_rep: bool = False,
) -> Operator:
    user_name, display_name, role_list, profile_value = _checked(session, user_name, display_name, roles, profile)
    op = Operator(
        user_name=user_name,
        display_name=display_name,
        email=email,
        roles=" ".join(role_list),
        profile=profile_value,
        sales_rep=sales_rep,
        created_at=now(session),
    )
    session.add(op)
    session.flush()
    audit.record(
        session,
        actor,
        "operator",
        user_name,
        "added",
        after={"display_name": display_name, "roles": op.roles, "profile": profile_value, "sales_rep": sales_rep},
    )
    return op


def _checked(
    session: Session, user_name: str, display_name: str, roles: str | list[str], profile: str | None
) -> tuple[str, str, list[str], str | None]:
    """A new operator's values cleaned and checked (reads only): user name, display name, roles, profile."""
    errors = {}
    user_name = clean(user_name)
    display_name = clean(display_name) or user_name
    if not USER_NAME.match(user_name):
        errors["user_name"] = "2-64 characters: letters, digits, . _ @ - (starting with a letter or digit)"
    if len(display_name) > 120:
        errors["display_name"] = "at most 120 characters"
    try:
        role_list = parse_roles(roles)
    except ValidationFailed as exc:
        errors.update(exc.errors)
        role_list = []
    profile_value = None
    if profile:
        try:
            profile_value = Profile.parse(profile).value
        except ValueError as exc:
            errors["profile"] = str(exc)
    if errors:
        raise ValidationFailed(errors)
    if session.exec(select(Operator).where(Operator.user_name == user_name)).first():
        raise Conflict(f"operator {user_name!r} already exists")
    return user_name, display_name, role_list, profile_value


@writes(phased=True)
def set_active(session: Session, actor: Actor, user_name: str, active: bool) -> Operator:
    require(actor, "admin.operators")
    op = session.exec(select(Operator).where(Operator.user_name == user_name.strip())).first()
    if op is None:
        raise NotFound(f"no operator {user_name!r}")
    if op.user_name == actor.user_name and not active:
        raise Conflict("you cannot disable yourself")
    begin_write_rechecked(session, op)  # changed meanwhile: planned afresh
    if session.get_bind().dialect.name == "postgresql":
        identity.pg_set_login(session, op.user_name, active)
    if op.active != active:
        op.active = active
        op.version += 1
        session.add(op)
        audit.record(
            session,
            actor,
            "operator",
            op.user_name,
            "enabled" if active else "disabled",
            before={"active": not active},
            after={"active": active},
        )
    return op
