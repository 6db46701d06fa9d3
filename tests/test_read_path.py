"""Issue 10, the read path: what one read call costs in statements and round trips, and what it
still guarantees.

* PostgreSQL: a read call sends its statements and nothing else (no BEGIN before them, no
  ROLLBACK after): counted as the server's ReadyForQuery messages in a libpq trace; a write
  call still runs in one transaction, also on a pooled connection a read used just before;
* SQLite: a read call still sees one snapshot across its statements (a commit between them
  is not seen);
* the lists read most often execute statements built once per shape: two searches of the
  same shape run the very same statement object (nothing is rebuilt per call), and they
  still answer with the values of each call.
"""

from __future__ import annotations

import sqlite3
import tempfile
from contextlib import contextmanager
from typing import Any, Iterator

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DBAPIError

from services import audit, customers, list_counts, signup
from services.store import Store, writes
from tests.conftest import actor_of
from tests.test_signup_services import GOOD, submit

# ----------------------------------------------------------------------------- PostgreSQL round trips


@contextmanager
def _round_trips(store: Store) -> Iterator[list[str]]:
    """The protocol messages of every connection the store checks out meanwhile (libpq trace):
    the frontend's queries ("F ... Query/Parse") and the backend's ReadyForQuery, one per round trip."""
    from psycopg import pq

    lines: list[str] = []
    traced: dict[int, Any] = {}

    def start(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        f = tempfile.TemporaryFile()
        dbapi_conn.pgconn.trace(f.fileno())
        dbapi_conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
        traced[id(dbapi_conn)] = (dbapi_conn, f)

    def stop(dbapi_conn: Any, record: Any) -> None:
        conn, f = traced.pop(id(dbapi_conn), (None, None))
        if conn is None:
            return
        conn.pgconn.untrace()
        f.seek(0)
        lines.extend(f.read().decode(errors="replace").splitlines())
        f.close()

    engines = _pools(store)
    for engine in engines:
        event.listen(engine, "checkout", start)
        event.listen(engine, "checkin", stop)
    try:
        yield lines
    finally:
        for engine in engines:
            event.remove(engine, "checkout", start)
            event.remove(engine, "checkin", stop)


def _pools(store: Store) -> list[Any]:
    """An engine per pool the store checks connections out of (PostgreSQL reads have their own)."""
    return [store.engine] + ([store.read_engine] if store.read_engine.pool is not store.engine.pool else [])


def _ready(lines: list[str]) -> int:
    return sum(1 for line in lines if line.startswith("B") and "ReadyForQuery" in line)


def _sent(lines: list[str]) -> list[str]:
    """The statements the client sent (simple Query or Parse), in order."""
    out = []
    for line in lines:
        parts = line.split("\t")
        if len(parts) > 3 and parts[0] == "F" and parts[2] in ("Query", "Parse"):
            out.append(parts[3])
    return out


@pytest.mark.postgres
def test_a_postgres_read_call_is_one_round_trip_per_statement(pg_store):
    a = actor_of(pg_store)("approver1")
    pg_store.call(signup.count_by_status, a)  # the pool has its connection, the engine its settings
    with _round_trips(pg_store) as lines:
        counts = pg_store.call(signup.count_by_status, a)
    assert counts["All"] == 0
    sent = _sent(lines)
    assert not any("BEGIN" in s or "ROLLBACK" in s for s in sent), sent
    assert _ready(lines) == 1, lines  # before: BEGIN, the query, ROLLBACK at close (3)


@pytest.mark.postgres
def test_postgres_search_and_list_calls_send_only_their_statements(pg_store):
    number = submit(pg_store).number
    a = actor_of(pg_store)("approver1")
    for fn, kwargs, statements in (
        # a number or an e-mail (``key_shaped``) is one statement: the key probes, else the text
        # index, in the page's query; any other word two: ``pg_first`` (the key probes and the
        # newest rows), then the page's (the keys alone, the text index, or the walk)
        (signup.list_requests, {"search": number}, 1),
        (signup.list_requests, {"search": GOOD["email"]}, 1),
        (signup.list_requests, {"search": GOOD["user_name"]}, 2),
        (signup.list_requests, {"search": "zzqqxx"}, 2),
        (signup.count_by_status, {"search": number}, 1),
        (signup.count_by_status, {"search": "zzqqxx"}, 1),
        (signup.list_requests, {"sort": "company", "status": "Requested"}, 1),
        (signup.list_requests, {"sort": "company", "after": ("M", 1)}, 1),
        (customers.list_customers, {}, 1),  # the page with its approval statuses
        (customers.list_customers, {"search": "BC-0001"}, 1),
        (customers.list_customers, {"search": "zzqqxx"}, 2),
        (list_counts.customers, {}, 1),
        (list_counts.customers, {"search": "BC-0001"}, 1),
    ):
        for _ in range(6):  # past psycopg's prepare threshold (5): preparing takes a round trip once
            pg_store.call(fn, a, **kwargs)
        with _round_trips(pg_store) as lines:
            pg_store.call(fn, a, **kwargs)
        assert _ready(lines) == statements, (fn.__name__, _sent(lines))
        assert not any("BEGIN" in s or "ROLLBACK" in s for s in _sent(lines)), (fn.__name__, _sent(lines))


class _Boom(Exception):
    pass


@writes
def _insert_then_fail(session, number: str) -> None:
    session.execute(text("UPDATE signuprequest SET company = 'half-written' WHERE number = :n"), {"n": number})
    session.flush()
    raise _Boom()


@pytest.mark.postgres
def test_a_postgres_write_after_a_read_on_the_same_connection_is_still_one_transaction(pg_store):
    """Reads put the pooled connection in autocommit; the write that checks it out next must
    get a transaction again (else its first statement would be kept when it fails)."""
    number = submit(pg_store).number
    a = actor_of(pg_store)("approver1")
    pg_store.engine.pool.dispose()  # one connection from here on, shared by the read and the write
    pg_store.call(signup.list_requests, a, search=number)
    with pytest.raises(_Boom):
        pg_store.call(_insert_then_fail, number)
    assert pg_store.call(signup.show_request, a, number).company != "half-written"
    # and a write's own connection is in a transaction while it runs
    seen: list[Any] = []

    @writes
    def look(session) -> None:
        session.execute(text("SELECT 1"))
        seen.append(session.connection().connection.dbapi_connection.info.transaction_status)

    pg_store.call(look)
    from psycopg.pq import TransactionStatus

    assert seen == [TransactionStatus.INTRANS]


@pytest.mark.postgres
def test_a_postgres_read_leaves_no_transaction_open(pg_store):
    a = actor_of(pg_store)("approver1")
    seen: list[Any] = []

    def read(session, actor) -> None:
        signup.count_by_status(session, actor)
        seen.append(session.connection().connection.dbapi_connection.info.transaction_status)

    pg_store.call(read, a)
    from psycopg.pq import TransactionStatus

    assert seen == [TransactionStatus.IDLE]  # autocommit: nothing to end, nothing held


# ----------------------------------------------------------------------------- reads cannot write


def _sneaky_write(session, number: str) -> None:
    """A read call (not marked @writes) that writes."""
    session.execute(text("UPDATE signuprequest SET company = 'written by a read' WHERE number = :n"), {"n": number})
    session.flush()


def test_a_write_inside_a_read_call_fails_on_both_stores(any_store):
    """PostgreSQL reads run in autocommit, so a read call that wrote would keep its write; SQLite
    would drop it silently at the end of the read transaction. Both stores refuse it instead, and
    the connection that refused it still writes for a write call afterwards."""
    number = submit(any_store).number
    a = actor_of(any_store)("approver1")
    for _ in range(2):  # also on a pooled connection a read used before
        with pytest.raises(DBAPIError, match="read-only|readonly"):
            any_store.call(_sneaky_write, number)
        assert any_store.call(signup.show_request, a, number).company == GOOD["company"]
    any_store.call(writes(lambda session, n: _sneaky_write(session, n)), number)  # the same as a write: kept
    assert any_store.call(signup.show_request, a, number).company == "written by a read"
    with pytest.raises(DBAPIError, match="read-only|readonly"):
        with any_store.read() as s:
            _sneaky_write(s, number)
    # and a read afterwards, on whatever connection, still reads
    assert any_store.call(signup.count_by_status, a)["All"] == 1


# ----------------------------------------------------------------------------- SQLite snapshot


def test_a_sqlite_read_call_sees_one_snapshot_across_its_statements(store, db_path):
    """A read call's statements read one snapshot: a change committed by another program between
    two of them is not seen (one read transaction for the call)."""
    number = submit(store).number
    statements: list[str] = []

    def between(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)
        if len(statements) == 2:  # the second statement is about to run: another program commits first
            other = sqlite3.connect(db_path, isolation_level=None)
            other.execute("UPDATE signuprequest SET company = 'changed meanwhile' WHERE number = ?", (number,))
            other.close()

    def twice(session) -> list[str]:
        query = text("SELECT company FROM signuprequest WHERE number = :n")
        return [session.execute(query, {"n": number}).scalar_one() for _ in range(2)]

    event.listen(store.engine, "before_cursor_execute", between)
    try:
        seen = store.call(twice)
    finally:
        event.remove(store.engine, "before_cursor_execute", between)
    assert len(statements) == 2
    assert seen == [GOOD["company"]] * 2  # as it was when the call began
    assert store.call(twice) == ["changed meanwhile"] * 2


# ----------------------------------------------------------------------------- statements built once


@contextmanager
def _statements(store: Store) -> Iterator[list[Any]]:
    seen: list[Any] = []

    def hook(conn, cursor, statement, parameters, context, executemany) -> None:
        if context is not None and getattr(context, "invoked_statement", None) is not None:
            seen.append(context.invoked_statement)

    event.listen(store.engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", hook)


@pytest.mark.parametrize(
    "fn, first, second",
    [
        (signup.list_requests, {"search": "first"}, {"search": "second"}),
        (signup.list_requests, {"status": "Requested", "sort": "company"}, {"status": "Verified", "sort": "company"}),
        (signup.count_by_status, {"search": "first"}, {"search": "second"}),
        (signup.count_by_status, {}, {}),
        (customers.list_customers, {"search": "BC-1"}, {"search": "BC-2"}),
        (audit.list_events, {"entity": "REG-000001"}, {"entity": "REG-000002"}),
        (signup.show_request, {"number": "REG-000001"}, {"number": "REG-000002"}),
    ],
)
def test_read_calls_of_one_shape_run_the_same_statements(any_store, fn, first, second):
    """Nothing is rebuilt per call: the statements of two calls of the same shape are the same
    objects (SQLAlchemy's compiled cache is hit by their memoized cache keys)."""
    a = actor_of(any_store)("approver1")
    if fn is signup.show_request:
        submit(any_store, email="one@example.org", user_name="one")
        submit(any_store, email="two@example.org", user_name="two")
        # the detail's own reads are ORM reads of the request; its audit history is built once
        keep = "auditevent"
    else:
        keep = ""
    any_store.call(fn, a, **first)
    with _statements(any_store) as one:
        any_store.call(fn, a, **first)
    with _statements(any_store) as two:
        any_store.call(fn, a, **second)
    one, two = [x for x in one if keep in str(x)], [x for x in two if keep in str(x)]
    assert one and len(one) == len(two)
    assert all(x is y for x, y in zip(one, two)), (one, two)


def test_cached_statements_answer_with_each_calls_values(any_store):
    a = actor_of(any_store)("approver1")
    first = submit(any_store, company="Alphabet Soup Ltd", email="alpha@soup.example", user_name="alpha").number
    second = submit(any_store, company="Brick Works Ltd", email="brick@works.example", user_name="brick").number
    for term, number in (
        (first, first),
        (second, second),
        ("alphabet", first),
        ("brick w", second),
        ("brick@works.example", second),
    ):
        assert [r.number for r in any_store.call(signup.list_requests, a, search=term).rows] == [number], term
        counts = any_store.call(signup.count_by_status, a, search=term)
        assert counts["All"] == 1 and counts["Requested"] == 1, (term, counts)
    assert any_store.call(signup.list_requests, a, search="zz").rows == []  # too short, no key: nothing
    assert any_store.call(signup.count_by_status, a, search="zz")["All"] == 0
    # keyset pages through a cached statement: every row once, in order, both directions
    for descending in (False, True):
        numbers: list[str] = []
        page = any_store.call(signup.list_requests, a, sort="company", descending=descending, limit=1)
        while True:
            numbers += [r.number for r in page.rows]
            if page.after is None:
                break
            page = any_store.call(
                signup.list_requests, a, sort="company", descending=descending, limit=1, after=page.after
            )
        assert numbers == ([second, first] if descending else [first, second])


@pytest.mark.postgres
def test_postgres_plans_each_execution_for_its_own_values(pg_store):
    """psycopg prepares a statement after 5 runs and PostgreSQL may then keep a generic plan for
    every value: the list's search statement is one text for every term, and the plan of a
    common word (walk the id index) made a rare word's page 460 ms instead of 80 at 1M. Every
    connection plans per execution (``plan_cache_mode``), reads and writes alike."""
    seen: list[str] = []

    def read(session) -> None:
        seen.append(session.execute(text("SHOW plan_cache_mode")).scalar_one())

    @writes
    def write(session) -> None:
        seen.append(session.execute(text("SHOW plan_cache_mode")).scalar_one())

    pg_store.engine.pool.dispose()
    pg_store.call(read)
    pg_store.call(write)
    assert seen == ["force_custom_plan", "force_custom_plan"]


@pytest.mark.postgres
def test_postgres_never_compiles_a_statement(pg_store):
    """No JIT on the store's connections: a word search's fallback arm (never run when the walk
    answers) is estimated dear enough for PostgreSQL to compile the statement, 34-90 ms for a page
    the walk found in 1.6 ms at 1M. Even with every statement over the threshold, none is compiled."""
    a = actor_of(pg_store)("approver1")

    def explained(session) -> list[str]:
        assert session.execute(text("SHOW jit")).scalar_one() == "off"
        session.execute(text("SET jit_above_cost = 0"))  # (read calls run outside a transaction block)
        try:
            rows = session.execute(text("EXPLAIN (ANALYZE) SELECT count(*) FROM signuprequest"))
            return list(rows.scalars())
        finally:
            session.execute(text("RESET jit_above_cost"))

    pg_store.engine.pool.dispose()
    assert not any("JIT" in line for line in pg_store.call(explained))
    pg_store.call(signup.list_requests, a, search="contoso", sort="created")  # still answers
