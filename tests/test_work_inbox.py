"""My work / ``work list`` and the workflow tick at scale (issues 8 and 10): a Summary for every
document type, the assignee's name, own submissions marked and not counted as waiting, summaries
read per document type (not per item), delegation to someone who already has an item, and a tick
that looks only at what is due, in short transactions."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event, update
from sqlmodel import select

from models.workflow import WorkflowDefinition, WorkflowInstance, WorkItem
from services import cases, workflow, workflow_defs
from services.permissions import SYSTEM
from tests.conftest import actor_of
from tests.test_cases import CASE_TOML, NEW

LIMITED = CASE_TOML.read_text().replace('policy = "any"', 'policy = "any"\ntime_limit_hours = 24\nreminder_hours = 8')


def case_flow(store, source: str | None = None) -> None:
    with store.write() as s:
        s.execute(update(WorkflowDefinition).where(WorkflowDefinition.doc_type == "case").values(active=False))
    store.call(workflow_defs.import_definition, SYSTEM, source or CASE_TOML.read_text(), filename="case.toml",
               activate=True)


def submitted_case(store, who: str = "support1", **changes) -> str:
    a = actor_of(store)(who)
    number = store.call(cases.create_case, a, {**NEW, **changes}).number
    store.call(cases.submit, a, number)
    return number


@contextmanager
def statements(store):
    """The SQL statements run inside the block (BEGIN/COMMIT included)."""
    seen: list[str] = []

    def before(conn, cursor, statement, params, context, executemany):
        seen.append(" ".join(statement.split()))

    def on_begin(conn):
        seen.append("BEGIN")

    def on_commit(conn):
        seen.append("COMMIT")

    event.listen(store.engine, "before_cursor_execute", before)
    event.listen(store.engine, "begin", on_begin)
    event.listen(store.engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", before)
        event.remove(store.engine, "begin", on_begin)
        event.remove(store.engine, "commit", on_commit)


# ------------------------------------------------------------------ Summary, Assigned to, own submissions


def test_case_work_items_have_a_summary_and_the_assignees_name(any_store):
    case_flow(any_store)
    number = submitted_case(any_store, title="Damaged delivery", priority="High", category="Complaint")
    items = any_store.call(workflow.list_work, actor_of(any_store)("approver1"), False, "case")
    assert [(i.doc_key, i.assignee) for i in items] == [(number, "approver1"), (number, "approver2")]
    assert items[0].summary == "Fabrikam, Inc.: Damaged delivery (Complaint, High)"
    assert [i.assignee_name for i in items] == ["Alice Approver", "Bob Approver"]
    detail = any_store.call(workflow.show_item, actor_of(any_store)("approver1"), items[0].id)
    assert detail.items[0].summary == items[0].summary and detail.items[0].assignee_name == "Alice Approver"


def test_work_list_cli_shows_summary_and_assigned_to(cli, store, monkeypatch):
    from app.cli import output

    monkeypatch.setattr(output.out, "_width", 250)  # a wide terminal: no column wrapped
    case_flow(store)
    number = submitted_case(store, title="Damaged delivery")
    r = cli("work", "list", "--json", as_="admin1")
    assert r.code == 0, r
    assert {(x["doc_key"], x["summary"]) for x in r.json()} == {(number, "Fabrikam, Inc.: Damaged delivery "
                                                                         "(Special condition, High)")}
    r = cli("work", "list", as_="admin1")
    assert r.code == 0 and "Assigned to" in r.out and "Alice Approver (approver1)" in r.out


def test_own_submissions_are_marked_and_not_counted_as_waiting(any_store):
    a = actor_of(any_store)
    case_flow(any_store)
    mine = submitted_case(any_store, "approver1")  # approver1 submits: both approvers get an item
    other = submitted_case(any_store, "support1")
    items = {(i.doc_key, i.assignee): i for i in any_store.call(workflow.list_work, a("approver1"), False)}
    assert items[(mine, "approver1")].own_submission and items[(mine, "approver2")].own_submission
    assert not items[(other, "approver1")].own_submission
    assert [i.own_submission for i in any_store.call(workflow.list_work, a("approver2"), False)] == [False] * 4
    assert any_store.call(workflow.count_waiting, a("approver1")) == 1  # only support1's case
    assert any_store.call(workflow.count_waiting, a("approver2")) == 2
    assert any_store.call(workflow.count_waiting, a("approver2"), "customer_change") == 0
    # with 'Disallow approval by submitter' off, approver1 may approve it: it waits for them too
    from services import params

    any_store.call(params.set_param, a("admin1"), "workflow.disallow_submitter_approval", "off")
    assert any_store.call(workflow.count_waiting, a("approver1")) == 2


def test_count_waiting_cli(cli, store):
    case_flow(store)
    submitted_case(store, "approver1")
    submitted_case(store, "support1")
    r = cli("work", "count", "--json", as_="approver1")
    assert r.code == 0 and r.json() == {"waiting": 1}
    assert "1 work item(s) waiting for you" in cli("work", "count", as_="approver1").out


def test_list_work_reads_summaries_per_document_type_not_per_item(any_store):
    """N+1 before: one describe (a few queries) per document; now the same statements for 1 or 6."""
    a = actor_of(any_store)
    case_flow(any_store)
    submitted_case(any_store)
    with statements(any_store) as one:
        assert len(any_store.call(workflow.list_work, a("approver1"))) == 1
    for _ in range(5):
        submitted_case(any_store)
    with statements(any_store) as six:
        rows = any_store.call(workflow.list_work, a("approver1"))
    assert len(rows) == 6 and all(r.summary for r in rows)
    assert len(six) == len(one)


def test_list_work_order_and_limit(any_store, clock):
    a = actor_of(any_store)
    case_flow(any_store)
    no_limit = [submitted_case(any_store) for _ in range(2)]
    case_flow(any_store, LIMITED)
    clock.advance(hours=1)
    late = submitted_case(any_store)  # due in 24 h
    clock.advance(hours=1)
    later = submitted_case(any_store)
    clock.advance(hours=23.5)  # ``late`` is overdue now, ``later`` is not yet
    rows = any_store.call(workflow.list_work, a("approver1"))
    assert [r.doc_key for r in rows] == [late, later, *no_limit]
    assert [r.overdue for r in rows] == [True, False, False, False]
    assert [r.doc_key for r in any_store.call(workflow.list_work, a("approver1"), limit=3)] == [late, later, no_limit[0]]
    # keyset pages: from a dated item into the undated ones, and within those
    first = any_store.call(workflow.list_work, a("approver1"), limit=1)
    second = any_store.call(workflow.list_work, a("approver1"), limit=2, after=workflow.work_cursor(first[-1]))
    assert [r.doc_key for r in first + second] == [late, later, no_limit[0]]
    rest = any_store.call(workflow.list_work, a("approver1"), after=workflow.work_cursor(second[-1]))
    assert [r.doc_key for r in rest] == [no_limit[1]]
    assert any_store.call(workflow.list_work, a("approver1"), after=workflow.work_cursor(rest[-1])) == []


# ------------------------------------------------------------------ delegation


def test_delegating_to_someone_who_has_an_item_of_that_step_merges_into_theirs(any_store):
    a = actor_of(any_store)
    case_flow(any_store)
    number = submitted_case(any_store)
    items = {i.assignee: i.id for i in any_store.call(workflow.list_work, a("admin1"), False)}
    result = any_store.call(workflow.delegate, a("approver1"), items["approver1"], "approver2", "on holiday")
    assert result.ok and result.item_id == items["approver2"] and "stands for both" in result.message
    left = any_store.call(workflow.list_work, a("admin1"), False)
    assert [(i.id, i.assignee) for i in left] == [(items["approver2"], "approver2")]
    with any_store.read() as s:
        assert s.get(WorkItem, items["approver1"]).status == "delegated"
    any_store.call(workflow.approve, a("approver2"), items["approver2"])
    assert any_store.call(cases.show_case, a("support1"), number).status == "Approved"


# ------------------------------------------------------------------ tick


def test_tick_with_nothing_due_reads_only_the_due_index(any_store):
    case_flow(any_store, LIMITED)
    for _ in range(4):
        submitted_case(any_store)
    with statements(any_store) as seen:
        report = any_store.call(workflow.tick)
    assert (report.reminders, report.escalations) == (0, 0)
    selects = [s for s in seen if s.startswith("SELECT")]
    assert len(selects) == 1 and "next_check_at" in selects[0]  # not one query per open instance


def test_tick_handles_each_due_instance_in_its_own_transaction(any_store, clock):
    case_flow(any_store, LIMITED)
    numbers = [submitted_case(any_store) for _ in range(3)]
    clock.advance(hours=9)  # every item is due for its 8-hourly reminder
    with statements(any_store) as seen:
        report = any_store.call(workflow.tick)
    assert report.reminders == 6
    assert seen.count("COMMIT") >= 1 + len(numbers)  # the look-up, then one per instance
    with any_store.read() as s:
        checks = s.exec(select(WorkItem.next_check_at).where(WorkItem.status == "open")).all()
    assert set(checks) == {clock.current + timedelta(hours=8)}  # the next reminder
    assert any_store.call(workflow.tick).reminders == 0
    clock.advance(hours=8)  # the next reminder, then the time limit (24 h) takes over
    assert any_store.call(workflow.tick).reminders == 6
    with any_store.read() as s:
        checks = set(s.exec(select(WorkItem.next_check_at).where(WorkItem.status == "open")).all())
        due = set(s.exec(select(WorkItem.due_at).where(WorkItem.status == "open")).all())
    assert checks == due  # 24 h after submission comes before the next reminder at 25 h


def test_tick_failure_in_one_instance_keeps_the_others(store, clock, monkeypatch):
    case_flow(store, LIMITED.replace("reminder_hours = 8", 'escalation = ["role:admin"]'))
    numbers = [submitted_case(store) for _ in range(2)]
    clock.advance(hours=25)
    real = workflow._overdue

    def failing(session, inst, *args, **kwargs):
        if inst.doc_key == numbers[0]:
            from services.errors import InvalidTransition

            raise InvalidTransition("boom")
        return real(session, inst, *args, **kwargs)

    monkeypatch.setattr(workflow, "_overdue", failing)
    report = store.call(workflow.tick)
    assert report.escalations == 1 and any("boom" in e for e in report.events)
    with store.read() as s:
        open_by_doc = {k: sorted(u for u, in [(x,) for x in s.exec(
            select(WorkItem.assignee).join(WorkflowInstance, WorkflowInstance.id == WorkItem.instance_id)
            .where(WorkflowInstance.doc_key == k, WorkItem.status == "open")).all()]) for k in numbers}
    assert open_by_doc == {numbers[0]: ["approver1", "approver2"], numbers[1]: ["admin1"]}
    monkeypatch.setattr(workflow, "_overdue", real)
    assert store.call(workflow.tick).escalations == 1  # the failed one is still due: tried again


def test_my_work_screen_does_not_tick_when_it_opens():
    """Opening My work only reads the list; the app-wide timer (and cron) run the tick."""
    import inspect

    from screens import my_work

    assert "_tick()" not in inspect.getsource(my_work.MyWorkScreen.on_mount)
