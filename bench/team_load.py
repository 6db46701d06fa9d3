"""A whole team writing at once (not collected by pytest): throughput and latency per command.

N writer processes, each with its own Store, call the services in-process for a fixed time,
mixing: sign-up submit, verify (the link), approve, reject, create customer (from an approved
request) and customer edits (city/phone). Optionally a 100k-row customer import runs in
another process meanwhile. Each writer first runs one of each command untimed (a console or
portal process that has been up a while: modules imported, statements compiled); ``--cold``
times them from the first command. Before the load, the same N processes measure the raw-SQL ceiling:
the inserts a submit makes (request, audit, token, outbox), one small transaction each.

    .venv/bin/python bench/team_load.py [--store sqlite|postgres|both] [--writers 20]
        [--seconds 25] [--import-rows 100000] [--import-write-at 2] [--pg postgresql://127.0.0.1:5432/postgres]
        [--src=DIR]

With --import-rows the import plans the whole file before the load starts, and its write
phase (``begin_write`` to commit: what the office could wait for) is held until
``--import-write-at`` seconds into the load window, so every run measures the commands while
the import writes (the write phase lasts a few seconds; the plan ~35 s at 100k rows, which
would otherwise decide by luck whether the write phase falls inside the window or after it).
``--import-write-at -1``: the old way, the import starts ``--import-delay`` s into the load
and runs free (plan and write phase wherever they fall).

REGDESK_BENCH_NO_NOTIFY=1 (diagnosis only) leaves out the PostgreSQL ``NOTIFY regdesk_changes``
that every audited command sends (its commit then takes no notify-queue lock).

Prints, per store: commands/s, per command count / p50 / p99 / max (ms), errors by kind,
the raw ceiling (inserts/s) and, with --import-rows, how long the import took and its result.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing as mp
import os
import random
import sys
import tempfile
import time
import traceback
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path

# --src=DIR: another checkout's code (the "before" of a comparison, e.g. /work/main)
sys.path.insert(
    0, next((a[6:] for a in sys.argv if a.startswith("--src=")), str(Path(__file__).resolve().parent.parent))
)
os.environ.setdefault("REGDESK_CONFIG", "/nonexistent/regdesk-bench-config.toml")

from sqlalchemy import insert

import models  # noqa: F401
from bench.import_bench import customer_row
from models.core import AuditEvent, OutboxEmail, Token
from models.customer import Customer
from models.signup import SignupRequest
from seed.demo import load_reference
from services import changes, customer_import, signup, tokens
from services.operators import resolve_actor
from services.permissions import PORTAL
from services.store import Store

try:
    from app.heap import freeze_startup_heap
except ImportError:  # --src=DIR: a checkout from before app.heap; the same two steps

    def freeze_startup_heap() -> int:
        gc.collect()
        gc.freeze()
        return gc.get_freeze_count()


SRC = next((a[6:] for a in sys.argv if a.startswith("--src=")), None)
EDIT_CUSTOMERS = 2000
MIX = [("submit", 30), ("verify", 15), ("approve", 15), ("reject", 10), ("create", 10), ("edit", 20)]
APPROVERS = ("approver1", "approver2")


def _customer_rows(prefix: str, start: int, count: int) -> list[dict]:
    at = datetime(2026, 11, 2, tzinfo=timezone.utc)
    out = []
    for i in range(start, start + count):
        a = f"{prefix}{i:07d}"
        out.append(customer_row(a, "Load", at))
    return out


def build(store: Store, import_rows: int) -> None:
    load_reference(store)
    for prefix, total in (("D-", EDIT_CUSTOMERS), ("B-", import_rows)):
        for start in range(1, total + 1, 10_000):
            with store.write() as s:
                s.execute(insert(Customer), _customer_rows(prefix, start, min(10_000, total - start + 1)))


# ------------------------------------------------------------------------------ raw ceiling


def raw_worker(url: str, k: int, start_at: float, seconds: float, out) -> None:
    store = Store(url, upgrade=False)
    at = datetime.now(timezone.utc)
    n = 0
    try:
        while time.time() < start_at:
            time.sleep(0.001)
        end = start_at + seconds
        while time.time() < end:
            key = f"RAW-{k}-{n}"
            with store.write() as s:
                conn = s.connection()
                conn.execute(
                    insert(SignupRequest.__table__),
                    {
                        "number": key,
                        "created_at": at,
                        "updated_at": at,
                        "status": "Requested",
                        "user_name": f"raw{k}x{n}",
                        "email": f"{key}@raw.example",
                        "email_normalized": f"{key}@raw.example".lower(),
                        "company": "Raw Co",
                        "company_normalized": "raw co",
                        "first_name": "R",
                        "last_name": "S",
                        "phone": "",
                        "fax": "",
                        "street": "",
                        "city": "",
                        "zip": "",
                        "state": "",
                        "county": "",
                        "country": "US",
                        "language": "en-us",
                        "customer_account": "",
                        "customer_created": False,
                        "created_customer_account": "",
                        "submitted_by": "portal",
                        "version": 1,
                    },
                )
                conn.execute(
                    insert(AuditEvent.__table__),
                    {
                        "at": at,
                        "operator": "portal",
                        "entity_type": "signup",
                        "entity_key": key,
                        "action": "submitted",
                        "after": "{}",
                    },
                )
                conn.execute(
                    insert(Token.__table__),
                    {
                        "purpose": "raw",
                        "entity_type": "signup",
                        "entity_key": key,
                        "token_hash": uuid.uuid4().hex,
                        "created_at": at,
                        "expires_at": at,
                    },
                )
                conn.execute(
                    insert(OutboxEmail.__table__),
                    {
                        "created_at": at,
                        "recipient": f"{key}@raw.example",
                        "subject": "s",
                        "body": "b",
                        "template": "raw",
                        "entity_type": "signup",
                        "entity_key": key,
                        "status": "sent",
                        "message_id": f"<{key}@raw>",
                        "attempts": 0,
                        "secrets_scrubbed": True,
                    },
                )
            n += 1
        out.put(("raw", k, n, None))
    except Exception as exc:
        out.put(("raw", k, n, f"{exc.__class__.__name__}: {exc}"))
    finally:
        store.dispose()


# ------------------------------------------------------------------------------ team load


def _request(k: int, n: int) -> dict:
    return {
        "email": f"w{k}.{n}.{uuid.uuid4().hex[:6]}@load.example",
        "user_name": f"w{k}x{n}x{uuid.uuid4().hex[:4]}",
        "company": f"Load Company {k}-{n}",
        "first_name": "Lou",
        "last_name": f"Load{k}",
        "phone": "+1 555 0100",
        "street": "1 Main St",
        "city": "Springfield",
        "zip": "12345",
        "country": "US",
        "language": "en-us",
    }


WARM_UP = ["submit", "submit", "verify", "verify", "approve", "create", "reject", "edit"]


class _Trace(list):
    """--slow: the running command's (statement, seconds); ``marks``: (event, time) in order."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: list[tuple[str, float]] = []

    def clear(self) -> None:
        super().clear()
        self.marks.clear()
        self.marks.append(("start", time.perf_counter()))


