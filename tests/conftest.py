"""Fixtures shared by every test: stores on SQLite (and PostgreSQL when a server answers),
a controllable clock, the demo operators, and a CLI runner.

SQLite stores are copies of one migrated, seeded template file (a copy is a few ms; a
migration is not). PostgreSQL stores share one database per test worker, emptied before
each test.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Callable

import pytest

os.environ.setdefault("REGDESK_CONFIG", "/nonexistent/regdesk-test-config.toml")

from services.clock import ManualClock
from services.permissions import Actor
from services.store import Store

PG_URL = os.environ.get("REGDESK_TEST_PG_URL", "postgresql://127.0.0.1:5432/test")
DEMO_OPERATORS = ("approver1", "approver2", "support1", "admin1", "sales1")


def _seed(store: Store) -> None:
    from seed.demo import load_reference

    load_reference(store)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    store = Store(f"sqlite:///{path}", clock=ManualClock(), create=True)
    _seed(store)
    # a demo database, as 'regdesk demo' makes: tests may act as any operator with --as
    # (tests/test_identity.py covers the refusal on databases that are not demo databases)
    from services.identity import mark_demo

    with store.write() as s:
        mark_demo(s)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.dispose()
    return path


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def db_path(tmp_path, sqlite_template) -> Path:
    path = tmp_path / "regdesk.db"
    shutil.copy(sqlite_template, path)
    return path


@pytest.fixture
def store(db_path, clock) -> Store:
    """A seeded SQLite store (operators, templates, roles, customers; no requests)."""
    s = Store(f"sqlite:///{db_path}", clock=clock)
    yield s
    s.dispose()


def _pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=2):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_database_url():
    """A fresh PostgreSQL database for this test worker, migrated once; dropped at the end."""
    if not _pg_available():
        pytest.skip(f"no PostgreSQL server answers at {PG_URL}")
    import psycopg

    from services.schema import upgrade
    from services.store import make_engine

    base = PG_URL.replace("postgresql+psycopg://", "postgresql://")
    name = f"regdesk_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_empty_database_url(pg_database_url):
    """A new, empty PostgreSQL database (no schema) on the test server, for a test that migrates
    it itself (up, down, refused); dropped at the end, whatever the test left open on it."""
    import psycopg

    name = f"regdesk_test_empty_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield pg_database_url.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# REGDESK_TEST_PG_AS_OPERATOR=1: pg_store connects as an operator login (all three group
# roles, not the owner) after seeding, so the PostgreSQL suites run under the operator
# privileges and the audit triggers (tests that do owner-only SQL through it then fail).
PG_AS_OPERATOR = os.environ.get("REGDESK_TEST_PG_AS_OPERATOR") == "1"


@pytest.fixture(scope="session")
def pg_operator_url(pg_database_url):
    import psycopg

    name = f"rdt_op_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_database_url, autocommit=True) as conn:
        conn.execute(f'CREATE ROLE "{name}" LOGIN IN ROLE regdesk_support, regdesk_approver, regdesk_admin')
    scheme, rest = pg_database_url.split("://", 1)
    yield f"{scheme}://{name}@{rest.split('@', 1)[-1]}"
    with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP ROLE IF EXISTS "{name}"')


@pytest.fixture
def pg_store(request, pg_database_url, clock) -> Store:
    """A seeded PostgreSQL store, emptied before the test."""
    from sqlalchemy import text

    import models

    s = Store(pg_database_url, clock=clock)
    tables = ", ".join(f'"{t}"' for t in models.metadata.tables)
    with s.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    _seed(s)
    if PG_AS_OPERATOR:
        s.dispose()
        s = Store(request.getfixturevalue("pg_operator_url"), clock=clock)
    yield s
    s.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_store(request) -> Store:
    """The same test on both stores."""
    return request.getfixturevalue("store" if request.param == "sqlite" else "pg_store")


@pytest.fixture
def actor(store) -> Callable[[str], Actor]:
    """actor("approver1") -> the demo operator as an Actor."""
    return actor_of(store)


def actor_of(store: Store) -> Callable[[str], Actor]:
    from services.operators import resolve_actor

    def get(user_name: str) -> Actor:
        with store.read() as s:
            return resolve_actor(s, user_name)

    return get


class CliResult:
    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    def json(self):
        import json

        return json.loads(self.out)

    def __repr__(self) -> str:
        return f"CliResult(code={self.code}, out={self.out[:500]!r}, err={self.err[:500]!r})"


@pytest.fixture
def cli(db_path, capsys, monkeypatch) -> Callable[..., CliResult]:
    """cli("requests", "list", as_="approver1", stdin="...") runs ``regdesk`` on the test database."""
    from app.cli import main

    monkeypatch.setenv("REGDESK_DATABASE_URL", f"sqlite:///{db_path}")
    monkeypatch.delenv("REGDESK_OPERATOR", raising=False)

    def run(*args: str, as_: str | None = None, stdin: str | None = None) -> CliResult:
        argv = (["--as", as_] if as_ else []) + list(args)
        capsys.readouterr()
        if stdin is not None:
            monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        code = main(argv)
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


HOSTILE = ["[/x]", "[b]bold[/b]", "[@click=app.quit]q[/]", "\x1b[31mred\x1b[0m", "[link=http://x]l[/link]"]
