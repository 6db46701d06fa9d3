"""The acting operator as ``services.identity`` / ``services.operators`` would establish it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from services.permissions import Actor

if TYPE_CHECKING:
    pass

from services.quick.pg import PgConnection


def identified(conn: Any, operator: str | None) -> Actor | None:
    """``services.identity``'s rule; None where it would refuse, needs a reason or is unusual
    (the normal path then says why).

    PostgreSQL: the database login (``session_user``) is the operator; naming anyone else, or a
    login that is the owner (who may name operators), takes the normal path. SQLite: the OS
    login, or the named operator where allowed (a demo database)."""
    from dataclasses import replace

    if isinstance(conn, PgConnection):
        row = conn.execute(
            "SELECT session_user::text, (SELECT rolsuper FROM pg_roles WHERE rolname = session_user)"
            " OR pg_has_role(session_user, (SELECT tableowner FROM pg_tables"
            " WHERE tablename = 'alembic_version' LIMIT 1), 'MEMBER')",
            (),
        ).fetchone()
        if row is None:
            return None
        login, owner, named = row[0], bool(row[1]), (operator or "").strip()
        if owner and not named:
            return None  # the owner acts as an admin named after its login: the normal path
        if named and named != login and not owner:
            return None  # refused: the normal path says why
        actor = operator_actor(conn, named or login)
        return replace(actor, login=login) if actor is not None else None

    from services.errors import UnknownOperator
    from services.identity import DEMO_FLAG, os_login, sqlite_choice

    login = os_login()
    flag = conn.execute("SELECT value FROM storeflag WHERE name = ?", (DEMO_FLAG,)).fetchone()
    demo = flag is not None and flag[0] == "yes"
    try:
        name, why = sqlite_choice(operator, login, demo=demo, login_is_admin=False, reason=None)
    except UnknownOperator:
        return None
    actor = operator_actor(conn, name)
    return replace(actor, login=login, demo=demo) if actor is not None else None


def operator_actor(conn: Any, operator: str | None) -> Actor | None:
    """As ``services.operators.resolve_actor`` / ``to_actor``; None where it would refuse."""
    name = (operator or "").strip()
    if not name:
        return None
    row = conn.execute(
        "SELECT user_name, display_name, roles, profile, sales_rep, email, active FROM operator WHERE user_name = ?",
        (name,),
    ).fetchone()
    if row is None or not row[6]:
        return None
    user_name, display_name, roles, profile, sales_rep, email, _ = row
    return Actor(
        user_name=user_name,
        display_name=display_name,
        roles=frozenset((roles or "").split()),
        profile=profile,
        sales_rep=bool(sales_rep),
        email=email,
    )
