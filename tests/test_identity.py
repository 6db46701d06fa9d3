"""Issue 11, identity: the store vouches for who is acting (services/identity.py).

SQLite: the OS login; --as only on a demo database, or for an admin OS login with a reason.
PostgreSQL: the database login; operator roles cannot rewrite the audit trail.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import text
from sqlmodel import select

from models.core import AuditEvent
from services import identity, operators, quick
from services.errors import UnknownOperator
from services.permissions import SYSTEM
from services.store import Store


@pytest.fixture
def plain_db(db_path):
    """The seeded test database, but not a demo database (as a real one is)."""
    import sqlite3

    with sqlite3.connect(db_path) as conn:
        conn.execute("DELETE FROM storeflag")
    return db_path


@pytest.fixture
def login_as(monkeypatch):
    def set_login(name: str) -> None:
        monkeypatch.setattr(identity, "os_login", lambda: name)

    return set_login


def audit_rows(db_path):
    s = Store(f"sqlite:///{db_path}")
    try:
        with s.read() as session:
            return session.exec(select(AuditEvent).order_by(AuditEvent.id)).all()
    finally:
        s.dispose()


# ------------------------------------------------------------------ SQLite


def test_as_is_refused_on_a_database_that_is_not_a_demo(cli, plain_db, login_as, monkeypatch):
    login_as("someone")
    r = cli("requests", "list", as_="approver1")
    assert r.code == 3 and "not a demo database" in r.err and "'someone'" in r.err
    monkeypatch.setenv("REGDESK_OPERATOR", "admin1")
    r = cli("requests", "list")
    assert r.code == 3 and "not a demo database" in r.err


def test_the_os_login_is_the_operator(cli, plain_db, login_as):
    login_as("support1")
    r = cli("customers", "edit", "C-000001", "city=Tacoma")
    assert r.code == 0, r
    last = audit_rows(plain_db)[-1]
    assert (last.operator, last.db_login, last.acting_reason) == ("support1", "support1", None)
    r = cli("requests", "list", as_="support1")  # naming yourself is fine
    assert r.code == 0
    login_as("stranger")
    r = cli("requests", "list")
    assert r.code == 3 and "unknown operator 'stranger'" in r.err


def test_an_admin_os_login_acts_for_another_only_with_a_reason(cli, plain_db, login_as):
    login_as("admin1")
    r = cli("customers", "edit", "C-000001", "city=Tacoma", as_="support1")
    assert r.code == 3 and "--reason" in r.err
    assert all(e.action != "updated" for e in audit_rows(plain_db))
    r = cli("--reason", "Sam is off sick, phone intake", "customers", "edit", "C-000001", "city=Tacoma", as_="support1")
    assert r.code == 0, r
    last = audit_rows(plain_db)[-1]
    assert last.operator == "support1" and last.db_login == "admin1"
    assert last.acting_reason == "admin1: Sam is off sick, phone intake"
    r = cli("audit", "list", "--json", "--limit", "1", as_="admin1")
    assert r.json()[0]["db_login"] == "admin1" and "off sick" in r.json()[0]["acting_reason"]


def test_a_non_admin_os_login_cannot_act_for_another_even_with_a_reason(cli, plain_db, login_as):
    login_as("approver2")
    r = cli("--reason", "please", "requests", "list", as_="approver1")
    assert r.code == 3 and "not a demo database" in r.err


def test_as_works_on_a_demo_database_and_the_console_says_so(store, db_path, login_as):
    login_as("someone")
    with store.read() as s:
        actor = identity.establish(s, "approver1")
    assert actor.user_name == "approver1" and actor.demo and actor.login == "someone"
    from app.tui import _operator_label

    assert "DEMO DATABASE" in _operator_label(actor)


def test_the_fast_start_follows_the_same_rule(plain_db, db_path, login_as):
    login_as("someone")
    assert quick.light_start(f"sqlite:///{plain_db}", "approver1", limit=5) is None
    login_as("approver1")
    light = quick.light_start(f"sqlite:///{plain_db}", "approver1", limit=5)
    assert light is not None and light.actor.user_name == "approver1" and not light.actor.demo


def test_demo_marks_a_new_database_and_refuses_a_real_one(tmp_path, capsys, monkeypatch, login_as):
    from app.cli import main

    login_as("someone")
    monkeypatch.delenv("REGDESK_OPERATOR", raising=False)
    fresh = tmp_path / "fresh.db"
    assert main(["--db", str(fresh), "demo"]) == 0
    assert main(["--db", str(fresh), "--as", "approver1", "requests", "list"]) == 0
    real = tmp_path / "real.db"
    s = Store(f"sqlite:///{real}", create=True)
    with s.write() as session:
        operators.create_operator(session, SYSTEM, "alice", "Alice", "admin")
    s.dispose()
    capsys.readouterr()
    assert main(["--db", str(real), "demo"]) == 5
    assert "not a demo database" in capsys.readouterr().err
    assert main(["--db", str(real), "--as", "alice", "operators", "list"]) == 3


def test_every_audit_row_carries_the_login_even_bulk_ones(cli, store, db_path, tmp_path, login_as):
    login_as("admin1")
    path = tmp_path / "c.csv"
    path.write_text("account,city\nC-000001,Tacoma\n")
    r = cli("customers", "import", str(path))
    assert r.code == 0, r
    rows = [e for e in audit_rows(db_path) if e.action == "imported"]
    assert rows and all(e.db_login == "admin1" for e in rows)


# ------------------------------------------------------------------ PostgreSQL


@pytest.fixture
def pg_role(pg_store):
    """A unique operator name; its PostgreSQL role is dropped afterwards."""
    import psycopg

    from tests.conftest import PG_URL

    names = []

    def make() -> str:
        name = f"rdt_{uuid.uuid4().hex[:10]}"
        names.append(name)
        return name

    yield make
    pg_store.dispose()
    with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        for name in reversed(names):  # grantees before their grantors
            conn.execute(f'DROP ROLE IF EXISTS "{name}"')


def _as_login(url: str, login: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{login}@{rest.split('@', 1)[-1]}"


def _add(pg_store, name, roles):
    owner = identity.Actor(user_name="owner", display_name="owner", roles=frozenset({"admin"}))
    pg_store.call(operators.add_operator, owner, name, name.title(), roles)


@pytest.mark.postgres
def test_postgres_operator_is_the_database_login(pg_store, pg_database_url, pg_role, capsys, monkeypatch):
    from app.cli import main

    monkeypatch.delenv("REGDESK_OPERATOR", raising=False)
    name = pg_role()
    _add(pg_store, name, "support")
    url = _as_login(pg_database_url, name)
    assert main(["--db", url, "requests", "list", "--json"]) == 0
    capsys.readouterr()
    assert main(["--db", url, "--as", "admin1", "requests", "list"]) == 3
    err = capsys.readouterr().err
    assert "database login" in err and name in err
    monkeypatch.setenv("REGDESK_OPERATOR", "admin1")
    assert main(["--db", url, "requests", "list"]) == 3
    monkeypatch.delenv("REGDESK_OPERATOR")
    # a login that is no operator is refused
    stranger = pg_role()
    import psycopg

    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{stranger}" LOGIN IN ROLE regdesk_support')
    capsys.readouterr()
    assert main(["--db", _as_login(pg_database_url, stranger), "requests", "list"]) == 3
    assert "not a regdesk operator" in capsys.readouterr().err


@pytest.mark.postgres
def test_postgres_owner_maps_to_named_operator_or_itself(pg_store):
    with pg_store.read() as s:
        login, is_owner = identity.pg_login(s)
        assert is_owner
        me = identity.establish(s, None)
        assert me.user_name == login and me.roles == frozenset({"admin"}) and me.login == login
        other = identity.establish(s, "approver1")
        assert other.user_name == "approver1" and other.login == login


@pytest.mark.postgres
def test_postgres_operator_cannot_rewrite_history(pg_store, pg_database_url, pg_role):
    import psycopg
    from psycopg import errors

    name = pg_role()
    _add(pg_store, name, "support")
    with pg_store.read() as s:
        assert s.execute(text("SELECT rolcanlogin FROM pg_roles WHERE rolname = :n"), {"n": name}).scalar()
    url = _as_login(pg_database_url, name)
    with psycopg.connect(url, autocommit=True) as conn:  # as psql would
        assert conn.execute("SELECT session_user").fetchone()[0] == name
        # insert-only: a forged db_login is replaced by the real login
        conn.execute(
            "INSERT INTO auditevent (at, operator, entity_type, entity_key, action, db_login) "
            "VALUES (now(), 'admin1', 'x', 'y', 'forged', 'admin1')"
        )
        got = conn.execute("SELECT operator, db_login FROM auditevent WHERE action = 'forged'").fetchone()
        assert got == ("admin1", name)
        for sql in (
            "UPDATE auditevent SET action = 'nothing happened'",
            "DELETE FROM auditevent",
            "TRUNCATE auditevent",
            "UPDATE operator SET roles = 'admin' WHERE user_name = %s" % f"'{name}'",
            "INSERT INTO operator (user_name, display_name, roles, active, created_at, version, sales_rep) "
            "VALUES ('evil', 'Evil', 'admin', true, now(), 1, false)",
            "DELETE FROM alembic_version",
            "DELETE FROM storeflag",
            "ALTER TABLE auditevent DISABLE TRIGGER regdesk_audit_login",
            "DROP TRIGGER regdesk_audit_login ON auditevent",
        ):
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(sql)
    # the audit rows regdesk writes for this login carry it
    with pg_store.read() as s:
        rows = s.exec(select(AuditEvent).where(AuditEvent.entity_key == name)).all()
        assert rows and all(e.db_login for e in rows)


@pytest.mark.postgres
def test_postgres_disable_revokes_login_and_enable_restores_it(pg_store, pg_database_url, pg_role):
    import psycopg

    name = pg_role()
    _add(pg_store, name, "approver")
    owner = identity.Actor(user_name="owner", display_name="owner", roles=frozenset({"admin"}))
    pg_store.call(operators.set_active, owner, name, False)
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(_as_login(pg_database_url, name), connect_timeout=3).close()
    pg_store.call(operators.set_active, owner, name, True)
    psycopg.connect(_as_login(pg_database_url, name), connect_timeout=3).close()


@pytest.mark.postgres
def test_postgres_group_roles_setup_is_idempotent(pg_store):
    with pg_store.engine.begin() as conn:
        identity.pg_setup(conn)
        identity.pg_setup(conn)
        groups = (
            conn.execute(text("SELECT rolname FROM pg_roles WHERE rolname LIKE 'regdesk\\_%' ORDER BY 1"))
            .scalars()
            .all()
        )
    assert {"regdesk_admin", "regdesk_approver", "regdesk_support"} <= set(groups)


def test_sqlite_rule_table():
    choose = identity.sqlite_choice
    assert choose(None, "bob", demo=False, login_is_admin=False, reason=None) == ("bob", None)
    assert choose("bob", "bob", demo=False, login_is_admin=False, reason=None) == ("bob", None)
    assert choose("alice", "bob", demo=True, login_is_admin=False, reason=None) == ("alice", None)
    assert choose("alice", "bob", demo=False, login_is_admin=True, reason="cover") == ("alice", "cover")
    for admin, reason in ((False, "cover"), (True, None), (True, "  "), (False, None)):
        with pytest.raises(UnknownOperator):
            choose("alice", "bob", demo=False, login_is_admin=admin, reason=reason)


@pytest.mark.postgres
def test_postgres_an_admin_login_adds_and_disables_operators(pg_store, pg_database_url, pg_role, capsys, monkeypatch):
    """The team set-up of the README: the owner adds an admin; the admin, connected as itself
    (not the owner, not a superuser), adds a support operator who can then log in."""
    import psycopg

    from app.cli import main

    monkeypatch.delenv("REGDESK_OPERATOR", raising=False)
    admin, support = pg_role(), pg_role()
    _add(pg_store, admin, "admin")
    admin_url = _as_login(pg_database_url, admin)
    assert main(["--db", admin_url, "operators", "add", support, "--name", "Sam", "--roles", "support"]) == 0, (
        capsys.readouterr()
    )
    with psycopg.connect(_as_login(pg_database_url, support), autocommit=True) as conn:
        assert conn.execute("SELECT pg_has_role(session_user, 'regdesk_support', 'MEMBER')").fetchone()[0]
    assert main(["--db", admin_url, "operators", "disable", support]) == 0, capsys.readouterr()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(_as_login(pg_database_url, support), connect_timeout=3).close()
    # the support login cannot add operators, neither through regdesk nor by SQL
    assert main(["--db", admin_url, "operators", "enable", support]) == 0
    capsys.readouterr()
    assert (
        main(
            [
                "--db",
                _as_login(pg_database_url, support),
                "operators",
                "add",
                "x" + support,
                "--name",
                "X",
                "--roles",
                "admin",
            ]
        )
        == 3
    )


@pytest.mark.postgres
def test_postgres_operator_cannot_change_a_status_silently(
    pg_store, pg_database_url, pg_role, capsys, monkeypatch, tmp_path
):
    """A support login with psql cannot approve a sign-up or a case by UPDATE (nor insert one
    already approved) unless it writes an audit row in the same transaction, which is stamped
    with its login for good. Through regdesk every transition works as before."""
    import json as jsonlib

    import psycopg
    from psycopg import errors

    from app.cli import main
    from services import signup
    from services.permissions import PORTAL
    from tests.test_signup_services import GOOD, link_token

    monkeypatch.delenv("REGDESK_OPERATOR", raising=False)
    support, approver = pg_role(), pg_role()
    _add(pg_store, support, "support")
    _add(pg_store, approver, "approver")
    number = pg_store.call(signup.submit, PORTAL, dict(GOOD)).number
    pg_store.call(signup.verify, link_token(pg_store, number))
    support_url = _as_login(pg_database_url, support)
    with psycopg.connect(support_url, autocommit=True) as conn:
        with pytest.raises(errors.InsufficientPrivilege, match="without an audit row"):
            conn.execute(
                "UPDATE signuprequest SET status = 'Approved', approved_by = 'approver1' WHERE number = %s", (number,)
            )
        row = conn.execute("SELECT * FROM signuprequest WHERE number = %s", (number,)).fetchone()
        cols = [c.name for c in conn.execute("SELECT * FROM signuprequest LIMIT 0").description]
        values = dict(zip(cols, row))
        values.update(id=None, number="REG-999999", status="Created", user_name="sneaky")
        values = {k: v for k, v in values.items() if v is not None}
        values.pop("search_doc", None)  # PostgreSQL writes the kept search document (migration 0016)
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute(
                f"INSERT INTO signuprequest ({', '.join(values)}) VALUES ({', '.join(['%s'] * len(values))})",
                list(values.values()),
            )
        # with an audit row of its own it goes through, and the trail says who did it
        with conn.transaction():
            conn.execute("UPDATE signuprequest SET status = 'Approved' WHERE number = %s", (number,))
            conn.execute(
                "INSERT INTO auditevent (at, operator, entity_type, entity_key, action) "
                "VALUES (now(), 'approver1', 'signup', %s, 'approved')",
                (number,),
            )
        assert (
            conn.execute(
                "SELECT db_login FROM auditevent WHERE entity_key = %s AND action = 'approved'", (number,)
            ).fetchone()[0]
            == support
        )
    # through regdesk: an approver login approves, a support login creates and submits a case
    n2 = pg_store.call(signup.submit, PORTAL, {**GOOD, "user_name": "second"}).number
    pg_store.call(signup.verify, link_token(pg_store, n2))
    assert main(["--db", _as_login(pg_database_url, approver), "requests", "approve", n2]) == 0, capsys.readouterr()
    case = tmp_path / "case.json"
    case.write_text(jsonlib.dumps({"title": "Price", "customer_account": "C-000001"}))
    capsys.readouterr()
    assert main(["--db", support_url, "cases", "create", str(case), "--json"]) == 0
    created = jsonlib.loads(capsys.readouterr().out)["number"]
    assert main(["--db", support_url, "cases", "submit", created]) == 0, capsys.readouterr()
    assert main(["--db", _as_login(pg_database_url, approver), "cases", "approve", created]) == 0, capsys.readouterr()


# a status each protected table can be moved to by hand without tripping anything but the rule
_SILENT_TARGET = {
    "signuprequest": "Rejected",
    "customercase": "Closed/Stopped",
    "samplerequest": "Canceled",
    "userrequest": "Completed",
    "changeproposal": "Rejected",
    "portaluser": "Disabled",
    "prospect": "Rejected",
    "lead": "Disqualified",
    "opportunity": "Lost",
    "workflowinstance": "recalled",
    "workitem": "canceled",
    "outboxemail": "sent",
}


@pytest.mark.postgres
def test_postgres_no_status_moves_without_an_audit_row_anywhere(pg_store, pg_database_url, pg_role, clock):
    """Every table whose status the product moves: an operator login moves it through regdesk
    (the whole demo load, run as that login), but a bare UPDATE of the status is refused at
    commit (42501) and no row can be deleted."""
    import psycopg
    from psycopg import errors

    from seed.demo import load_base

    assert set(_SILENT_TARGET) == {t for t, _, _ in identity.STATUS_AUDITED}
    name = pg_role()
    _add(pg_store, name, "admin")
    as_login = Store(_as_login(pg_database_url, name), clock=clock)
    try:
        with as_login.read() as s:
            assert identity.pg_login(s) == (name, False)
        load_base(as_login)  # sign-ups, user requests, workflows, portal users, cases, samples, B2B
        _more_through_services(as_login, pg_store)
    finally:
        as_login.dispose()
    with psycopg.connect(_as_login(pg_database_url, name)) as conn:  # as psql would
        for table, _, args in identity.STATUS_AUDITED:
            column, target = args[2], _SILENT_TARGET[table]
            row = conn.execute(
                f'SELECT id FROM "{table}" WHERE {column} <> %s ORDER BY id LIMIT 1', (target,)
            ).fetchone()
            assert row, f"{table}: the services made no row to try"
            conn.execute(f'UPDATE "{table}" SET {column} = %s WHERE id = %s', (target, row[0]))
            with pytest.raises(errors.InsufficientPrivilege, match="without an audit row"):
                conn.commit()
            conn.rollback()
            with pytest.raises(errors.InsufficientPrivilege):
                conn.execute(f'DELETE FROM "{table}" WHERE id = %s', (row[0],))
            conn.rollback()
            # an audit row of that record in the same transaction lets it through (and names the login)
            conn.execute(f'UPDATE "{table}" SET {column} = %s WHERE id = %s', (target, row[0]))
            entity, key = _audited_as(conn, table, args, row[0])
            conn.execute(
                "INSERT INTO auditevent (at, operator, entity_type, entity_key, action) "
                "VALUES (now(), 'admin1', %s, %s, 'by hand')",
                (entity, key),
            )
            conn.commit()


def _audited_as(conn, table, args, row_id):
    entity, key_column = args[0], args[1]
    source, ident = (
        (table, row_id)
        if len(args) == 3
        else (args[3], conn.execute(f'SELECT {args[4]} FROM "{table}" WHERE id = %s', (row_id,)).fetchone()[0])
    )
    rec = conn.execute(f'SELECT to_jsonb(t) FROM "{source}" t WHERE id = %s', (ident,)).fetchone()[0]
    return (rec[entity[1:]] if entity.startswith("@") else entity), str(rec[key_column])


def _more_through_services(as_login, pg_store):
    """What the demo load does not do, through the services as the same login."""
    from services import changes, delivery
    from tests.conftest import actor_of
    from tests.test_changes import ACC, submitted

    a = actor_of(as_login)
    submitted(as_login)  # approvals on, a proposal submitted
    with as_login.read() as s:
        assert changes.show_proposal(s, a("approver1"), ACC).state == "Submitted"
    # a user request's workflow approved step by step by its assignees: the portal user is provisioned
    from services import params, workflow

    as_login.call(params.set_param, a("admin1"), "workflow.disallow_submitter_approval", False)
    for _ in range(6):
        with pg_store.engine.connect() as conn:
            open_items = conn.execute(
                text(
                    "SELECT w.id, w.assignee FROM workitem w JOIN workflowinstance i ON i.id = w.instance_id "
                    "WHERE w.status = 'open' AND i.doc_type = 'user_request' ORDER BY w.id"
                )
            ).all()
        if not open_items:
            break
        item_id, assignee = open_items[0]  # one decides the step; its siblings are canceled
        as_login.call(workflow.approve, a(assignee), item_id)
    with pg_store.engine.begin() as conn:  # the owner marks one mail dead, as a failing SMTP server would
        conn.execute(text("UPDATE outboxemail SET status = 'dead' WHERE id = (SELECT min(id) FROM outboxemail)"))
        dead = conn.execute(text("SELECT min(id) FROM outboxemail WHERE status = 'dead'")).scalar()
    as_login.call(delivery.retry, a("admin1"), dead)


@pytest.mark.postgres
def test_postgres_db_upgrade_puts_back_every_status_trigger(pg_store, pg_database_url, capsys):
    """A database already at 0009 or later gets the triggers and grants of this version from
    'regdesk db upgrade' (pg_setup runs after every upgrade), not only from migration 0009."""
    from app.cli import main

    with pg_store.engine.begin() as conn:
        conn.execute(text('DROP TRIGGER regdesk_status_audited ON "lead"'))
        conn.execute(text('GRANT DELETE ON "lead" TO regdesk_support'))
    assert main(["--db", pg_database_url, "db", "upgrade"]) == 0, capsys.readouterr()
    with pg_store.engine.connect() as conn:
        have = set(
            conn.execute(
                text(
                    "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                    "WHERE t.tgname = 'regdesk_status_audited'"
                )
            ).scalars()
        )
        assert have == {t for t, _, _ in identity.STATUS_AUDITED}
        assert not conn.execute(text("SELECT has_table_privilege('regdesk_support', 'lead', 'DELETE')")).scalar()


def test_console_service_calls_carry_the_acting_reason_into_worker_threads(store, actor):
    """Bulk (Core) audit rows read the acting reason from a context variable; a console worker
    thread starts with none, so the app sets it around each service call."""
    import threading
    from dataclasses import replace

    from app.tui import make_app
    from services.identity import current_reason

    app = make_app(store, replace(actor("support1"), reason="admin1: phone intake"))
    seen: list[str | None] = []

    def probe(session, acting):
        return current_reason.get()

    worker = threading.Thread(target=lambda: seen.append(app.call(probe)))
    worker.start()
    worker.join(10)
    assert seen == ["admin1: phone intake"]
    assert current_reason.get() is None  # nothing leaks into the caller's context