GEN2: list[tuple[float, float]] = []  # --slow: this process's full collections (wall start, seconds)


def _trace_statements() -> _Trace:
    """--slow: each statement's (first words, seconds) and the commit's wait, of the command running."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session as OrmSession

    trace = _Trace()
    marks = trace.marks
    started: dict[int, float] = {}

    gen2_from: list[float] = []

    def _gc(phase, info):
        marks.append((f"gc {phase} gen{info['generation']} collected {info.get('collected', '')}", time.perf_counter()))
        if info["generation"] == 2:
            if phase == "start":
                gen2_from[:] = [time.time(), time.perf_counter()]
            elif gen2_from:
                GEN2.append((gen2_from[0], time.perf_counter() - gen2_from[1]))

    gc.callbacks.append(_gc)

    @event.listens_for(Engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        started[id(cursor)] = time.perf_counter()

    @event.listens_for(Engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        t = started.pop(id(cursor), None)
        if t is not None:
            trace.append((" ".join(statement.split()[:4])[:48], time.perf_counter() - t))
            marks.append((" ".join(statement.split()[:4])[:48], time.perf_counter()))

    @event.listens_for(Engine, "engine_connect")
    def _connect(conn):
        marks.append(("engine_connect", time.perf_counter()))

    from sqlalchemy.pool import Pool

    @event.listens_for(Pool, "checkout")
    def _checkout(*a):
        marks.append(("pool checkout", time.perf_counter()))

    @event.listens_for(Pool, "connect")
    def _pconnect(*a):
        marks.append(("pool connect (new)", time.perf_counter()))

    @event.listens_for(Engine, "handle_error")
    def _error(ctx):
        t = started.pop(id(ctx.cursor), None)
        words = " ".join((ctx.statement or "").split()[:3])[:30]
        trace.append(
            (
                f"ERROR {type(ctx.original_exception).__name__} {str(ctx.original_exception)[:60]!r} in {words}",
                time.perf_counter() - t if t else 0.0,
            )
        )

    @event.listens_for(Engine, "commit")
    def _commit(conn):
        started[-1] = time.perf_counter()

    @event.listens_for(OrmSession, "before_commit")
    def _before_commit(session):
        marks.append(("session before_commit", time.perf_counter()))

    @event.listens_for(OrmSession, "after_commit")
    def _after_commit(session):
        marks.append(("session after_commit (NOTIFY sent)", time.perf_counter()))
        t = started.pop(-1, None)
        if t is not None:
            trace.append(("COMMIT", time.perf_counter() - t))

    return trace


def _where(trace: _Trace, t0: float) -> str:
    """The three slowest statements of a slow command, and the time outside the store."""
    in_sql = sum(d for _s, d in trace)
    top = sorted(trace, key=lambda x: (not x[0].startswith("ERROR"), -x[1]))[:3]
    marks = trace.marks
    gaps = sorted(
        ((b[1] - a[1], a[0], b[0]) for a, b in zip(marks, marks[1:] + [("end", time.perf_counter())])),
        reverse=True,
    )[:2]
    top = top + [(f"GAP after {a!r} before {b!r}", g) for g, a, b in gaps]
    return f"outside SQL {time.perf_counter() - t0 - in_sql:.2f} s; " + "; ".join(f"{s} {d:.2f}" for s, d in top)


def _wait_for_go(go) -> float:
    while go.value == 0.0:
        time.sleep(0.005)
    while time.time() < go.value:
        time.sleep(0.001)
    return go.value


def load_worker(
    url: str, k: int, go, ready, seconds: float, seed: int, warm: bool, out, slow: bool = False, freeze: bool = True
) -> None:
    rng = random.Random(seed)
    store = Store(url, upgrade=False)
    captured: list[str] = []
    original_issue = tokens.issue

    def issue(*args, **kwargs):  # the raw token the verification mail carries (the customer's click)
        raw = original_issue(*args, **kwargs)
        captured.append(raw)
        return raw

    tokens.issue = issue
    if os.environ.get("REGDESK_BENCH_NO_NOTIFY") == "1":  # diagnosis: the commit-time NOTIFY's share of the time
        from services import changefeed

        changefeed.notify = lambda session: None
    samples: list[tuple[str, float, str | None]] = []
    timeline: list[tuple[str, float, float]] | None = [] if slow else None
    trace: _Trace | None = _trace_statements() if slow else None
    with store.read() as s:
        approver = resolve_actor(s, APPROVERS[k % 2])
        support = resolve_actor(s, "support1")
    if freeze:
        freeze_startup_heap()  # as a `regdesk serve` worker does once started (app.heap)
    to_verify: list[tuple[str, str]] = []
    verified: list[str] = []
    approved: list[str] = []
    n = 0
    names, weights = zip(*MIX)
    # a writer that has run for a while: modules imported, statements compiled, connection open
    # (each op once, untimed); --cold leaves this out (each process's first create then imports
    # the workflow engine and compiles its statements inside the timing)
    warm_up = list(WARM_UP) if warm else []
    try:
        end = None
        while True:
            if warm_up:
                op = warm_up.pop(0)
            else:
                if end is None:
                    samples[:] = [("warm-up", dt, err) for _op, dt, err in samples if err]  # only its errors count
                    if timeline:
                        timeline.clear()
                    ready.put(k)
                    end = _wait_for_go(go) + seconds
                if time.time() >= end:
                    break
                op = rng.choices(names, weights)[0]
            if op == "verify" and not to_verify or op == "approve" and not verified or op == "create" and not approved:
                op = "submit"
            if op == "reject" and not (verified or to_verify):
                op = "submit"
            t0 = time.perf_counter()
            if trace is not None:
                trace.clear()
            err = None
            try:
                if op == "submit":
                    captured.clear()
                    n += 1
                    res = store.call(signup.submit, PORTAL, _request(k, n))
                    to_verify.append((res.number, captured[-1] if captured else None))
                elif op == "verify":
                    number, raw = to_verify.pop(0)
                    if raw is None:  # the token is minted when the mail is sent (not timed: the mail's work)
                        t_mint = time.perf_counter()
                        with store.write() as s:
                            raw = signup.mint_verification_link(s, number)["token"]
                        t0 += time.perf_counter() - t_mint
                    store.call(signup.verify, raw)
                    verified.append(number)
                elif op == "approve":
                    number = verified.pop(0)
                    store.call(signup.approve, approver, number)
                    approved.append(number)
                elif op == "reject":
                    number = verified.pop() if verified else to_verify.pop()[0]
                    store.call(signup.reject, approver, number, "Not a business customer (load test)")
                elif op == "create":
                    number = approved.pop(0)
                    store.call(
                        signup.create_customer,
                        approver,
                        number,
                        mode="new",
                        template="DOMESTIC",
                        role="Customer self-service user",
                    )
                elif op == "edit":
                    account = f"D-{rng.randint(1, EDIT_CUSTOMERS):07d}"
                    store.call(
                        changes.edit_customer,
                        support,
                        account,
                        {
                            "city": rng.choice(["Tacoma", "Everett", "Olympia"]),
                            "phone": f"+1 555 {rng.randint(0, 9999):04d}",
                        },
                    )
            except Exception as exc:
                err = f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:120]}"
            samples.append((op, time.perf_counter() - t0, err))
            if timeline is not None and time.perf_counter() - t0 > 1.0:  # --slow: when the slow ones started
                timeline.append(
                    (
                        op,
                        time.time() - (time.perf_counter() - t0),
                        time.perf_counter() - t0,
                        _where(trace, t0) if trace is not None else "",
                    )
                )
        if timeline is not None:
            gen2 = [("gc gen2", t, d, "") for t, d in GEN2 if t >= go.value]
            out.put(("slow", k, timeline + gen2, None))
        out.put(("load", k, samples, None))
    except Exception:
        out.put(("load", k, samples, traceback.format_exc()))
    finally:
        store.dispose()


def import_worker(url: str, path: str, go, delay: float, out, slow: bool = False, ready=None, write_at=-1.0) -> None:
    """The import; with ``write_at`` >= 0 it plans at once, says so on ``ready``, and holds its
    write phase until ``write_at`` s after the load's go (a deterministic overlap)."""
    store = Store(url, upgrade=False)
    try:
        with store.read() as s:
            admin = resolve_actor(s, "admin1")
        phase: dict[str, float] = {}
        from services.customer_import import commands as import_commands

        original = import_commands.begin_write  # the write phase's length: how long the office could wait for it

        def timed(session):
            phase["plan_end"] = time.time()
            if write_at >= 0:
                phase["signalled"] = 1.0
                ready.put(-1)  # planned: the load may start
                hold_until = _wait_for_go(go) + write_at
                while time.time() < hold_until:
                    time.sleep(0.001)
            original(session)
            phase["write_start"] = time.perf_counter()
            phase["write_at"] = time.time()

        import_commands.begin_write = timed
        if write_at < 0:
            start_at = _wait_for_go(go) + delay
            while time.time() < start_at:
                time.sleep(0.001)
        t0 = time.perf_counter()
        t_start = time.time()
        try:
            rows = customer_import.read_file(path)
            rep = store.call(customer_import.import_rows, admin, rows)
            summary = ", ".join(f"{k} {v}" for k, v in rep.counts.items() if v)
            if "write_start" in phase:
                summary += f"; write transaction {time.perf_counter() - phase['write_start']:.2f} s"
                if slow or write_at >= 0:
                    summary += (
                        f" (import began at +{t_start - go.value:.1f} s, write phase "
                        f"+{phase['write_at'] - go.value:.1f} .. +{time.time() - go.value:.1f} s)"
                    )
            err = None
        except Exception as exc:
            summary, err = "", f"{exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}"
        if write_at >= 0 and "signalled" not in phase:
            ready.put(-1)  # failed (or nothing to write) before its write phase: the load starts anyway
        out.put(("import", 0, (time.perf_counter() - t0, summary), err))
    finally:
        store.dispose()


