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
