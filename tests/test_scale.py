"""Issue 10, service side: search through indexes, sorts served by indexes, counts kept not recounted.

* search correctness on both stores: exact keys, text anywhere in a column, ``%`` / ``_`` /
  quotes / markup taken literally, too-long terms refused with ValidationFailed;
* query plans (EXPLAIN QUERY PLAN / EXPLAIN) of the services' own SQL, captured while they
  run, on a table whose statistics tell the truth (SQLite ANALYZE; PostgreSQL
  ``enable_seqscan=off`` and, for sorts, ``enable_sort=off``): index lookups, no table scans,
  and no re-sorting of a keyset page;
* a hypothesis state machine over random actions checking the kept counters against a
  recount after every step; ``regdesk db check-counters`` finds and repairs drift.
"""

from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import event, insert, text

from models.signup import SignupRequest
from services import audit, cases, counters, customers, list_counts, prospects, signup
from services.errors import RegdeskError, ValidationFailed
from services.keyed_search import FIRST_MARK
from services.permissions import PORTAL
from services.search import MAX_SEARCH, SEARCHABLE
from tests.conftest import HOSTILE, actor_of
from tests.test_signup_services import GOOD, link_token, submit

# ----------------------------------------------------------------------------- search


def _numbers(page) -> list[str]:
    return [r.number for r in page.rows]


def test_search_finds_exact_keys_and_text_and_takes_wildcards_literally(any_store, actor):
    a = actor("approver1")
    plain = submit(any_store, company="Contoso Pharma", email="ann@contoso.example", user_name="annlee").number
    pct = submit(
        any_store,
        company="100% Organic",
        email="b@organic.example",
        user_name="bob_b",
        first_name="Bo",
        last_name="O'Brien",
    ).number
    under = submit(
        any_store, company="Under_Score Ltd", email="c@under.example", user_name="carl.c", last_name='Say "hi"'
    ).number
    other = submit(any_store, company="Northwind", email="d@north.example", user_name="dora").number
    search = lambda term: _numbers(any_store.call(signup.list_requests, a, search=term))  # noqa: E731
    assert search(plain) == [plain]  # an exact number
    assert search(plain.lower()) == [plain]
    assert search("ANN@contoso.example") == [plain]  # an exact e-mail, any case
    assert search("annlee") == [plain]  # a user name
    assert search("toso ph") == [plain]  # text inside a company name, any case
    assert search("contoso") == [plain]  # company or e-mail domain
    assert search("%") == []  # one character: too short for the text index, and no key is "%"
    assert search("00%") == [pct]  # a literal percent sign, not "anything"
    assert search("0% o") == [pct]
    assert search("%%%") == []
    assert search("_") == []  # too short for the text index, and no key is "_"
    assert search("r_s") == [under]  # a literal underscore, not "any one character"
    assert search("b_b") == [pct]
    assert search("o'brien") == [pct]
    assert search('"hi"') == [under]  # quotes are text, not FTS syntax
    assert search('say "') == [under]
    for hostile in [*HOSTILE, "NEAR(a b)", "a OR b", "* AND -", "' OR 1=1 --", "\\", "\\%", '"', "^north"]:
        assert search(hostile) == [], hostile
    assert search("north") == [other]
    assert search("  ") == _numbers(any_store.call(signup.list_requests, a))  # blank: no search
    counts = any_store.call(signup.count_by_status, a, search="o")  # one letter: exact keys only
    assert counts["All"] == 0


def test_search_counts_come_with_the_same_matches(any_store, actor):
    a = actor("approver1")
    numbers = [
        submit(any_store, company=f"Fabrikam {i}", email=f"u{i}@x.example", user_name=f"user{i}").number
        for i in range(4)
    ]
    submit(any_store, company="Trey Research", email="t@fabrikam.example", user_name="trey")
    any_store.call(signup.verify, link_token(any_store, numbers[0]))
    counts = any_store.call(signup.count_by_status, a, search="fabrikam")
    assert counts["All"] == 5 and counts["Requested"] == 4 and counts["Verified by user"] == 1
    assert len(any_store.call(signup.list_requests, a, search="fabrikam").rows) == 5
    assert any_store.call(signup.count_by_status, a, search="zzqq")["All"] == 0


def test_search_edits_follow_the_row_in_the_same_transaction(store, actor):
    """The text index changes with the row (insert, update, delete) and rolls back with it."""
    a = actor("approver1")
    number = submit(store, company="Alpine Ski House").number
    with store.write() as s:
        s.execute(text("UPDATE signuprequest SET company = 'Blue Yonder' WHERE number = :n"), {"n": number})
    assert _numbers(store.call(signup.list_requests, a, search="alpine")) == []
    assert _numbers(store.call(signup.list_requests, a, search="yonder")) == [number]
    with pytest.raises(RuntimeError):
        with store.write() as s:
            s.execute(text("UPDATE signuprequest SET company = 'Coho Winery' WHERE number = :n"), {"n": number})
            raise RuntimeError("roll back")
    assert _numbers(store.call(signup.list_requests, a, search="coho")) == []
    assert _numbers(store.call(signup.list_requests, a, search="yonder")) == [number]


@pytest.mark.parametrize(
    "fn,perm_actor",
    [
        (signup.list_requests, "approver1"),
        (signup.count_by_status, "approver1"),
        (customers.list_customers, "support1"),
        (cases.list_cases, "support1"),
        (cases.count_by_status, "support1"),
        (prospects.list_prospects, "support1"),
    ],
)
def test_too_long_search_is_refused_as_bad_input(any_store, actor, fn, perm_actor):
    with pytest.raises(ValidationFailed) as exc:
        any_store.call(fn, actor(perm_actor), search="x" * (MAX_SEARCH + 1))
    assert "search" in exc.value.errors and str(MAX_SEARCH) in exc.value.errors["search"]
    any_store.call(fn, actor(perm_actor), search="x" * MAX_SEARCH)  # the limit itself is fine


