"""Defects found by trying the CLI by hand with bad input: each gives a clear message and an exit
code from README's table, never a traceback."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("args", [("cases", "list"), ("requests", "list"), ("requests", "approve", "REG-000001")])
def test_a_db_url_of_an_unsupported_kind_is_exit_8(cli, monkeypatch, args):
    """`--db mysql://x/y` said "unsupported database 'mysql'" and exited 1 (README: batches with mixed
    failures, an unreadable config file); a --db that names no database regdesk can use is 8."""
    monkeypatch.setenv("REGDESK_DATABASE_URL", "mysql://db.example/regdesk")
    r = cli(*args, as_="approver1")
    assert r.code == 8, r
    assert "unsupported database 'mysql'" in r.err
    assert "Traceback" not in r.err


def test_work_item_id_that_is_not_a_number_is_named_not_a_question_mark(cli):
    """`work approve abc` printed "error: ?: no work item 'abc' …": the '?' stood for the id."""
    r = cli("work", "approve", "abc", as_="approver1")
    assert r.code == 4, r
    assert "?" not in r.err.split("no work item")[0], r.err
    assert "'abc'" in r.err


def test_a_list_into_a_pipe_is_not_cut_to_an_imagined_80_column_screen(cli):
    """`regdesk requests list | cat` printed "REG-00…" and "Tailsp…": with no terminal Rich assumed 80
    columns, so the numbers to copy into the next command were cut. Into a pipe or a file a table takes
    the width its cells need; on a terminal the key column is never cut."""
    cli("demo", as_="admin")
    r = cli("requests", "list", "--limit", "3", as_="approver1")
    assert r.code == 0, r
    assert "REG-000001" in r.out and "Wide World Importers" in r.out, r.out
    assert "…" not in r.out, r.out
    r = cli("customers", "list", "--limit", "2", as_="approver1")
    assert "C-000001" in r.out and "Contoso Retail Ltd" in r.out, r.out


def test_on_a_narrow_terminal_the_key_column_is_never_cut():
    from rich.console import Console

    import app.cli.output as output

    narrow = Console(width=36, force_terminal=True, highlight=False, record=True)
    rows = [{"number": "REG-000001", "company": "Wide World Importers", "contact": "Luis Garcia"}] * 2
    original = output.out
    output.out = narrow
    try:
        output.table(
            rows,
            [("number", "Number"), ("company", "Company"), ("contact", "Contact"), ("x", "E-mail"), ("y", "Country")],
        )
    finally:
        output.out = original
    assert "REG-000001" in narrow.export_text()


@pytest.mark.parametrize("args", [("audit", "list", "--entity", "nope"), ("operators", "list")])
def test_a_reader_that_stops_reading_is_not_a_failure(db_path, args):
    """`regdesk audit list --entity X | head -1` exited 1 (Rich's answer to a broken pipe), the code the
    README keeps for a batch with mixed failures. The command finishes, quietly, with 0."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "REGDESK_DATABASE_URL": f"sqlite:///{db_path}", "REGDESK_OPERATOR": "approver1"}
    code = "import sys; from app.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone before the first line is written
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert b"Traceback" not in err and b"Error" not in err, err
