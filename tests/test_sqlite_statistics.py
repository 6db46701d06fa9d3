"""SQLite statistics (issue 10): a store opened on a file ANALYZEs, sampled, the indexed tables
whose statistics are missing or stale (``services.store.refresh_sqlite_statistics``), so the
planner of a real file knows what the tests' plans assume ("the planner told the truth"):
without ``sqlite_stat1`` SQLite guessed that ``status = 'open'`` narrows My work's items to a few
rows and read every open item to find the items of one searched document."""

from __future__ import annotations

import sqlite3

from services import workflow
from services.store import Store, refresh_sqlite_statistics
from tests.conftest import actor_of
from tests.test_scale import _captured, _fill
from tests.test_work_inbox import bulk_open_items


def _stats(path) -> dict[str, int]:
    with sqlite3.connect(path) as conn:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'").fetchone():
            return {}
        return {
            t: int(s.split()[0]) for t, s in conn.execute("SELECT tbl, stat FROM sqlite_stat1 WHERE idx IS NOT NULL")
        }


def test_a_store_opened_on_a_grown_file_analyzes_it_once(store, db_path):
    _fill(store, 3000)  # (tests.test_scale's _fill ANALYZEs: start without statistics, as a real file)
    with sqlite3.connect(db_path) as conn:
        conn.execute("DROP TABLE IF EXISTS sqlite_stat1")
    reopened = Store(f"sqlite:///{db_path}")
    reopened.dispose()
    assert 1500 <= _stats(db_path).get("signuprequest", 0) <= 6000  # sampled (analysis_limit): about the rows
    assert "customer" not in _stats(db_path)  # a few rows: nothing to tell the planner
    assert refresh_sqlite_statistics(db_path) == []  # fresh: not analyzed again on the next open
    with sqlite3.connect(db_path) as conn:  # as if analyzed at 1000 rows: grown past 2x since
        conn.execute(
            "UPDATE sqlite_stat1 SET stat = '1000' || substr(stat, instr(stat, ' ')) WHERE tbl = 'signuprequest'"
        )
    assert refresh_sqlite_statistics(db_path) == ["signuprequest"]
    assert 1500 <= _stats(db_path)["signuprequest"] <= 6000


def test_a_busy_file_is_not_waited_for(store, db_path):
    _fill(store, 3000)
    with sqlite3.connect(db_path) as conn:
        conn.execute("DROP TABLE IF EXISTS sqlite_stat1")
    writer = sqlite3.connect(db_path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        assert refresh_sqlite_statistics(db_path) == []  # at once, no error: the next open tries again
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert refresh_sqlite_statistics(db_path) == ["signuprequest"]


def test_my_work_search_looks_the_documents_items_up_on_a_reopened_file(store, db_path, clock):
    """The store's own statistics make the search of one document's number a lookup of its items
    (``ix_workitem_instance_id``), not a read of every open item (``ix_workitem_inbox``)."""
    bulk_open_items(store, clock, 1500)
    with sqlite3.connect(db_path) as conn:
        conn.execute("DROP TABLE IF EXISTS sqlite_stat1")
    reopened = Store(f"sqlite:///{db_path}", clock=clock)
    try:
        me = actor_of(reopened)("approver1")
        with _captured(reopened) as seen:
            reopened.call(workflow.list_work, me, True, limit=60, search="BULK-01234")
        sql, params = next((q, p) for q, p in seen if "workitem" in q.lower())
        with reopened.engine.connect() as conn:
            plan = [r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)]
        assert any("ix_workitem_instance_id" in line for line in plan), plan
        assert not any("USING INDEX ix_workitem_inbox (status=?)" in line for line in plan), plan
    finally:
        reopened.dispose()
