"""Who is acting, proven by the store rather than claimed by a flag (issue 11).

**PostgreSQL (the shared store): the operator is the database login.** ``session_user`` is
read and mapped to the operator of that user name. ``--as`` / ``REGDESK_OPERATOR`` naming
anyone else is refused. The one exception is the *owner login* (the role that owns the
regdesk tables, i.e. ran the migrations, or a superuser): it can rewrite any table anyway, so
regdesk lets it name an operator with ``--as`` for maintenance (and acts as an admin named
after the login when it names none, to add the first operators); every audit row it writes
still carries its own login in ``db_login``. A login that is neither an operator nor the owner
is refused.

**SQLite (one machine): the operator is the OS login.** ``--as`` naming someone else works
only on a database that ``regdesk demo`` created (``storeflag`` ``demo``); on any other it is
refused unless the OS login is an active admin operator who gives a reason (``--reason`` /
``REGDESK_REASON``); the reason and the OS login go on every audit row written.

Every audit row carries ``db_login``: on PostgreSQL a trigger sets it from ``session_user``
(whatever the client sent); on SQLite the column default fills in the OS login.

The top of this module is standard library only: ``services.quick`` applies the SQLite rule
(``sqlite_choice``) before SQLModel is loaded.
"""

from __future__ import annotations

import getpass
import os
import re
from contextvars import ContextVar
from dataclasses import replace
from functools import lru_cache
from typing import Any

from services.errors import UnknownOperator
from services.permissions import ADMIN, APPROVER, SUPPORT, Actor

GROUP_ROLES = {SUPPORT: "regdesk_support", APPROVER: "regdesk_approver", ADMIN: "regdesk_admin"}
DEMO_FLAG = "demo"
REASON_ENV = "REGDESK_REASON"
MAX_REASON = 500

# The reason of an admin acting as another operator; audit rows written meanwhile carry it
# (the column default reads it, so bulk inserts get it too).
current_reason: ContextVar[str | None] = ContextVar("regdesk_acting_reason", default=None)


@lru_cache(maxsize=1)
def _os_login_cached() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return ""


def os_login() -> str:
    """The OS login of this process (the SQLite store's notion of who is acting)."""
    return _os_login_cached()


def login_default(context: Any) -> str | None:
    """Column default of ``auditevent.db_login``: the OS login on SQLite (PostgreSQL's trigger
    overwrites whatever is sent with ``session_user``)."""
    dialect = getattr(getattr(context, "dialect", None), "name", "sqlite")
    return os_login() if dialect == "sqlite" else None


# ------------------------------------------------------------------ the SQLite rule (stdlib only)


def refusal_text(requested: str, login: str) -> str:
    return (
        f"--as/REGDESK_OPERATOR {requested!r} refused: this database is not a demo database, so you act as "
        f"your OS login {login!r}. An admin operator may act for another operator with --reason TEXT "
        "(recorded in the audit trail)."
    )


def sqlite_choice(
    requested: str | None, login: str, *, demo: bool, login_is_admin: bool, reason: str | None
) -> tuple[str, str | None]:
    """(operator name to resolve, reason to record) under the SQLite rule, or UnknownOperator."""
    name = (requested or "").strip()
    if not name or name == login:
        return login, None
    if demo:
        return name, None
    why = clean_reason(reason)
    if login_is_admin and why:
        return name, why
    if login_is_admin:
        raise UnknownOperator(
            f"--as {name!r} refused: this database is not a demo database; as admin "
            f"operator {login!r} you may act for {name!r} only with a reason: --reason TEXT "
            "(recorded in the audit trail)"
        )
    raise UnknownOperator(refusal_text(name, login))


def clean_reason(reason: str | None) -> str | None:
    if not reason:
        return None
    from services.text import clean

    text = clean(reason)[:MAX_REASON]
    return text if len(text) >= 3 else None


# ------------------------------------------------------------------ establishing the actor


