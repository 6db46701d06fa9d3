"""The store refuses surprises (issue 9): no database made for a mistyped --db, a clear word
for a database upgraded by a newer regdesk, a cut-short demo finished by the next `demo`,
and exit codes as README's table says."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest
from sqlmodel import func, select

from app.cli import main
from models.signup import SignupRequest
from services import signup
from services.errors import SchemaTooNew
from services.store import Store
from tests.conftest import actor_of
from tests.test_signup_services import approved

README = Path(__file__).resolve().parent.parent / "README.md"


def run(capsys, *argv):
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_mistyped_db_path_creates_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("REGDESK_DATABASE_URL", raising=False)
    target = tmp_path / "typo" / "dmeo.db"
    code, out, err = run(capsys, "--db", str(target), "--as", "approver1", "requests", "list")
    assert code == 8, (code, out, err)
    assert "no database" in err and "db init" in err
    assert not target.exists() and not target.parent.exists()
    # the console alone (fast start path) refuses the same way
    code, out, err = run(capsys, "--db", str(target))
    assert code == 8 and "no database" in err
    assert not target.parent.exists()
    # an existing directory but no file: still nothing created
    code, out, err = run(capsys, "--db", str(tmp_path / "dmeo.db"), "requests", "list")
    assert code == 8 and not (tmp_path / "dmeo.db").exists()


def test_db_init_creates_a_new_database_once(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("REGDESK_DATABASE_URL", raising=False)
    target = tmp_path / "new" / "office.db"
    code, out, err = run(capsys, "--db", str(target), "db", "init")
    assert code == 0, err
    assert target.exists() and "created" in out
    code, out, err = run(capsys, "--db", str(target), "db", "init")
    assert code == 0 and "already" in out
    code, out, err = run(capsys, "--db", str(target), "db", "current")
    assert code == 0


def test_demo_creates_its_database(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("REGDESK_DATABASE_URL", raising=False)
    target = tmp_path / "d" / "demo.db"
    code, out, err = run(capsys, "--db", str(target), "demo")
    assert code == 0, err
    assert target.exists()


def test_the_default_path_is_created(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("REGDESK_DATABASE_URL", raising=False)
    monkeypatch.setenv("REGDESK_DATA_DIR", str(tmp_path / "data"))
    code, out, err = run(capsys, "--as", "nobody", "requests", "list")
    assert (tmp_path / "data" / "regdesk.db").exists()
    assert code == 3  # the unknown operator, not the database


def _stamp_newer(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("UPDATE alembic_version SET version_num = '0099'")
    conn.commit()
    conn.close()


def test_the_library_default_creates_no_database(tmp_path):
    """Outside the CLI too: ``Store(url)`` / ``make_engine(url)`` of a missing SQLite file refuse
    and make nothing; only ``create=True`` (db init, demo, the default path, tests) makes one."""
    from services.errors import DatabaseUnavailable
    from services.store import make_engine

    target = tmp_path / "typo" / "dmeo.db"
    with pytest.raises(DatabaseUnavailable, match="no database"):
        Store(f"sqlite:///{target}")
    with pytest.raises(DatabaseUnavailable, match="no database"):
        make_engine(f"sqlite:///{target}")
    assert not target.exists() and not target.parent.exists()
    store = Store(f"sqlite:///{target}", create=True)
    store.dispose()
    assert target.is_file()
    Store(f"sqlite:///{target}").dispose()  # an existing file opens without being asked


def test_database_newer_than_the_program_is_named(db_path, capsys, monkeypatch):
    monkeypatch.delenv("REGDESK_DATABASE_URL", raising=False)
    _stamp_newer(db_path)
    code, out, err = run(capsys, "--db", str(db_path), "--as", "approver1", "requests", "list")
    assert code == 11, (code, err)
    assert "upgraded by a newer regdesk (revision 0099); install that version" in err
    assert "unexpected" not in err
    # the console's fast start falls back and refuses the same way
    code, out, err = run(capsys, "--db", str(db_path), "--as", "approver1")
    assert code == 11 and "newer regdesk" in err
    with pytest.raises(SchemaTooNew):
        Store(f"sqlite:///{db_path}")


@pytest.mark.postgres
def test_postgres_newer_than_the_program_is_named(pg_store):
    from sqlalchemy import text

    with pg_store.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    try:
        with pytest.raises(SchemaTooNew, match=r"revision 0099"):
            Store(pg_store.url)
    finally:
        from services.schema_heads import SCHEMA_HEADS

        with pg_store.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": next(iter(SCHEMA_HEADS))})


def test_a_cut_short_demo_is_finished_by_the_next_run(tmp_path, capsys, monkeypatch):
    """A killed load: operators (and reference data) but no requests; `demo` again finishes it."""
    from seed.demo import REQUESTS, load_reference

    monkeypatch.delenv("REGDESK_DATABASE_URL", raising=False)
    target = tmp_path / "demo.db"
    store = Store(f"sqlite:///{target}", create=True)
    load_reference(store)
    store.dispose()
    code, out, err = run(capsys, "--db", str(target), "demo")
    assert code == 0, err
    assert "already there" not in out
    store = Store(f"sqlite:///{target}")
    with store.read() as s:
        assert s.exec(select(func.count()).select_from(SignupRequest)).one() == len(REQUESTS)
    store.dispose()
    code, out, err = run(capsys, "--db", str(target), "demo")
    assert code == 0 and "already there" in out


def test_lost_race_on_a_work_item_exits_with_the_conflict_code(cli, store):
    """`work approve` of an item somebody else decided first: exit 6 (conflict), as README says."""
    from seed.workflows import load_default_workflows
    from services import workflow

    load_default_workflows(store)
    number = approved(store)
    store.call(
        signup.create_customer,
        actor_of(store)("approver2"),
        number,
        mode="new",
        template="DOMESTIC",
        role="Customer self-service user",
    )
    with store.read() as s:
        items = [i for i in workflow.list_work(s, actor_of(store)("admin1"), mine=False) if i.assignee != "approver2"]
    assert items, "the demo user request workflow gives a work item"
    item = items[0]
    store.call(workflow.approve, actor_of(store)(item.assignee), item.id)
    r = cli("work", "approve", str(item.id), as_=item.assignee)
    assert r.code == 6, r


def test_readme_exit_code_table_lists_every_code_used():
    import services.errors as errors

    text = README.read_text()
    table = dict(re.findall(r"^\|\s*(\d+)\s*\|\s*([^|]+?)\s*\|", text, re.M))
    from services import delivery

    codes = {
        cls.exit_code
        for mod in (errors, delivery)
        for cls in vars(mod).values()
        if isinstance(cls, type) and issubclass(cls, errors.RegdeskError)
    }
    codes |= {0, 1, 2, 8, 10, 70, 130}  # success, typer usage errors, database errors, SMTP refusal, bug, Ctrl+C
    assert codes <= set(map(int, table)), sorted(codes - set(map(int, table)))
