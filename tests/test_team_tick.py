"""workflow.tick checks before it locks (issue 9): cron runs it every minute, and a tick with
nothing due must neither wait for SQLite's write lock nor hold it while the office writes."""

from __future__ import annotations

import pytest

from services import workflow
from tests.test_work_inbox import LIMITED, case_flow, submitted_case
from tests.test_write_path import _hold_sqlite_write_lock


def test_a_tick_with_nothing_due_does_not_wait_for_the_write_lock(store, monkeypatch):
    import services.store as st

    case_flow(store, LIMITED)
    submitted_case(store)
    monkeypatch.setattr(st, "WRITE_RETRY_BUDGET_S", 0.3)  # a tick that locked first would end "busy"
    holder = _hold_sqlite_write_lock(store)
    try:
        report = store.call(workflow.tick)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert (report.reminders, report.escalations, report.events) == (0, 0, [])


def test_a_tick_with_work_due_still_does_it_after_the_look_up(store, clock, monkeypatch):
    case_flow(store, LIMITED)
    submitted_case(store)
    clock.advance(hours=9)  # both items are due for their 8-hourly reminder
    assert store.call(workflow.tick).reminders == 2
    assert store.call(workflow.tick).reminders == 0


@pytest.mark.postgres
def test_a_tick_on_postgresql_with_work_due(pg_store, clock):
    case_flow(pg_store, LIMITED)
    submitted_case(pg_store)
    clock.advance(hours=9)
    assert pg_store.call(workflow.tick).reminders == 2
