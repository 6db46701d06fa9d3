"""My work / ``work list`` and the workflow tick at scale (issues 8 and 10): a Summary for every
document type, the assignee's name, own submissions marked and not counted as waiting, summaries
read per document type (not per item), delegation to someone who already has an item, and a tick
that looks only at what is due, in short transactions."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event, update
from sqlmodel import select

from models.workflow import WorkflowDefinition, WorkflowInstance, WorkItem
from services import cases, workflow, workflow_defs
from services.permissions import SYSTEM
from services.workflow import deadlines
from tests.conftest import actor_of
from tests.test_cases import CASE_TOML, NEW

LIMITED = CASE_TOML.read_text().replace('policy = "any"', 'policy = "any"\ntime_limit_hours = 24\nreminder_hours = 8')


def case_flow(store, source: str | None = None) -> None:
    with store.write() as s:
        s.execute(update(WorkflowDefinition).where(WorkflowDefinition.doc_type == "case").values(active=False))
    store.call(
        workflow_defs.import_definition, SYSTEM, source or CASE_TOML.read_text(), filename="case.toml", activate=True
    )


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
    assert {(x["doc_key"], x["summary"]) for x in r.json()} == {
        (number, "Fabrikam, Inc.: Damaged delivery (Special condition, High)")
    }
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
    assert [r.doc_key for r in any_store.call(workflow.list_work, a("approver1"), limit=3)] == [
        late,
        later,
        no_limit[0],
    ]
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
    real = deadlines._overdue

    def failing(session, inst, *args, **kwargs):
        if inst.doc_key == numbers[0]:
            from services.errors import InvalidTransition

            raise InvalidTransition("boom")
        return real(session, inst, *args, **kwargs)

    monkeypatch.setattr(deadlines, "_overdue", failing)  # tick looks it up there
    report = store.call(workflow.tick)
    assert report.escalations == 1 and any("boom" in e for e in report.events)
    with store.read() as s:
        open_by_doc = {
            k: sorted(
                u
                for (u,) in [
                    (x,)
                    for x in s.exec(
                        select(WorkItem.assignee)
                        .join(WorkflowInstance, WorkflowInstance.id == WorkItem.instance_id)
                        .where(WorkflowInstance.doc_key == k, WorkItem.status == "open")
                    ).all()
                ]
            )
            for k in numbers
        }
    assert open_by_doc == {numbers[0]: ["approver1", "approver2"], numbers[1]: ["admin1"]}
    monkeypatch.setattr(deadlines, "_overdue", real)
    assert store.call(workflow.tick).escalations == 1  # the failed one is still due: tried again


def test_my_work_screen_does_not_tick_when_it_opens():
    """Opening My work only reads the list; the app-wide timer (and cron) run the tick."""
    import inspect

    from screens import my_work

    assert "_tick()" not in inspect.getsource(my_work.MyWorkScreen.on_mount)


# ------------------------------------------------------------------ query plans


def _plan(store, statement) -> str:
    from sqlalchemy import text

    sql = str(statement.compile(store.engine, compile_kwargs={"literal_binds": True}))
    with store.engine.connect() as conn:
        if store.is_sqlite:
            return "\n".join(str(r[-1]) for r in conn.execute(text("EXPLAIN QUERY PLAN " + sql)))
        conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: tell the planner what a big one means
        return "\n".join(r[0] for r in conn.execute(text("EXPLAIN " + sql)))


def bulk_open_items(store, clock, instances: int) -> None:
    """``instances`` running instances with two open items each, inserted in bulk, then ANALYZE:
    the planner sees a table shaped like a busy inbox."""
    from sqlalchemy import insert

    case_flow(store)
    with store.write() as s:
        definition = s.exec(
            select(WorkflowDefinition.id).where(
                WorkflowDefinition.doc_type == "case",
                WorkflowDefinition.active == True,  # noqa: E712
            )
        ).one()
        at = clock.current
        s.execute(
            insert(WorkflowInstance),
            [
                {
                    "doc_type": "case",
                    "doc_key": f"BULK-{i:05d}",
                    "definition_id": definition,
                    "status": "running",
                    "current_step": 1,
                    "activation": 1,
                    "submitter": "support1",
                    "started_at": at,
                    "updated_at": at,
                    "version": 1,
                }
                for i in range(instances)
            ],
        )
        ids = s.exec(select(WorkflowInstance.id).where(WorkflowInstance.doc_key.like("BULK-%"))).all()
        s.execute(
            insert(WorkItem),
            [
                {
                    "instance_id": i,
                    "activation": 1,
                    "step_sequence": 1,
                    "step_name": "Approval",
                    "assignee": user,
                    "assigned_via": "role approver",
                    "status": "open",
                    "created_at": at - timedelta(minutes=i % 500),
                    "due_at": at + timedelta(hours=24, minutes=i % 500),
                    "next_check_at": at + timedelta(hours=8),
                    "escalation_level": 0,
                    "reminders_sent": 0,
                    "version": 1,
                }
                for i in ids
                for user in ("approver1", "approver2")
            ],
        )
        # closed history too: most rows of a real table are not open
        s.execute(update(WorkItem).where(WorkItem.id % 3 == 0).values(status="approved"))
    with store.engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()


def test_tick_and_my_work_queries_use_their_indexes(any_store, clock):
    from sqlmodel import col

    from services.workflow.queries import inbox_query

    bulk_open_items(any_store, clock, 1500)
    me = actor_of(any_store)("approver1")
    current = clock.current
    due = (
        select(WorkItem.instance_id)
        .where(WorkItem.status == "open", col(WorkItem.next_check_at) <= current)
        .order_by(col(WorkItem.next_check_at))
    )
    assert "ix_workitem_status_check" in _plan(any_store, due)
    page = (
        inbox_query(me, True, None)
        .where(col(WorkItem.due_at).is_not(None))
        .order_by(col(WorkItem.due_at), col(WorkItem.created_at), col(WorkItem.id))
        .limit(60)
    )
    plan = _plan(any_store, page)
    assert "ix_workitem_assignee_inbox" in plan and "TEMP B-TREE" not in plan and "Sort" not in plan
    everyone = (
        inbox_query(me, False, None)
        .where(col(WorkItem.due_at).is_not(None))
        .order_by(col(WorkItem.due_at), col(WorkItem.created_at), col(WorkItem.id))
        .limit(60)
    )
    plan = _plan(any_store, everyone)
    assert "ix_workitem_inbox" in plan and "TEMP B-TREE" not in plan and "Sort" not in plan


def test_migration_0011_schedules_existing_open_items_for_the_first_tick(tmp_path, clock):
    """Items made before 0011 have no next_check_at: the upgrade sets it to their creation time,
    so the first tick looks at each once (and schedules it), as the old tick did every time."""
    from sqlalchemy import insert

    from services.schema import upgrade
    from services.store import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}", create=True)
    upgrade(engine, "0005")
    at = clock.current
    with engine.begin() as conn:
        conn.execute(
            insert(WorkflowDefinition.__table__).values(
                doc_type="case",
                name="Old",
                version=1,
                description="",
                condition="",
                priority=100,
                active=True,
                source="",
                created_at=at,
                created_by="admin1",
                row_version=1,
            )
        )
        conn.execute(
            insert(WorkflowInstance.__table__).values(
                doc_type="case",
                doc_key="CASE-000001",
                definition_id=1,
                status="running",
                current_step=1,
                activation=1,
                submitter="support1",
                started_at=at,
                updated_at=at,
                version=1,
            )
        )
        for status in ("open", "approved"):
            conn.execute(
                insert(WorkItem.__table__).values(
                    instance_id=1,
                    activation=1,
                    step_sequence=1,
                    step_name="Approval",
                    assignee="approver1",
                    assigned_via="role approver",
                    status=status,
                    created_at=at,
                    escalation_level=0,
                    reminders_sent=0,
                    version=1,
                )
            )
    upgrade(engine)
    from sqlmodel import Session

    with Session(engine) as s:
        rows = s.exec(select(WorkItem.status, WorkItem.next_check_at).order_by(WorkItem.id)).all()
    engine.dispose()
    assert rows == [("open", at), ("approved", None)]