# ------------------------------------------------------------------------------ driver


def _load() -> str:
    with open("/proc/loadavg") as fh:
        return fh.read().split()[0]


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def run_store(kind: str, url: str, args) -> None:
    ctx = mp.get_context("fork")
    store = Store(url, create=True)
    print(
        f"\n== {kind}: building ({EDIT_CUSTOMERS} customers to edit, {args.import_rows} to import) ... load {_load()}",
        flush=True,
    )
    build(store, args.import_rows)
    store.dispose()

    # the raw-SQL ceiling of the same inserts, same processes
    out = ctx.Queue()
    start_at = time.time() + 1.0
    procs = [
        ctx.Process(target=raw_worker, args=(url, k, start_at, args.raw_seconds, out)) for k in range(args.writers)
    ]
    for p in procs:
        p.start()
    raw = [out.get() for _ in procs]
    for p in procs:
        p.join()
    raw_n = sum(r[2] for r in raw)
    raw_err = [r[3] for r in raw if r[3]]

    import_path = None
    if args.import_rows:
        import_path = os.path.join(args.tmp, f"import-{kind}.csv")
        with open(import_path, "w", encoding="utf-8") as fh:
            fh.write("account,city,phone\n")
            for i in range(1, args.import_rows + 1):
                fh.write(f"B-{i:07d},Shelbyville,+1 555 {i % 10000:04d}\n")

    out, ready, go = ctx.Queue(), ctx.Queue(), ctx.Value("d", 0.0)
    procs = [
        ctx.Process(
            target=load_worker,
            args=(url, k, go, ready, args.seconds, 1000 + k, not args.cold, out, args.slow, not args.no_freeze),
        )
        for k in range(args.writers)
    ]
    if not args.no_freeze:
        # the writers are forked from this process: its heap (the modules, the build's leftovers)
        # out of their collections, or each one's first full collection walks it and copies every
        # inherited page (copy on write): 20 writers doing that at once took 4.5 s each (app.heap)
        gc.collect()
        gc.freeze()
    if import_path:
        procs.append(
            ctx.Process(
                target=import_worker,
                args=(url, import_path, go, args.import_delay, out, args.slow, ready, args.import_write_at),
            )
        )
    for p in procs:
        p.start()
    for _ in range(args.writers + (1 if import_path and args.import_write_at >= 0 else 0)):
        ready.get()  # every writer warmed up (and the import planned, when its write phase is placed)
    go.value = time.time() + 0.5
    results = []
    while len([r for r in results if r[0] != "slow"]) < len(procs):
        results.append(out.get())
    for p in procs:
        p.join()
    slow = sorted(
        (t - go.value, dt, op, k, where)
        for kind_, k, payload, _ in results
        if kind_ == "slow"
        for op, t, dt, where in payload
    )
    results = [r for r in results if r[0] != "slow"]

    by_op: dict[str, list[float]] = defaultdict(list)
    errors: Counter[str] = Counter()
    crashes = []
    import_result = None
    for kind_, _k, payload, crash in results:
        if kind_ == "import":
            import_result = (payload, crash)
            continue
        if crash:
            crashes.append(crash)
        for op, dt, err in payload:
            if op != "warm-up":
                by_op[op].append(dt)
            if err:
                errors[f"{op}: {err}"] += 1
    total = sum(len(v) for v in by_op.values())
    all_dt = [d for v in by_op.values() for d in v]
    print(
        f"== {kind} ({SRC or 'this checkout'}): {args.writers} writers, {args.seconds:.0f} s, load {_load()}"
        + (f", import of {args.import_rows} rows running" if import_path else "")
    )
    print(
        f"raw-SQL ceiling (submit's inserts, 1 transaction each): {raw_n / args.raw_seconds:8.1f} /s"
        + (f"  errors: {raw_err[:3]}" if raw_err else "")
    )
    print(
        f"commands: {total} in {args.seconds:.0f} s = {total / args.seconds:.1f} commands/s, errors {sum(errors.values())}"
    )
    print(f"{'command':<10}{'count':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for op, _w in MIX:
        v = by_op.get(op, [])
        print(
            f"{op:<10}{len(v):>8}{_pct(v, 50) * 1000:>10.1f}{_pct(v, 99) * 1000:>10.1f}{(max(v) if v else float('nan')) * 1000:>10.1f}"
        )
    print(
        f"{'all':<10}{total:>8}{_pct(all_dt, 50) * 1000:>10.1f}{_pct(all_dt, 99) * 1000:>10.1f}{(max(all_dt) if all_dt else float('nan')) * 1000:>10.1f}"
    )
    for msg, c in errors.most_common(8):
        print(f"  error x{c}: {msg}")
    for c in crashes[:2]:
        print("  worker crashed:", c)
    gen2 = [x for x in slow if x[2] == "gc gen2"]
    slow = [x for x in slow if x[2] != "gc gen2"]
    if gen2:
        durations = sorted(x[1] for x in gen2)
        print(
            f"full garbage collections (gen2) in the writers during the window: {len(gen2)}, "
            f"median {durations[len(durations) // 2] * 1000:.0f} ms, max {durations[-1] * 1000:.0f} ms"
        )
    if slow:
        print("commands over 1 s (start after go, seconds, command, writer):")
        for at, dt, op, k, where in slow:
            print(f"  +{at:5.1f} s  {dt:5.2f} s  {op:<8} w{k}  {where}")
    if import_result:
        (secs, summary), err = import_result
        print(f"import: {secs:.1f} s; {summary or ''}{' ERROR ' + err if err else ''}")
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--writers", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=25.0)
    ap.add_argument("--raw-seconds", type=float, default=5.0)
    ap.add_argument("--import-rows", type=int, default=0)
    ap.add_argument(
        "--import-write-at",
        type=float,
        default=2.0,
        help="plan the import before the load and start its write phase this many s into the load window "
        "(-1: start the import at --import-delay and let it run free)",
    )
    ap.add_argument(
        "--import-delay", type=float, default=2.0, help="with --import-write-at -1: start the import this many s in"
    )
    ap.add_argument("--pg", default="postgresql://127.0.0.1:5432/postgres")
    ap.add_argument("--slow", action="store_true", help="list the commands over 1 s with their start times")
    ap.add_argument(
        "--no-freeze",
        action="store_true",
        help="diagnosis: leave the writers' inherited and start-up heaps in their full collections (issue 9's "
        "create p99 of 3-6 s on PostgreSQL was each writer's first full collection walking the fork's heap)",
    )
    ap.add_argument("--cold", action="store_true", help="no warm-up: each writer's first commands are timed cold")
    ap.add_argument("--src", help="run another checkout's code (the 'before' of a comparison); --src=DIR")
    ap.add_argument("--pg-prefix", default="team_load_", help="name prefix of the scratch PostgreSQL database")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="team-load-") as tmp:
        args.tmp = tmp
        if args.store in ("sqlite", "both"):
            run_store("sqlite", f"sqlite:///{tmp}/team.db", args)
        if args.store in ("postgres", "both"):
            import psycopg

            name = f"{args.pg_prefix}{os.getpid()}"
            with psycopg.connect(args.pg, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            url = args.pg.rsplit("/", 1)[0] + "/" + name
            try:
                from services.schema import upgrade
                from services.store import make_engine

                engine = make_engine(url, create=True)
                upgrade(engine)
                engine.dispose()
                run_store("postgres", url, args)
            finally:
                with psycopg.connect(args.pg, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