def establish(session: Any, requested: str | None, *, reason: str | None = None) -> Actor:
    """The acting operator for this session's store under the rules above, or UnknownOperator."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return _establish_pg(session, requested)
    return _establish_sqlite(session, requested, reason)


def _establish_sqlite(session: Any, requested: str | None, reason: str | None) -> Actor:
    from services.operators import find_operator, resolve_actor

    login = os_login()
    demo = is_demo(session)
    me = find_operator(session, login) if login else None
    login_is_admin = bool(me and me.active and ADMIN in me.roles.split())
    name, why = sqlite_choice(requested, login, demo=demo, login_is_admin=login_is_admin, reason=reason)
    if not name:
        raise UnknownOperator("no OS login name: regdesk cannot tell who you are")
    actor = resolve_actor(session, name)
    if why:
        current_reason.set(f"{login}: {why}")
    return replace(actor, login=login, reason=f"{login}: {why}" if why else None, demo=demo)


def pg_login(session: Any) -> tuple[str, bool]:
    """(session_user, whether it is the owner login: owns the regdesk tables or is a superuser)."""
    from sqlalchemy import text

    row = session.execute(
        text(
            "SELECT session_user, "
            " (SELECT rolsuper FROM pg_roles WHERE rolname = session_user), "
            " (SELECT tableowner FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'alembic_version')"
        )
    ).one()
    login, superuser, owner = row
    return str(login), bool(superuser) or (owner is not None and owner == login)


def _establish_pg(session: Any, requested: str | None) -> Actor:
    from services.operators import find_operator, resolve_actor

    login, is_owner = pg_login(session)
    name = (requested or "").strip()
    demo = is_demo(session)
    op = find_operator(session, login)
    if op is not None and not is_owner:
        if name and name != login:
            raise UnknownOperator(
                f"--as/REGDESK_OPERATOR {name!r} refused: on PostgreSQL you are your database login {login!r}; "
                f"to act as {name!r}, connect as that login (user in the URL, PGUSER, PGSERVICE, ~/.pgpass)"
            )
        return replace(resolve_actor(session, login), login=login, demo=demo)
    if is_owner:
        if name and name != login:
            return replace(resolve_actor(session, name), login=login, demo=demo)
        if op is not None:
            return replace(resolve_actor(session, login), login=login, demo=demo)
        return Actor(
            user_name=login, display_name=f"{login} (database owner)", roles=frozenset({ADMIN}), login=login, demo=demo
        )
    raise UnknownOperator(
        f"database login {login!r} is not a regdesk operator: ask an admin to add it ('regdesk operators add {login}')"
    )


# ------------------------------------------------------------------ the demo mark


def is_demo(session: Any) -> bool:
    from sqlalchemy import text

    value = session.execute(text("SELECT value FROM storeflag WHERE name = :n"), {"n": DEMO_FLAG}).scalar()
    return bool(value == "yes")


def mark_demo(session: Any) -> None:
    """Mark the database as a demo database (``regdesk demo`` on a database it filled)."""
    from models.core import StoreFlag
    from services.store import now

    flag = session.get(StoreFlag, DEMO_FLAG) or StoreFlag(name=DEMO_FLAG, set_at=now(session))
    flag.value = "yes"
    flag.set_at = now(session)
    session.add(flag)


# ------------------------------------------------------------------ PostgreSQL roles and grants


_ROLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{1,63}$")


def quote_role(name: str) -> str:
    if not _ROLE_NAME.match(name):
        raise ValueError(f"not a role name regdesk creates: {name!r}")
    return '"' + name.replace('"', '""') + '"'


# Every table whose status the product moves (services.transitions.claim and the delivery
# sender), with the audit entity and key its services record: (table, trigger events,
# (entity type or '@column', key column, status column[, parent table, foreign key])).
STATUS_AUDITED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("signuprequest", "INSERT OR UPDATE", ("signup", "number", "status")),
    ("customercase", "INSERT OR UPDATE", ("case", "number", "status")),
    ("samplerequest", "INSERT OR UPDATE", ("sample", "number", "status")),
    ("userrequest", "INSERT OR UPDATE", ("user_request", "number", "status")),
    ("changeproposal", "INSERT OR UPDATE", ("change_proposal", "number", "state")),
    ("portaluser", "INSERT OR UPDATE", ("portal_user", "user_name", "status")),
    ("prospect", "INSERT OR UPDATE", ("prospect", "number", "status")),
    ("lead", "INSERT OR UPDATE", ("lead", "number", "status")),
    ("opportunity", "INSERT OR UPDATE", ("opportunity", "number", "status")),
    ("workflowinstance", "INSERT OR UPDATE", ("@doc_type", "doc_key", "status")),
    ("workitem", "INSERT OR UPDATE", ("@doc_type", "doc_key", "status", "workflowinstance", "instance_id")),
    # a mail is queued inside the audited change that causes it; sent/dead/retry are audited
    ("outboxemail", "UPDATE", ("outbox", "id", "status")),
)


def pg_setup(conn: Any) -> None:
    """Group roles (if missing) and this database's privileges for them. Idempotent; run by
    migration 0009 and after every ``regdesk db upgrade`` (tables of later migrations)."""
    from sqlalchemy import text

    for group in GROUP_ROLES.values():
        # roles are cluster-wide: another database (or a concurrent migration) may have made it
        conn.execute(
            text(f"""
            DO $$ BEGIN
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{group}') THEN
                CREATE ROLE {group} NOLOGIN;
              END IF;
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END $$""")
        )
    groups = ", ".join(GROUP_ROLES.values())
    conn.execute(
        text(f"""
        DO $$ BEGIN
          EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE %I TO {groups}', current_database());
        END $$""")
    )
    conn.execute(text(f"GRANT USAGE ON SCHEMA public TO {groups}"))
    conn.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {groups}"))
    conn.execute(text(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {groups}"))
    # tables and sequences that later migrations (run by this same owner login) create
    conn.execute(
        text(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {groups}")
    )
    conn.execute(text(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {groups}"))
    tables = [
        r[0]
        for r in conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"))
    ]
    admin_only = {"operator"}  # support and approver logins cannot make themselves admins
    read_only = {"alembic_version", "storeflag"}
    no_delete = {table for table, _, _ in STATUS_AUDITED}
    for table in tables:
        quoted = '"' + table.replace('"', '""') + '"'
        conn.execute(text(f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {quoted} FROM {groups}"))
        if table == "auditevent":
            conn.execute(text(f"GRANT INSERT ON {quoted} TO {groups}"))  # insert-only: history cannot be rewritten
        elif table in read_only:
            continue
        elif table in admin_only:
            conn.execute(text(f"GRANT INSERT, UPDATE ON {quoted} TO regdesk_admin"))
        elif table in no_delete:  # the product never deletes these: history stays whole
            conn.execute(text(f"GRANT INSERT, UPDATE ON {quoted} TO {groups}"))
        else:
            conn.execute(text(f"GRANT INSERT, UPDATE, DELETE ON {quoted} TO {groups}"))
    conn.execute(
        text("""
        CREATE OR REPLACE FUNCTION regdesk_audit_login() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          NEW.db_login := session_user;
          NEW.db_xact := pg_current_xact_id()::text::bigint;  -- the top-level transaction, even in a savepoint
          RETURN NEW;
        END $$""")
    )
    conn.execute(text("DROP TRIGGER IF EXISTS regdesk_audit_login ON auditevent"))
    conn.execute(
        text(
            "CREATE TRIGGER regdesk_audit_login BEFORE INSERT ON auditevent "
            "FOR EACH ROW EXECUTE FUNCTION regdesk_audit_login()"
        )
    )
    # No silent status change: an operator login (not the owner, not a superuser) that inserts
    # a status-bearing record or changes its status must write an audit row about that record
    # in the same transaction (regdesk always does); checked at commit. A psql user can still
    # write one, but it is stamped with their login and can never be removed. One function,
    # parameterised per table (STATUS_AUDITED): entity type ('@column' = read from that
    # column), key column, status column, and optionally the parent table and foreign key
    # whose row names the audited record (a work item is audited as its workflow's document).
    conn.execute(
        text("""
        CREATE OR REPLACE FUNCTION regdesk_status_audited() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
          rec jsonb := to_jsonb(NEW);
          entity text := TG_ARGV[0];
          key text;
        BEGIN
          IF (SELECT rolsuper FROM pg_roles WHERE rolname = session_user)
             OR session_user = (SELECT tableowner FROM pg_tables
                                WHERE schemaname = TG_TABLE_SCHEMA AND tablename = TG_TABLE_NAME) THEN
            RETURN NULL;
          END IF;
          IF TG_OP = 'UPDATE' AND (rec -> TG_ARGV[2]) IS NOT DISTINCT FROM (to_jsonb(OLD) -> TG_ARGV[2]) THEN
            RETURN NULL;
          END IF;
          IF TG_NARGS > 3 THEN
            EXECUTE format('SELECT to_jsonb(p) FROM %I p WHERE id = $1', TG_ARGV[3])
              INTO rec USING (to_jsonb(NEW) ->> TG_ARGV[4])::bigint;
          ELSE
            -- the row as it is at commit (this check is deferred): a gap-free number taken last
            -- (services.sequences.settle) replaces a provisional key after the status change
            EXECUTE format('SELECT to_jsonb(t) FROM %I.%I t WHERE id = $1', TG_TABLE_SCHEMA, TG_TABLE_NAME)
              INTO rec USING (to_jsonb(NEW) ->> 'id')::bigint;
            rec := coalesce(rec, to_jsonb(NEW));
          END IF;
          IF left(entity, 1) = '@' THEN
            entity := rec ->> substr(entity, 2);
          END IF;
          key := rec ->> TG_ARGV[1];
          IF NOT EXISTS (SELECT 1 FROM auditevent
                         WHERE entity_type = entity AND entity_key = key
                           AND db_xact = pg_current_xact_id()::text::bigint) THEN
            RAISE EXCEPTION 'regdesk: % id % changed its % without an audit row of % %: use regdesk',
              TG_TABLE_NAME, to_jsonb(NEW) ->> 'id', TG_ARGV[2], entity, key
              USING ERRCODE = 'insufficient_privilege';
          END IF;
          RETURN NULL;
        END $$""")
    )
    for table, events, args in STATUS_AUDITED:
        if table not in tables:  # not created yet at this revision
            continue
        conn.execute(text(f'DROP TRIGGER IF EXISTS regdesk_status_audited ON "{table}"'))
        conn.execute(
            text(
                f'CREATE CONSTRAINT TRIGGER regdesk_status_audited AFTER {events} ON "{table}" '
                f"DEFERRABLE INITIALLY DEFERRED FOR EACH ROW "
                f"EXECUTE FUNCTION regdesk_status_audited({', '.join(repr(a) for a in args)})"
            )
        )


def pg_add_login(session: Any, user_name: str, roles: list[str]) -> None:
    """The operator's LOGIN role (created, or an existing role given LOGIN) in the groups of its roles.

    Passwords are not regdesk's business: set one with psql's ``\\password``, or use client
    certificates / peer authentication as pg_hba.conf says."""
    from sqlalchemy import text

    role = quote_role(user_name)
    exists = session.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": user_name}).first()
    admin = ADMIN in roles
    attrs = "LOGIN CREATEROLE" if admin else "LOGIN"
    session.execute(text(f"{'ALTER' if exists else 'CREATE'} ROLE {role} {attrs}"))
    groups = ", ".join(GROUP_ROLES[r] for r in sorted(set(roles)) if r in GROUP_ROLES)
    if groups:
        session.execute(text(f"GRANT {groups} TO {role}"))
    if admin:  # an admin adds operators: it may hand out the groups
        session.execute(text(f"GRANT {', '.join(GROUP_ROLES.values())} TO {role} WITH ADMIN OPTION"))


def pg_set_login(session: Any, user_name: str, active: bool) -> None:
    """``operators disable`` revokes LOGIN; ``enable`` restores it."""
    from sqlalchemy import text

    exists = session.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": user_name}).first()
    if exists:
        session.execute(text(f"ALTER ROLE {quote_role(user_name)} {'LOGIN' if active else 'NOLOGIN'}"))


def reason_from_env() -> str | None:
    return os.environ.get(REASON_ENV) or None
