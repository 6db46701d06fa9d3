"""The console's fast start (services.quick): the same first view as the services, or None.

Also the console started that way: the prefetched page is shown at once, the store opens in
the background, and a store that fails to open closes the console with the CLI's message.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import text

from models.core import Role
from models.signup import SignupStatus
from seed.demo import add_synthetic
from services import operators, permissions, quick, signup
from services.errors import UnknownOperator
from services.permissions import SYSTEM
from services.schema import script_heads
from services.schema_heads import SCHEMA_HEADS
from tests.helpers import run_async, until
from tests.test_console_registration import load_requests

ROOT = Path(__file__).absolute().parent.parent
PAGE = 60


def _url(db_path: Path) -> str:
    return f"sqlite:///{db_path}"


def _assert_same_view(light: quick.LightStart, store, actor, limit: int = PAGE) -> None:
    page = store.call(signup.list_requests, actor, limit=limit)
    assert len(light.view.page.rows) == len(page.rows)
    for mine, theirs in zip(light.view.page.rows, page.rows):
        for name in signup.RequestRow.model_fields:
            assert getattr(mine, name) == getattr(theirs, name), name
        assert mine.created_at.tzinfo is not None and mine.created_at.utcoffset().total_seconds() == 0
    assert light.view.page.after == page.after
    counts = store.call(signup.count_by_status, actor)
    assert light.view.counts == counts
    assert list(light.view.counts) == list(counts)


def test_constants_agree_with_the_models():
    assert (permissions.SUPPORT, permissions.APPROVER, permissions.ADMIN) == (
        Role.SUPPORT.value,
        Role.APPROVER.value,
        Role.ADMIN.value,
    )
    assert quick.SIGNUP_STATUSES == tuple(s.value for s in SignupStatus)
    assert SCHEMA_HEADS == script_heads()
    assert set(quick.LightRow.__dataclass_fields__) == set(signup.RequestRow.model_fields)


def test_light_view_equals_the_services(store, actor, db_path):
    load_requests(store, actor)  # every status
    approver = actor("approver1")
    light = quick.light_start(_url(db_path), "approver1", limit=PAGE)
    assert light is not None
    from services.identity import establish

    with store.read() as s:
        assert light.actor == establish(s, "approver1")  # the CLI's actor: the same identity rule (issue 11)
    assert light.view.page.after is None  # fewer than a page
    assert {status for status, n in light.view.counts.items() if n} >= set(quick.SIGNUP_STATUSES)
    _assert_same_view(light, store, approver)


def test_light_view_pages_like_the_services(store, actor, db_path):
    load_requests(store, actor)
    add_synthetic(store, 150)
    approver = actor("approver1")
    for limit in (1, 7, PAGE):
        light = quick.light_start(str(db_path), " approver1 ", limit=limit)  # a plain path; name trimmed
        assert light is not None
        assert light.view.page.after is not None
        _assert_same_view(light, store, approver, limit)
        # the next page through the services continues right after the light page
        following = store.call(signup.list_requests, approver, after=light.view.page.after, limit=limit)
        assert following.rows[0].id > light.view.page.rows[-1].id


def test_empty_list(store, actor, db_path):
    light = quick.light_start(_url(db_path), "support1", limit=PAGE)
    assert light is not None and light.view.page.rows == () and light.view.page.after is None
    _assert_same_view(light, store, actor("support1"))


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://nobody-here@127.0.0.1:1/regdesk",
        "postgres://127.0.0.1:1/regdesk",
        "postgresql+psycopg://127.0.0.1:1/regdesk",
        "postgresql://127.0.0.1/regdesk?sslmode=require",
        "sqlite://",
        ":memory:",
        "",
    ],
)
def test_none_when_not_an_sqlite_file_or_a_reachable_postgres(url):
    assert quick.light_start(url, "approver1", limit=PAGE) is None


def test_none_for_a_missing_file(tmp_path):
    missing = tmp_path / "nothing-here.db"
    assert quick.light_start(_url(missing), "approver1", limit=PAGE) is None
    assert not missing.exists()  # read-only: nothing created


def test_none_for_unknown_disabled_or_missing_operator(store, db_path):
    url = _url(db_path)
    assert quick.light_start(url, "nobody", limit=PAGE) is None
    assert quick.light_start(url, "", limit=PAGE) is None
    assert quick.light_start(url, None, limit=PAGE) is None
    store.call(operators.set_active, SYSTEM, "support1", False)
    assert quick.light_start(url, "support1", limit=PAGE) is None
    assert quick.light_start(url, "approver1", limit=PAGE) is not None


def test_none_without_signup_view_permission(store, db_path):
    with store.write() as s:
        s.execute(text("UPDATE operator SET roles = '' WHERE user_name = 'support1'"))
    assert quick.light_start(_url(db_path), "support1", limit=PAGE) is None


def test_none_when_the_schema_needs_an_upgrade(store, db_path):
    with store.write() as s:
        s.execute(text("DELETE FROM alembic_version"))
    assert quick.light_start(_url(db_path), "approver1", limit=PAGE) is None


def test_none_for_an_older_schema_revision(store, db_path):
    with store.write() as s:
        s.execute(text("UPDATE alembic_version SET version_num = '0004'"))
    assert quick.light_start(_url(db_path), "approver1", limit=PAGE) is None


def test_none_for_a_file_that_is_not_a_database(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    assert quick.light_start(_url(junk), "approver1", limit=PAGE) is None


# ----------------------------------------------------------------------------- PostgreSQL: libpq through ctypes


def _session_user(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute("SELECT session_user::text").fetchone()[0]


@pytest.mark.postgres
def test_postgres_light_view_equals_the_services(pg_store, pg_database_url):
    from tests.conftest import actor_of

    actor = actor_of(pg_store)
    load_requests(pg_store, actor)
    add_synthetic(pg_store, 150)
    approver = actor("approver1")
    for url in (pg_database_url, pg_database_url.replace("postgresql://", "postgresql+psycopg://")):
        for limit in (1, 7, PAGE):
            light = quick.light_start(url, " approver1 ", limit=limit)
            assert light is not None
            # the owner login (the fixtures') may name an operator; the actor carries who is connected
            assert light.actor.login == _session_user(pg_database_url)
            assert replace(light.actor, login=None) == approver
            _assert_same_view(light, pg_store, approver, limit)


@pytest.mark.postgres
def test_postgres_light_start_says_none_where_the_services_would_refuse(pg_store, pg_database_url):
    from sqlalchemy import text as sql

    assert quick.light_start(pg_database_url, "nobody", limit=PAGE) is None
    assert quick.light_start(pg_database_url, None, limit=PAGE) is None
    with pg_store.write() as s:
        s.execute(sql("UPDATE operator SET active = false WHERE user_name = 'support1'"))
    assert quick.light_start(pg_database_url, "support1", limit=PAGE) is None
    base = pg_database_url.rsplit("/", 1)[0]
    assert quick.light_start(f"{base}/no_such_database_here", "approver1", limit=PAGE) is None
    with pg_store.write() as s:
        s.execute(sql("UPDATE alembic_version SET version_num = '0001'"))
    try:
        assert quick.light_start(pg_database_url, "approver1", limit=PAGE) is None
    finally:
        with pg_store.write() as s:
            s.execute(sql("UPDATE alembic_version SET version_num = :v"), {"v": next(iter(SCHEMA_HEADS))})


def test_quick_imports_no_heavy_stack():
    code = (
        "import sys, services.quick, app.tui, screens.registration\n"
        "heavy = [m for m in ('sqlalchemy', 'sqlmodel', 'pydantic', 'models', 'services.signup', 'alembic',"
        " 'psycopg')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# ----------------------------------------------------------------------------- the console on a fast start


@run_async
async def test_console_shows_the_prefetched_page_then_uses_the_store(store, actor, db_path):
    from app.tui import make_app
    from screens.registration import PAGE_SIZE, RegistrationScreen

    load_requests(store, actor)
    light = quick.light_start(_url(db_path), "approver1", limit=PAGE_SIZE)
    assert light is not None
    opened = []

    def open_store():
        opened.append(True)
        return store, actor("approver1")

    app = make_app(None, light.actor, view=light.view, open_store=open_store)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = app.screen
        assert isinstance(screen, RegistrationScreen)
        # shown on mount, before any worker or the store
        assert screen.loaded == len(light.view.page.rows) and screen.counts == light.view.counts
        await until(app, pilot, lambda: screen.detail is not None, "detail through the store")
        assert opened == [True] and app.store is store
        assert screen.detail.number == light.view.page.rows[0].number
        await pilot.press("2")  # everything after the first view goes through the services
        await until(app, pilot, lambda: screen.query_state.status == "Requested" and not screen._fetching, "filter")
        assert screen.loaded == light.view.counts["Requested"]


@run_async
async def test_console_closes_with_the_refusal_when_the_store_fails(store, actor, db_path):
    from app.tui import make_app
    from screens.registration import PAGE_SIZE
    from screens.textual_compat import app_exiting

    light = quick.light_start(_url(db_path), "approver1", limit=PAGE_SIZE)
    assert light is not None

    def open_store():
        raise UnknownOperator("operator 'approver1' is disabled")

    app = make_app(None, light.actor, view=light.view, open_store=open_store)
    async with app.run_test(size=(140, 40)) as pilot:
        for _ in range(200):
            if app_exiting(app):
                break
            await pilot.pause(0.01)
    assert isinstance(app.startup_error, UnknownOperator)
    assert app.return_code == 1


def test_run_console_reports_a_failed_store_like_the_cli(cli, monkeypatch):
    """run_console re-raises the background refusal: the CLI prints it with its exit code."""
    from app.tui import RegdeskApp

    def fake_run(self, *args, **kwargs):
        self.startup_error = UnknownOperator("operator 'approver1' is disabled")

    monkeypatch.setattr(RegdeskApp, "run", fake_run)
    result = cli(as_="approver1")
    assert result.code == UnknownOperator.exit_code
    assert "operator 'approver1' is disabled" in result.err
    assert "Traceback" not in result.err