def test_too_long_search_on_the_command_line(cli):
    r = cli("requests", "list", "--search", "y" * 500, as_="approver1")
    assert r.code != 0 and "too long" in r.err and "Traceback" not in r.err


def test_customers_cases_and_prospects_search_through_their_indexes(any_store, actor):
    support = actor("support1")
    first = any_store.call(customers.list_customers, support, limit=1)[0]
    assert [c.account for c in any_store.call(customers.list_customers, support, search=first.account)] == [
        first.account
    ]
    assert first.account in [
        c.account for c in any_store.call(customers.list_customers, support, search=first.name[1:6])
    ]
    assert any_store.call(customers.list_customers, support, search="%") == []
    made = any_store.call(
        cases.create_case,
        support,
        {"title": "50% off_season", "customer_account": first.account, "contact_name": "Rita Rain"},
    )
    assert _numbers(any_store.call(cases.list_cases, support, search="50%")) == [made.number]
    assert _numbers(any_store.call(cases.list_cases, support, search="f_s")) == [made.number]
    assert _numbers(any_store.call(cases.list_cases, support, search="rita r")) == [made.number]
    assert _numbers(any_store.call(cases.list_cases, support, search=made.number)) == [made.number]
    assert made.number in _numbers(any_store.call(cases.list_cases, support, search=first.account))
    assert any_store.call(cases.count_by_status, support, search="f_s")["All"] == 1
    assert any_store.call(cases.count_by_status, support, search="zzqq")["All"] == 0
    p = any_store.call(
        prospects.submit,
        PORTAL,
        {"company": "Wide_World 100%", "first_name": "Ola", "last_name": "Nordmann", "email": "ola@wide.example"},
    )
    assert [r.number for r in any_store.call(prospects.list_prospects, support, search="e_w")] == [p.number]
    assert [r.number for r in any_store.call(prospects.list_prospects, support, search="OLA@WIDE.EXAMPLE")] == [
        p.number
    ]
    assert any_store.call(prospects.list_prospects, support, search="e%w") == []


def test_search_objects_cover_the_same_columns_as_the_migration():
    import importlib

    migration = importlib.import_module("models.migrations.versions.0007_search_sort_counts")
    assert migration.SEARCHABLE == SEARCHABLE
    assert {a: tuple(v) for a, v in migration.COUNTED.items()} == {a: tuple(v) for a, v in counters.AREAS.items()}


# ----------------------------------------------------------------------------- query plans


def _fill(store, n: int = 3000) -> None:
    """``n`` requests in every status (bulk insert, not the services), then statistics."""
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    statuses = ["Requested", "Requested", "Verified by user", "Approved", "Created", "Rejected"]
    words = ["Contoso", "Fabrikam", "Northwind", "Tailwind", "Litware", "Proseware", "Woodgrove"]
    rows = [
        {
            "number": f"REG-{900000 + i}",
            "created_at": base + timedelta(seconds=i),
            "updated_at": base,
            "status": statuses[i % len(statuses)],
            "user_name": f"bulk{i}",
            "email": f"bulk{i}@{words[i % 7].lower()}.example",
            "email_normalized": f"bulk{i}@{words[i % 7].lower()}.example",
            "company": f"{words[i % 7]} {i}",
            "company_normalized": f"{words[i % 7].lower()} {i}",
            "first_name": f"F{i % 50}",
            "last_name": f"L{i % 300}",
            "country": "NO",
        }
        for i in range(n)
    ]
    with store.write() as s:
        s.execute(insert(SignupRequest), rows)
    _analyze(store)


