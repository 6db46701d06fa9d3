"""Workflow tick and My work benchmark (issue 10; not part of the test suite).

    .venv/bin/python bench/work_bench.py [--sizes 10,10000] [--runs 5] [--stores sqlite,postgres]

For each store and size it builds a fresh database (demo reference data, the shipped user
request workflow) and bulk-generates that many open work items: user requests of one demo
customer in workflow, two items each (the approver role has two operators), assigned over the
last 7 hours so only a handful are due for a reminder (the step reminds every 8 h, its time
limit is 24 h). It prints the median of ``--runs`` of:

* ``tick``: ``services.workflow.tick`` as cron and the console run it;
* ``list_work mine`` / ``list_work all``: ``services.workflow.list_work`` (limit 500) for
  approver1 / everyone's;
* ``list_work page``: the first page of mine (60, keyset paging continues with ``after``);
* ``list_work 5``: the first 5 of mine, as many rows as approver1 has at 10 open items: the same
  answer size at both sizes, so its ratio is what the number of open items costs;
* ``count waiting``: ``services.workflow.count_waiting`` when the code has it;
* ``tab counts``, ``search number``, ``search customer`` (when the code has ``work_counts``): My
  work's tab counts over every open item; a search for one document's number and for the
  customer every document belongs to (a first page of 60), both through indexes;
* ``My work open``: what opening the My work screen costs in services: before this change
  ``tick`` + ``list_work`` (the screen ticked on open, then read up to 500), after it the first
  page + ``count_waiting`` (no tick): the first paint; the tabs' counts are read after it (the
  record browser's deferred counts), ``tab counts`` above;

and, per figure, its ratio to the same figure at the smallest size (target: within 2x). The
sizes are measured in turn, run by run, so a busy machine slows them alike.
PostgreSQL needs a server at 127.0.0.1:5432 (trust auth, database ``test``); each run uses
its own database, dropped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).absolute().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("REGDESK_CONFIG", "/nonexistent/regdesk-bench-config.toml")

PAGE = 60  # a first page, as the Registration list reads (more than a 250x60 terminal shows)
PG_BASE = os.environ.get("REGDESK_BENCH_PG_URL", "postgresql://127.0.0.1:5432/test")


def build(store, items: int) -> None:
    """Reference data, the user request workflow, and ``items`` open work items (two per document)."""
    from sqlalchemy import insert, select

    from models.customer import ContactPerson, Customer, PortalRole
    from models.signup import UserRequest
    from models.workflow import WorkflowDefinition, WorkflowInstance, WorkflowStep, WorkItem
    from seed.demo import load_reference
    from seed.workflows import load_default_workflows
    from services.store import now

    load_reference(store)
    load_default_workflows(store)
    docs = max(1, items // 2)
    has_check = "next_check_at" in WorkItem.__table__.c
    with store.write() as s:
        current = now(s)
        cust = s.exec(select(Customer).order_by(Customer.id)).first()[0]
        role = s.exec(select(PortalRole).order_by(PortalRole.id)).first()[0]
        contact = ContactPerson(
            customer_id=cust.id,
            first_name="Bench",
            last_name="Contact",
            email="bench@example.com",
            email_normalized="bench@example.com",
            created_at=current,
        )
        s.add(contact)
        s.flush()
        d = s.exec(
            select(WorkflowDefinition).where(
                WorkflowDefinition.doc_type == "user_request",
                WorkflowDefinition.active == True,  # noqa: E712
            )
        ).first()[0]
        step = s.exec(
            select(WorkflowStep).where(WorkflowStep.definition_id == d.id, WorkflowStep.sequence == 1)
        ).first()
        step = step[0] if step is not None else None
        seq = step.sequence if step is not None else 1
        chunk = 5000
        for start in range(0, docs, chunk):
            n = min(chunk, docs - start)
            urs, insts = [], []
            for i in range(start, start + n):
                at = current - timedelta(minutes=(i * 7) % 420)  # within the last 7 hours
                if i < 3:
                    at = current - timedelta(hours=9)  # a few due for their 8-hourly reminder
                urs.append(
                    {
                        "number": f"BUR-{i:07d}",
                        "request_type": "Customer",
                        "status": "Pending approval",
                        "customer_id": cust.id,
                        "contact_id": contact.id,
                        "role_id": role.id,
                        "user_name": f"bench{i}",
                        "email": f"bench{i}@example.com",
                        "created_at": at,
                        "created_by": "support1",
                        "updated_at": at,
                        "version": 1,
                    }
                )
                insts.append(
                    {
                        "doc_type": "user_request",
                        "doc_key": f"BUR-{i:07d}",
                        "definition_id": d.id,
                        "status": "running",
                        "current_step": seq,
                        "activation": 1,
                        "submitter": "support1",
                        "started_at": at,
                        "updated_at": at,
                        "version": 1,
                    }
                )
            s.execute(insert(UserRequest), urs)
            s.execute(insert(WorkflowInstance), insts)
            ids = s.exec(
                select(WorkflowInstance.id, WorkflowInstance.started_at).where(
                    WorkflowInstance.doc_key.in_([x["doc_key"] for x in insts])
                )
            ).all()  # type: ignore[attr-defined]
            work = []
            for inst_id, at in ids:
                for user in ("approver1", "approver2"):
                    row = {
                        "instance_id": inst_id,
                        "activation": 1,
                        "step_sequence": seq,
                        "step_name": "Review",
                        "assignee": user,
                        "assigned_via": "role approver",
                        "status": "open",
                        "created_at": at,
                        "due_at": at + timedelta(hours=24),
                        "escalation_level": 0,
                        "reminders_sent": 0,
                        "version": 1,
                    }
                    if has_check:
                        row["next_check_at"] = at + timedelta(hours=8)
                    work.append(row)
            s.execute(insert(WorkItem), work)
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "postgresql":  # what autovacuum does after a bulk load
            conn.exec_driver_sql("ANALYZE")
        else:  # as registration_bench does: the bulk load's WAL folded into the file
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.commit()
    from services import store as store_module

    refresh = getattr(store_module, "refresh_sqlite_statistics", None)
    path = store_module.sqlite_file(store.url) if refresh else None
    if refresh and path is not None:  # what the code does when a store next opens the file (if it does)
        refresh(path)


def probes(store) -> dict:
    """name -> a zero-argument call; what each figure measures."""
    from services import workflow
    from services.operators import resolve_actor

    with store.read() as s:
        me = resolve_actor(s, "approver1")
    new = hasattr(workflow, "count_waiting")  # the old screen ran tick when it opened
    out = {
        "tick": lambda: store.call(workflow.tick),
        "list_work mine": lambda: store.call(workflow.list_work, me, True),
        "list_work all": lambda: store.call(workflow.list_work, me, False),
        "list_work page": lambda: store.call(workflow.list_work, me, True, limit=PAGE),
        "list_work 5": lambda: store.call(workflow.list_work, me, True, limit=5),
    }
    if new:
        out["count waiting"] = lambda: store.call(workflow.count_waiting, me)
    searched = hasattr(workflow, "work_counts")  # My work's search and tabs in the service
    if searched:
        with store.read() as s:
            from sqlalchemy import select

            from models.customer import Customer

            name = s.exec(select(Customer.name).order_by(Customer.id)).first()[0]
        out["tab counts"] = lambda: store.call(workflow.work_counts, me, True)
        # one document by its number; every document by their customer's name (a page of them)
        out["search number"] = lambda: store.call(workflow.list_work, me, True, limit=PAGE, search="BUR-0000001")
        out["search customer"] = lambda: store.call(workflow.list_work, me, True, limit=PAGE, search=name)

    def open_my_work():
        if not new:
            store.call(workflow.tick)
        if new:  # the first page and the header count: the first paint (the tabs' counts follow it)
            store.call(workflow.list_work, me, True, limit=PAGE)
            store.call(workflow.count_waiting, me)
        else:
            store.call(workflow.list_work, me, True)

    out["My work open"] = open_my_work
    return out


def measure(stores: dict[int, object], runs: int) -> dict[int, dict[str, float]]:
    """Median of ``runs``, the sizes interleaved run by run (a busy machine slows them alike)."""
    calls = {size: probes(store) for size, store in stores.items()}
    times: dict[int, dict[str, list[float]]] = {size: {} for size in stores}
    for _ in range(runs):
        for size, named in calls.items():
            for name, fn in named.items():
                t = time.perf_counter()
                fn()
                times[size].setdefault(name, []).append((time.perf_counter() - t) * 1000)
    return {size: {name: statistics.median(xs) for name, xs in named.items()} for size, named in times.items()}


def sqlite_store(tmp: Path, size: int):
    from services.store import Store

    return Store(f"sqlite:///{tmp / f'work-{size}.db'}", create=True), None


def pg_store(size: int):
    import psycopg

    from services.schema import upgrade
    from services.store import Store, make_engine

    name = f"regdesk_bench_{size}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_BASE.rsplit("/", 1)[0] + "/" + name
    engine = make_engine(url, create=True)
    upgrade(engine)
    engine.dispose()
    return Store(url, create=True), name


def drop_pg(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_BASE, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10,10000")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--stores", default="sqlite,postgres")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    results: dict[tuple[str, int], dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        for kind in args.stores.split(","):
            stores: dict[int, object] = {}
            pg_names: list[str] = []
            try:
                for size in sizes:
                    try:
                        store, pg_name = sqlite_store(Path(tmpdir), size) if kind == "sqlite" else pg_store(size)
                    except Exception as exc:  # no PostgreSQL server
                        print(f"{kind}: skipped ({type(exc).__name__}: {exc})", file=sys.stderr)
                        break
                    stores[size] = store
                    if pg_name:
                        pg_names.append(pg_name)
                    t = time.perf_counter()
                    build(store, size)
                    print(f"{kind} {size:,} open items built in {time.perf_counter() - t:.1f} s", file=sys.stderr)
                if len(stores) == len(sizes):
                    for size, figures in measure(stores, args.runs).items():
                        results[(kind, size)] = figures
            finally:
                for store in stores.values():
                    store.dispose()
                for name in pg_names:
                    drop_pg(name)
    names = list(next(iter(results.values())).keys()) if results else []
    print(f"\n{'store':8} {'open items':>10} " + " ".join(f"{n:>16}" for n in names))
    for (kind, size), fig in results.items():
        base = results.get((kind, sizes[0]), fig)
        cells = " ".join(f"{fig[n]:8.1f} ms {fig[n] / base[n] if base[n] else 0:4.1f}x" for n in names)
        print(f"{kind:8} {size:>10,} {cells}")


if __name__ == "__main__":
    main()