@contextmanager
def _captured(store):
    seen: list[tuple[str, object]] = []

    def hook(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            seen.append((statement, parameters))

    event.listen(store.engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", hook)


def _plans(store, fn, *args, table: str, sort_free: bool = False, analyze: bool = False, **kwargs) -> list[str]:
    """The plan of each statement ``fn`` runs on ``table``, one string each. ``analyze``
    (PostgreSQL): the plan as it ran (EXPLAIN ANALYZE: a node that did not run says "never
    executed"); SQLite's EXPLAIN QUERY PLAN shows every node that may run."""
    with _captured(store) as seen:
        store.call(fn, *args, **kwargs)
    statements = [(sql, p) for sql, p in seen if table in sql.lower() and "from operator" not in sql.lower()]
    # SQLite's keys-and-rarity first is left out, unless it is all there was (a word on no row: the
    # page is empty without a statement of its own)
    statements = [(sql, p) for sql, p in statements if FIRST_MARK not in sql] or statements
    assert statements, f"{fn.__name__} ran no query on {table}"
    out = []
    with store.engine.connect() as conn:
        if not store.is_sqlite:
            conn.exec_driver_sql("SET enable_seqscan = off")
            if sort_free:
                conn.exec_driver_sql("SET enable_sort = off")
        for sql, params in statements:
            if store.is_sqlite:
                rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
                out.append("\n".join(r[3] for r in rows))
            else:
                explain = "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) " if analyze else "EXPLAIN "
                rows = conn.exec_driver_sql(explain + sql, params).all()
                out.append("\n".join(r[0] for r in rows))
        conn.rollback()
    return out


def _no_table_scan(plan: str, store, table: str, *, rowid_order: bool = False) -> None:
    """No full scan; ``rowid_order``: SQLite may walk the table's own b-tree (it is the id index) in
    id order. A word search's bounded walk of a list in id order (``CO-ROUTINE walk``, and its
    count ``read``) is such a walk too: tests/test_word_walk_lists.py proves it reads a budget."""
    if store.is_sqlite:
        walk = "CO-ROUTINE walk" in plan
        for line in plan.splitlines():
            if rowid_order and line == f"SCAN {table}":
                assert "TEMP B-TREE" not in plan, plan  # walked in id order up to LIMIT, not scanned and sorted
                continue
            if walk and line == f"SCAN {table}":
                continue
            scan = line == f"SCAN {table}" or line.startswith(f"SCAN {table} ")  # not "SCAN customercase" for customer
            assert not (scan and "USING" not in line and "VIRTUAL TABLE" not in line), plan
    else:
        assert f"Seq Scan on {table}" not in plan, plan


def _no_resort(plan: str, store) -> None:
    if store.is_sqlite:
        assert "TEMP B-TREE" not in plan, plan
    else:
        assert "Sort" not in plan.replace("Sort Key", ""), plan


@pytest.mark.parametrize("sort", list(signup.SORTS))
@pytest.mark.parametrize("status", [None, "Approved"])
@pytest.mark.parametrize("descending", [False, True])
def test_every_sort_is_served_by_an_index_without_resorting(any_store, actor, sort, status, descending):
    _fill(any_store)
    a = actor("approver1")
    first = any_store.call(signup.list_requests, a, sort=sort, status=status, descending=descending, limit=20)
    assert first.after is not None
    for after in (None, first.after):  # the first page and a keyset page after it
        for plan in _plans(
            any_store,
            signup.list_requests,
            a,
            table="signuprequest",
            sort_free=True,
            sort=sort,
            status=status,
            descending=descending,
            after=after,
            limit=20,
        ):
            _no_table_scan(plan, any_store, "signuprequest", rowid_order=sort == "number" and status is None)
            _no_resort(plan, any_store)
            if any_store.is_sqlite and after is not None and sort != "number" and not (sort == "status" and status):
                _seeks_both_columns(plan, SORT_COLUMNS[sort], descending, status)


SORT_COLUMNS = {"created": "created_at", "company": "company", "status": "status", "email": "email_normalized"}
SORT_COLUMNS["name"] = "last_name"


def _seeks_both_columns(plan: str, column: str, descending: bool, status: str | None) -> None:
    """A keyset page on SQLite starts from the cursor on both columns of the sort's index: the
    rest of the cursor's value (``column=? AND id>?``), then the values after it. A row value
    ``(column, id) > (?, ?)`` seeks on ``column`` alone and reads every row of the cursor's value
    up to its id (400k rows of one status at 1M)."""
    by = "<" if descending else ">"
    prefix = "status=? AND " if status else ""
    assert f"({prefix}{column}=? AND id{by}?)" in plan, plan
    assert f"({prefix}{column}{by}?)" in plan, plan


@pytest.mark.parametrize("term", ["REG-900042", "bulk42@contoso.example", "bulk42", "woodgrove 42", "zzqqxx", "%_%"])
def test_search_and_its_counts_use_indexes(any_store, actor, term, monkeypatch):
    from services import keyed_search

    # no walk of the list's order first (tests/test_word_walk.py): a word goes to the text index
    monkeypatch.setattr(keyed_search, "WALK_BUDGET", 0)
    _fill(any_store)
    a = actor("approver1")
    calls = [
        (signup.list_requests, {"search": term}),
        (signup.count_by_status, {"search": term}),
        (signup.list_requests, {"search": term, "status": "Approved", "sort": "company"}),
    ]
    plans = [p for fn, kw in calls for p in _plans(any_store, fn, a, table="signuprequest", analyze=True, **kw)]
    assert len(plans) == len(calls)  # one statement each: the key probes and the text index in the page's query
    for plan in plans:
        _no_table_scan(plan, any_store, "signuprequest")
    text_index = "signuprequest_search VIRTUAL TABLE" if any_store.is_sqlite else "ix_signuprequest_search"
    if term in EXACT_TERMS:  # an exact key: index probes only, the text index is never read
        _text_index_not_read(any_store, plans, text_index, monkeypatch, [(fn, a, kw) for fn, kw in calls])
        assert len(any_store.call(signup.list_requests, a, search=term).rows) == 1
        assert any_store.call(signup.count_by_status, a, search=term)["All"] == 1
    elif len(term) >= 3:
        assert all(text_index in p for p in plans), plans
        if not any_store.is_sqlite:
            assert not any("never executed" in line for p in plans for line in p.splitlines() if text_index in line)


EXACT_TERMS = ("REG-900042", "bulk42@contoso.example", "bulk42")


def _sqlite_steps(store, fn, *args, statement_on: str = "signuprequest", **kwargs) -> int:
    """SQLite virtual-machine instructions (in hundreds) of the statements ``fn`` runs whose text
    has ``statement_on`` (default: the requests; a list's search may ask its keys and its word's
    rarity in a small statement first, ``keyed_search.sqlite_first``: its work counts too): a count
    of the work done, not a time (an FTS5 match handed to the statement costs instructions; one
    that is never read costs none)."""
    with _captured(store) as seen:
        store.call(fn, *args, **kwargs)
    statements = [(q, p) for q, p in seen if statement_on in q.lower() and "from operator" not in q.lower()]
    assert 1 <= len(statements) <= 2, statements
    raw = store.engine.raw_connection()
    try:
        steps = [0]

        def step() -> int:
            steps[0] += 1
            return 0

        raw.driver_connection.set_progress_handler(step, 100)
        for sql, params in statements:
            raw.driver_connection.execute(sql, params).fetchall()
        raw.driver_connection.set_progress_handler(None, 100)
    finally:
        raw.close()
    return steps[0]


@pytest.mark.parametrize("status", [None, "Approved"])
@pytest.mark.parametrize("descending", [False, True])
def test_word_search_in_number_order_reads_the_text_index_up_to_the_page(store, actor, status, descending):
    """SQLite: the first (and every keyset) page of a word search in the list's id order reads the
    FTS5 matches in rowid order only as far as the page needs, not every match ranked first: a
    word with 25x the matches costs about the same page. (Before: ``id IN (<all matches>)``, every
    match read into a temporary b-tree first.)"""
    _fill(store)
    a = actor("approver1")
    common, rare = "woodgrove", "woodgrove 13"  # every 7th row; 13, 13x, 13xx among them
    counts = {t: store.call(signup.count_by_status, a, search=t)[status or "All"] for t in (common, rare)}
    kw = {"status": status, "descending": descending, "limit": 10}
    for term in (common, rare):  # the page is the search's first rows in id order, and so is the next
        every = [r.number for r in store.call(signup.list_requests, a, search=term, **{**kw, "limit": 5000}).rows]
        assert len(every) == counts[term]
        page = store.call(signup.list_requests, a, search=term, **kw)
        assert [r.number for r in page.rows] == every[:10]
        if page.after is not None:
            after = store.call(signup.list_requests, a, search=term, after=page.after, **kw).rows
            assert [r.number for r in after] == every[10:20]
    if status is None:
        assert counts[common] > 20 * counts[rare] and counts[rare] > 10, counts
        costs = {term: _sqlite_steps(store, signup.list_requests, a, search=term, **kw) for term in (common, rare)}
        assert costs[common] < 2 * costs[rare], costs
    for plan in _plans(store, signup.list_requests, a, table="signuprequest", search=common, **kw):
        words = plan.split("CO-ROUTINE words_signuprequest")[1].split("SCAN words_signuprequest")[0]
        assert "VIRTUAL TABLE" in words and "TEMP B-TREE" not in words, plan  # FTS5's own rowid order


def _text_index_not_read(store, plans: list[str], text_index: str, monkeypatch, calls) -> None:
    """The text index is in the statement (the branch for a term no key equals) but did not run.

    PostgreSQL: EXPLAIN ANALYZE says so of its nodes ("never executed"). SQLite's plan cannot
    say: its term is made an FTS5 syntax error, which fails the call if the index is read."""
    if not store.is_sqlite:
        lines = [line for p in plans for line in p.splitlines() if text_index in line]
        assert lines and all("never executed" in line for line in lines), plans
        return
    from services import keyed_search

    monkeypatch.setattr(keyed_search, "text_value", lambda dialect, term: "AND")  # fts5: syntax error
    monkeypatch.setattr(keyed_search, "WALK_BUDGET", 0)  # a word read from the text index, not a walk
    for fn, actor, kwargs in calls:
        store.call(fn, actor, **kwargs)  # no error: the FTS5 lookup never ran
    with pytest.raises(Exception, match="fts5: syntax error"):  # while a term no key equals reads it
        store.call(fn, actor, **{**kwargs, "search": "no key is this"})
    monkeypatch.undo()


def test_an_exact_customer_account_is_one_index_probe(any_store, actor, monkeypatch):
    """An exact account (or e-mail) is found by its b-tree alone: no text index, even though the
    account also contains other accounts' text (ACC-1 is inside ACC-10, ACC-11...)."""
    from models.customer import Customer

    with any_store.write() as s:
        s.execute(
            insert(Customer),
            [
                {
                    "account": f"ACC-{i}",
                    "name": f"Exact {i}",
                    "email": f"e{i}@exact.example",
                    "email_normalized": f"e{i}@exact.example",
                    "name_normalized": f"exact {i}",
                    "credit_limit": 0,
                    "created_at": datetime(2026, 1, 1, tzinfo=timezone.utc),
                    "updated_at": datetime(2026, 1, 1, tzinfo=timezone.utc),
                }
                for i in range(1, 40)
            ],
        )
    a = actor("approver1")
    assert [c.account for c in any_store.call(customers.list_customers, a, search="acc-1")] == ["ACC-1"]
    assert len(any_store.call(customers.list_customers, a, search="ACC-")) == 39  # text: every account
    text_index = "customer_search VIRTUAL TABLE" if any_store.is_sqlite else "ix_customer_search"
    for term in ("ACC-1", "e1@exact.example"):
        calls = [(customers.list_customers, a, {"search": term}), (list_counts.customers, a, {"search": term})]
        plans = [p for fn, who, kw in calls for p in _plans(any_store, fn, who, table="customer", analyze=True, **kw)]
        assert len(plans) == 2, plans  # one statement each: probes, else the text index
        _text_index_not_read(any_store, plans, text_index, monkeypatch, calls)
        for plan in plans:
            _no_table_scan(plan, any_store, "customer")
    assert any(text_index in p for p in _plans(any_store, customers.list_customers, a, table="customer", search="xact"))
    assert any_store.call(list_counts.customers, a, search="ACC-1") == 1
    assert any_store.call(list_counts.customers, a, search="ACC-") == 39


def _fill_cases_and_prospects(store, n: int = 2000) -> None:
    """``n`` customers with a case each, ``n`` prospects with a lead each (bulk), then statistics."""
    from models.cases import Case
    from models.customer import Customer
    from models.prospects import Lead, Prospect

    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    words = ["Contoso", "Fabrikam", "Northwind", "Tailwind", "Litware", "Proseware", "Woodgrove"]
    with store.write() as s:
        first = s.execute(text("SELECT coalesce(max(id), 0) FROM customer")).scalar_one()
        s.execute(
            insert(Customer),
            [
                {
                    "account": f"ACC-{900000 + i}",
                    "name": f"{words[i % 7]} Customer {i}",
                    "name_normalized": f"{words[i % 7].lower()} customer {i}",
                    "email": f"c{i}@{words[i % 7].lower()}.example",
                    "email_normalized": f"c{i}@{words[i % 7].lower()}.example",
                    "credit_limit": 0,
                    "created_at": base,
                    "updated_at": base,
                }
                for i in range(n)
            ],
        )
        case_statuses = ["Open", "Open", "Submitted", "Approved", "Resolved", "Closed/Completed"]
        s.execute(
            insert(Case),
            [
                {
                    "number": f"CASE-{900000 + i}",
                    "status": case_statuses[i % len(case_statuses)],
                    "title": f"{words[i % 7]} case {i}",
                    "customer_id": first + 1 + i,
                    "contact_name": f"Contact {i}",
                    "description": "",
                    "resolution": "",
                    "closure_reason": "",
                    "created_by": "support1",
                    "created_at": base + timedelta(seconds=i),
                    "updated_at": base,
                }
                for i in range(n)
            ],
        )
        first_p = s.execute(text("SELECT coalesce(max(id), 0) FROM prospect")).scalar_one()
        s.execute(
            insert(Prospect),
            [
                {
                    "number": f"PRO-{900000 + i}",
                    "status": ["Pending", "Pending", "Accepted", "Rejected"][i % 4],
                    "company": f"{words[i % 7]} {i}",
                    "company_normalized": f"{words[i % 7].lower()} {i}",
                    "first_name": f"F{i % 50}",
                    "last_name": f"L{i % 300}",
                    "email": f"p{i}@{words[i % 7].lower()}.example",
                    "email_normalized": f"p{i}@{words[i % 7].lower()}.example",
                    "comments": "",
                    "created_at": base + timedelta(seconds=i),
                    "updated_at": base,
                }
                for i in range(n)
            ],
        )
        s.execute(
            insert(Lead),
            [
                {
                    "number": f"LEAD-{900000 + i}",
                    "prospect_id": first_p + 1 + i,
                    "topic": f"lead {i}",
                    "created_at": base + timedelta(seconds=i),
                    "updated_at": base,
                }
                for i in range(n)
            ],
        )
    _analyze(store)


def _analyze(store) -> None:
    if store.is_sqlite:
        with store.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    else:
        with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")


def _text_of_table_not_read(store, plans: list[str], table: str, monkeypatch, calls) -> None:
    """``_text_index_not_read`` for one table's text index among several in a statement: on
    SQLite only that table's term is made an FTS5 syntax error."""
    if not store.is_sqlite:
        lines = [line for p in plans for line in p.splitlines() if f"ix_{table}_search" in line]
        assert lines and all("never executed" in line for line in lines), plans
        return
    from models.base import table_of
    from services import keyed_search

    real = keyed_search.search_params

    def broken(dialect, model, term, keys):
        shape, params = real(dialect, model, term, keys)
        if table_of(model).name == table and f"q_{table}" in params:
            params[f"q_{table}"] = "AND"  # fts5: syntax error, if it is ever read
        return shape, params

    import sys

    for module in [keyed_search, *(m for n, m in list(sys.modules.items()) if n.startswith("services."))]:
        if getattr(module, "search_params", None) is real:  # the lists that imported it too
            monkeypatch.setattr(module, "search_params", broken)
    for fn, who, kwargs in calls:
        store.call(fn, who, **kwargs)  # no error: this table's FTS5 lookup never ran
    monkeypatch.setattr(keyed_search, "WALK_BUDGET", 0)  # a word's walk would answer before the text index
    with pytest.raises(Exception, match="fts5: syntax error"):  # while a term no key equals reads it
        store.call(fn, who, **{**kwargs, "search": "no key is this"})
    monkeypatch.undo()


CASE_TERMS = {"CASE-900042": "customercase", "acc-900042": "customer", "woodgrove case 4": None, "zzqqxx": None}


@pytest.mark.parametrize("term", list(CASE_TERMS))
def test_case_search_and_its_counts_are_one_indexed_statement(any_store, actor, term, monkeypatch):
    """A case search (its number, title, contact; its customer's account or name) is one
    statement through indexes; an exact case number or account does not read that table's text index."""
    _fill_cases_and_prospects(any_store)
    a = actor("support1")
    calls = [
        (cases.list_cases, a, {"search": term}),
        (cases.count_by_status, a, {"search": term}),
        (cases.list_cases, a, {"search": term, "status": "Approved"}),
    ]
    plans = [p for fn, who, kw in calls for p in _plans(any_store, fn, who, table="customercase", analyze=True, **kw)]
    assert len(plans) == len(calls), plans  # one statement each: key probes and text indexes inside it
    for plan in plans:
        _no_table_scan(plan, any_store, "customercase")
        _no_table_scan(plan, any_store, "customer")
    keyed = CASE_TERMS[term]
    if keyed is not None:
        _text_of_table_not_read(any_store, plans, keyed, monkeypatch, calls)
        assert _numbers(any_store.call(cases.list_cases, a, search=term)) == ["CASE-900042"]
        assert any_store.call(cases.count_by_status, a, search=term)["All"] == 1
    elif term == "zzqqxx":
        assert any_store.call(cases.count_by_status, a, search=term)["All"] == 0
    else:
        found = _numbers(any_store.call(cases.list_cases, a, search=term, limit=500))
        assert found and all(int(n[-3:]) % 7 == 6 for n in found)
        assert any_store.call(cases.count_by_status, a, search=term)["All"] == len(found)


PROSPECT_TERMS = {"PRO-900042": True, "p42@contoso.example": True, "woodgrove 4": False, "zzqqxx": False}


@pytest.mark.parametrize("term", list(PROSPECT_TERMS))
def test_prospect_search_and_its_counts_are_one_indexed_statement(any_store, actor, term, monkeypatch):
    """A prospect search (number, e-mail by b-tree; company, names, e-mail by the text index) is
    one statement per list page or count; an exact number or e-mail never reads the text index."""
    from services.prospects import pages

    _fill_cases_and_prospects(any_store)
    a = actor("support1")
    calls = [
        (prospects.list_prospects, a, {"search": term}),
        (pages.page_prospects, a, {"search": term}),
        (pages.page_prospects, a, {"search": term, "sort": "company"}),
        (pages.page_leads, a, {"search": term}),
    ]
    plans = [p for fn, who, kw in calls for p in _plans(any_store, fn, who, table="prospect", analyze=True, **kw)]
    assert len(plans) == len(calls), plans  # one statement each
    count_plans = _plans(any_store, pages.counts, a, table="prospect", analyze=True, search=term)
    assert len(count_plans) == 3, count_plans  # one per list
    for plan in plans + count_plans:
        _no_table_scan(plan, any_store, "prospect")
        _no_table_scan(plan, any_store, "lead")
    if PROSPECT_TERMS[term]:
        _text_of_table_not_read(any_store, plans + count_plans, "prospect", monkeypatch, calls)
        rows = any_store.call(prospects.list_prospects, a, search=term)
        assert [r.number for r in rows] == ["PRO-900042"]
        assert [r.number for r in any_store.call(pages.page_leads, a, search=term).rows] == ["LEAD-900042"]
        assert any_store.call(pages.counts, a, search=term)["prospects"] == 1
    elif term == "zzqqxx":
        assert any_store.call(pages.counts, a, search=term) == {"prospects": 0, "leads": 0, "opportunities": 0}
    else:
        found = [r.number for r in any_store.call(prospects.list_prospects, a, search=term, limit=500)]
        assert found and all(int(n[-3:]) % 7 == 6 for n in found)
        assert any_store.call(pages.counts, a, search=term)["prospects"] == len(found)


PAGE_SORTS = [("prospects", sort) for sort in prospects.pages.SORTS["prospects"]] + [("leads", "number")]


@pytest.mark.parametrize("kind,sort", PAGE_SORTS)
@pytest.mark.parametrize("descending", [False, True])
def test_prospect_pages_continue_from_their_sort_index(any_store, actor, kind, sort, descending):
    """Every sort of the Prospects area's pages walks an index (no re-sort, no scan), and a keyset
    page on SQLite seeks both columns of it (``services.keyset``), not the first one only."""
    from services.prospects import pages

    _fill_cases_and_prospects(any_store)
    a = actor("approver1")
    fn = {"prospects": pages.page_prospects, "leads": pages.page_leads}[kind]
    table = kind[:-1]
    first = any_store.call(fn, a, sort=sort, descending=descending, limit=20)
    assert first.after is not None
    for after in (None, first.after):
        kwargs = {"sort": sort, "descending": descending, "after": after, "limit": 20}
        for plan in _plans(any_store, fn, a, table=table, sort_free=True, **kwargs):
            _no_table_scan(plan, any_store, table)
            _no_resort(plan, any_store)
            if any_store.is_sqlite and after is not None and sort not in pages.UNIQUE:
                column = pages.SORTS[kind][sort].key
                _seeks_both_columns(plan, column, descending, None)
    second = any_store.call(fn, a, sort=sort, descending=descending, after=first.after, limit=20)
    assert not {r.number for r in first.rows} & {r.number for r in second.rows} and len(second.rows) == 20


def _fill_work(store, n: int = 600) -> None:
    """``n`` running instances with an open item each for approver1 and admin1, half with a due time."""
    from models.workflow import WorkflowDefinition, WorkflowInstance, WorkItem

    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    with store.write() as s:
        definition = s.execute(
            insert(WorkflowDefinition)
            .values(doc_type="signup", name="bulk", created_at=base, created_by="admin1")
            .returning(WorkflowDefinition.id)
        ).scalar_one()
        first = s.execute(text("SELECT coalesce(max(id), 0) FROM workflowinstance")).scalar_one()
        s.execute(
            insert(WorkflowInstance),
            [
                {
                    "doc_type": "signup",
                    "doc_key": f"REG-{700000 + i}",
                    "definition_id": definition,
                    "current_step": 1,
                    "submitter": "support1",
                    "started_at": base,
                    "updated_at": base,
                }
                for i in range(n)
            ],
        )
        s.execute(
            insert(WorkItem),
            [
                {
                    "instance_id": first + 1 + i,
                    "activation": 0,
                    "step_sequence": 1,
                    "step_name": "Approve",
                    "assignee": who,
                    "created_at": base + timedelta(minutes=i % 40),
                    "due_at": base + timedelta(hours=i % 9) if i % 2 else None,
                }
                for i in range(n)
                for who in ("approver1", "admin1")
            ],
        )
    _analyze(store)


@pytest.mark.parametrize("mine", [True, False])
def test_my_work_pages_continue_from_the_inbox_index(any_store, actor, mine):
    """My work's pages (due time, then assigned time, then id; the undated after) walk the inbox
    index, and a keyset page on SQLite seeks every column of it, in both halves."""
    from services import workflow

    _fill_work(any_store)
    a = actor("approver1")
    everything = any_store.call(workflow.list_work, a, mine, limit=10_000)
    dated = next(i for i in everything[40:] if i.due_at is not None)
    undated = next(i for i in everything if i.due_at is None and everything.index(i) > everything.index(dated) + 40)
    for item, columns in ((dated, ["due_at", "created_at"]), (undated, ["created_at"])):
        after = workflow.work_cursor(item)
        page = any_store.call(workflow.list_work, a, mine, limit=20, after=after)
        start = everything.index(item) + 1
        assert [i.id for i in page] == [i.id for i in everything[start : start + 20]]
        plans = _plans(any_store, workflow.list_work, a, mine, table="workitem", sort_free=True, limit=20, after=after)
        for plan in plans:
            _no_table_scan(plan, any_store, "workitem")
            _no_resort(plan, any_store)
        if any_store.is_sqlite:
            prefix = (
                ("assignee=? AND " if mine else "") + "status=? AND " + ("due_at=? AND " if item is undated else "")
            )
            plan = plans[0]
            for n in range(len(columns) + 1):  # the cursor's own prefix, then each column after it
                equal = "".join(f"{c}=? AND " for c in columns[:n])
                last = columns[n] if n < len(columns) else "id"
                assert f"({prefix}{equal}{last}>?)" in plan, plan


def test_counts_read_the_kept_counters(any_store, actor):
    _fill(any_store, 600)
    a = actor("approver1")
    plans = _plans(any_store, signup.count_by_status, a, table="statuscount")
    with _captured(any_store) as seen:
        counts = any_store.call(signup.count_by_status, a)
    assert not [sql for sql, _ in seen if "from signuprequest" in sql.lower()]  # no recount
    assert counts["All"] == 600 and counts["Requested"] == 200
    with any_store.read() as s:  # a handful of rows whatever the data: one per (area, status)
        assert s.execute(text("SELECT count(*) FROM statuscount")).scalar() <= 60
    for plan in plans:
        if not any_store.is_sqlite:  # SQLite rightly reads a table this small whole
            _no_table_scan(plan, any_store, "statuscount")
        assert "signuprequest" not in plan


def test_audit_by_entity_uses_an_index(any_store, actor):
    number = submit(any_store).number
    with any_store.write() as s:
        for i in range(300):
            audit.record(s, actor("admin1"), "signup", f"REG-{800000 + i}", "noise")
    if any_store.is_sqlite:
        with any_store.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    for plan in _plans(any_store, audit.list_events, actor("admin1"), table="auditevent", entity=number):
        _no_table_scan(plan, any_store, "auditevent")
        _no_resort(plan, any_store)
    assert [e.action for e in any_store.call(audit.list_events, actor("admin1"), entity=number)] == ["submitted"]


# ----------------------------------------------------------------------------- kept counters


def _check(store) -> list:
    with store.read() as s:
        return counters.check(s, actor_of(store)("admin1"))


class CountersMachine(RuleBasedStateMachine):
    """Random sign-up, case and prospect actions; the kept counters equal a recount after every step."""

    def __init__(self, store) -> None:
        super().__init__()
        self.store = store
        self.actor = actor_of(store)
        self.numbers: list[str] = []
        self.cases: list[str] = []
        self.links: dict[str, str] = {}
        self.serial = 0

    def _try(self, fn, *args, **kwargs):
        try:
            return self.store.call(fn, *args, **kwargs)
        except RegdeskError:
            return None  # refused (too early, done already...): nothing may have changed

    @rule(on_behalf=st.booleans())
    def submit(self, on_behalf):
        self.serial += 1
        who = self.actor("support1") if on_behalf else PORTAL
        data = {
            **GOOD,
            "email": f"m{self.serial}-{id(self)}@x.example",
            "user_name": f"m{self.serial}x{id(self) % 9999}",
        }
        result = self._try(signup.submit, who, data)
        if result is not None:
            self.numbers.append(result.number)
            self._catch_link(result.number)

    def _catch_link(self, number: str) -> None:
        """The link of the verification mail just queued (it is sent once: caught now or never)."""
        try:
            self.links[number] = link_token(self.store, number)
        except AssertionError:
            pass  # not sendable any more (e.g. rejected meanwhile)

    @precondition(lambda self: self.numbers)
    @rule(i=st.integers(0, 10_000))
    def verify(self, i):
        number = self.numbers[i % len(self.numbers)]
        if number in self.links:  # a used or replaced link is refused: nothing may change
            self._try(signup.verify, self.links[number])

    @precondition(lambda self: self.numbers)
    @rule(i=st.integers(0, 10_000), action=st.sampled_from(["resend", "approve", "reject", "create"]))
    def act(self, i, action):
        number = self.numbers[i % len(self.numbers)]
        approver = self.actor("approver1")
        if action == "resend":
            if self._try(signup.resend, approver, number) is not None:
                self._catch_link(number)
        elif action == "approve":
            self._try(signup.approve, approver, number)
        elif action == "reject":
            self._try(signup.reject, approver, number, "not a customer")
        else:
            self._try(
                signup.create_customer,
                approver,
                number,
                mode="new",
                template="EXPORT",
                role="Customer self-service user",
            )

    @rule(action=st.sampled_from(["create", "submit", "close"]))
    def case(self, action):
        support = self.actor("support1")
        if action == "create" or not self.cases:
            made = self._try(cases.create_case, support, {"title": "counted", "customer_account": "C-000001"})
            if made is not None:
                self.cases.append(made.number)
        elif action == "submit":
            self._try(cases.submit, support, self.cases[-1])
        else:
            self._try(cases.close, support, self.cases[-1], "stopped", "no longer needed")

    @rule()
    def prospect(self):
        self.serial += 1
        self._try(
            prospects.submit,
            PORTAL,
            {
                "company": f"P {self.serial}",
                "first_name": "A",
                "last_name": "B",
                "email": f"p{self.serial}-{id(self)}@x.example",
            },
        )

    @invariant()
    def counters_equal_a_recount(self):
        assert _check(self.store) == []


def test_kept_counters_equal_a_recount_after_every_action(store):
    run_state_machine_as_test(
        lambda: CountersMachine(store),
        settings=settings(
            max_examples=12, stateful_step_count=12, deadline=None, suppress_health_check=list(HealthCheck)
        ),
    )


@pytest.mark.postgres
def test_kept_counters_on_postgres_follow_every_action(pg_store):
    run_state_machine_as_test(
        lambda: CountersMachine(pg_store),
        settings=settings(
            max_examples=4, stateful_step_count=10, deadline=None, suppress_health_check=list(HealthCheck)
        ),
    )


def test_check_counters_finds_and_repairs_drift(cli, store):
    submit(store)
    r = cli("db", "check-counters", as_="admin1")
    assert r.code == 0 and "match" in r.out
    with store.write() as s:  # drift only a bug or a hand edit could cause
        s.execute(text("UPDATE statuscount SET n = n + 5 WHERE area = 'signup' AND status = 'Requested'"))
    r = cli("db", "check-counters", "--json", as_="admin1")
    assert r.code != 0 and r.json()[0] == {"area": "signup", "status": "Requested", "kept": 6, "counted": 1}
    assert cli("db", "check-counters", "--repair", as_="support1").code != 0  # administrators only
    r = cli("db", "check-counters", "--repair", as_="admin1")
    assert r.code == 0 and "repaired" in r.out
    assert cli("db", "check-counters", as_="admin1").code == 0
    assert _check(store) == []


def test_request_detail_and_duplicate_hints_use_indexes(any_store, actor):
    """show_request: the request, its duplicate hints (e-mail, company name) and history, by index."""
    _fill(any_store)
    a = actor("approver1")
    number = submit(any_store, company="Contoso 42", email="bulk42@contoso.example").number
    with _captured(any_store) as seen:
        detail = any_store.call(signup.show_request, a, number)
    assert any(h.kind == "request" for h in detail.duplicates)
    tables = ["signuprequest"] if any_store.is_sqlite else ["signuprequest", "customer", "contactperson", "auditevent"]
    with any_store.engine.connect() as conn:
        if not any_store.is_sqlite:
            conn.exec_driver_sql("SET enable_seqscan = off")
        for sql, params in seen:
            if "from operator" in sql.lower():
                continue
            prefix = "EXPLAIN QUERY PLAN " if any_store.is_sqlite else "EXPLAIN "
            plan = "\n".join(
                str(r[3] if any_store.is_sqlite else r[0]) for r in conn.exec_driver_sql(prefix + sql, params)
            )
            for table in tables:
                _no_table_scan(plan, any_store, table)
        conn.rollback()


@pytest.mark.parametrize("status", [None, "Submitted"])
def test_user_request_list_pages_by_index(any_store, actor, status):
    from services import user_requests

    for plan in _plans(
        any_store,
        user_requests.list_user_requests,
        actor("approver1"),
        table="userrequest",
        sort_free=True,
        status=status,
        limit=20,
    ):
        _no_table_scan(plan, any_store, "userrequest", rowid_order=status is None)
        if not any_store.is_sqlite:
            _no_resort(plan, any_store)


def test_search_and_counter_triggers_exist_after_every_migration(any_store):
    """A later migration that rebuilds a table (SQLite batch mode) drops its triggers: this says so.

    If it fails after a merge, re-create the objects of migration 0007 for that table in the
    migration that rebuilt it (``_sqlite_search`` / ``_sqlite_counter`` there show the SQL)."""
    with any_store.engine.connect() as conn:
        if any_store.is_sqlite:
            triggers = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'")}
            tables = {r[0] for r in conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for table in SEARCHABLE:
                assert f"{table}_search" in tables
                assert {f"trg_{table}_search_{op}" for op in ("ins", "del", "upd")} <= triggers, table
            for area, (table, column) in counters.AREAS.items():
                wanted = {f"trg_{table}_count_{op}" for op in ("ins", "del", *(["upd"] if column else []))}
                assert wanted <= triggers, (area, wanted - triggers)
        else:
            triggers = {r[0] for r in conn.exec_driver_sql("SELECT tgname FROM pg_trigger WHERE NOT tgisinternal")}
            indexes = {r[0] for r in conn.exec_driver_sql("SELECT indexname FROM pg_indexes")}
            for table in SEARCHABLE:
                assert f"ix_{table}_search" in indexes
            for area, (table, column) in counters.AREAS.items():
                wanted = {f"trg_{table}_count_{op}" for op in ("ins", "del", "truncate", *(["upd"] if column else []))}
                assert wanted <= triggers, (area, wanted - triggers)


@pytest.mark.postgres
def test_a_postgres_connection_killed_while_idle_is_replaced(pg_store, pg_database_url, monkeypatch):
    """No ping on every checkout (a round trip per call): only a connection idle for
    PG_PING_AFTER_IDLE_S is pinged, and one found dead is replaced, not reported."""
    import psycopg

    from services import store as store_module

    a = actor_of(pg_store)("approver1")
    pg_store.call(signup.count_by_status, a)
    with pg_store.engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    with psycopg.connect(pg_database_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
    monkeypatch.setattr(store_module, "PG_PING_AFTER_IDLE_S", 0.0)
    assert pg_store.call(signup.count_by_status, a)["All"] == 0
    with pg_store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT pg_backend_pid()").scalar() != pid


@pytest.mark.postgres
def test_postgres_engines_do_not_ping_on_every_checkout(pg_database_url):
    from services.store import make_engine

    engine = make_engine(pg_database_url)
    try:
        assert not engine.pool._pre_ping
    finally:
        engine.dispose()
