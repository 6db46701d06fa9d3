"""Scale benchmark (issue 10; not part of the test suite): 1M sign-up requests on SQLite and PostgreSQL.

    .venv/bin/python bench/scale_bench.py [--requests 1000000] [--stores sqlite,postgres] [--runs 5]
        [--pg postgresql://postgres@127.0.0.1:5432/test] [--keep DIR] [--pg-keep DBNAME] [--reuse]
        [--skip service,cli,console] [--only "word,search"] [--lists]

Data is made with bulk SQL (recursive CTE / generate_series), not the services, so setting up
1M requests takes seconds: ``--requests`` sign-up requests in every status, 100k customers and
1M audit events (sizes scale with ``--requests``). Every figure is the median of ``--runs``
x4 samples (at least 40 for a sub-millisecond question), taken in turn with the raw SQL of
the same question in the same run, so a busy machine slows both alike:

* search: an exact number, a company word (common and rare), no match; page and counts;
* a word (common in the company or in the contact, rare) by number, company and created: the
  first page next to the raw query through the text index (its matches sorted);
* every sort of ``services.signup.SORTS``, ascending, first page and a deep keyset page,
  without and with a status filter;
* status counts; audit by entity; customers search;
* with ``--lists`` (cases and prospects added to the data once): a common and a rare word on the
  Customers, Cases (with and without a status) and Prospects (by number and company) lists;
* CLI wall time of ``requests list``, ``requests show``, ``customers list`` next to
  ``python -c pass`` and ``python -c "import sqlalchemy"``;
* console start (first painted list) on PostgreSQL and SQLite next to a bare Textual app.

Targets (ratios in one run): service search/sort within 5x of the raw query; PostgreSQL console
start within 1.5x of bare Textual; CLI read commands under 2x ``import sqlalchemy``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).absolute().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("REGDESK_CONFIG", "/nonexistent/regdesk-bench-config.toml")
# timed processes run as an installed regdesk does, its bytecode cached (pip compiles what it
# installs; a checkout writes its own on the first run, which the figures leave out): with
# PYTHONDONTWRITEBYTECODE set (as on some machines) every start compiled regdesk's modules again
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

WORDS = [
    "Contoso",
    "Fabrikam",
    "Northwind",
    "Tailwind",
    "Adventure",
    "Alpine",
    "Blue",
    "Coho",
    "Fourth",
    "Graphic",
    "Humongous",
    "Litware",
    "Lucerne",
    "Margie",
    "Proseware",
    "Southridge",
    "Trey",
    "Wide",
    "Wingtip",
    "Woodgrove",
    "Alderaan",
    "Bellows",
    "Cascade",
    "Delta",
    "Ember",
    "Fjord",
    "Granite",
    "Harbor",
    "Iris",
    "Juniper",
    "Kestrel",
    "Lumen",
    "Meridian",
    "Nimbus",
    "Onyx",
    "Pioneer",
    "Quartz",
    "Raven",
    "Summit",
    "Tundra",
]
FIRST = [
    "Anna",
    "Ben",
    "Carla",
    "David",
    "Eva",
    "Frank",
    "Greta",
    "Hugo",
    "Ines",
    "Jon",
    "Kari",
    "Lars",
    "Mia",
    "Nils",
    "Olga",
    "Per",
    "Rita",
    "Sven",
    "Tina",
    "Ulf",
]
STATUS_CASE = (
    "CASE i % 10 WHEN 0 THEN 'Requested' WHEN 1 THEN 'Requested' WHEN 2 THEN 'Requested' "
    "WHEN 3 THEN 'Requested' WHEN 4 THEN 'Verified by user' WHEN 5 THEN 'Verified by user' "
    "WHEN 6 THEN 'Approved' WHEN 7 THEN 'Created' WHEN 8 THEN 'Created' ELSE 'Rejected' END"
)


# ----------------------------------------------------------------------------- data


def _defaults(table, given: dict[str, str]) -> tuple[list[str], list[str]]:
    """Column names and SQL expressions: ``given``, else each column's Python default as a literal."""
    from decimal import Decimal

    names, exprs = [], []
    for column in table.columns:
        if column.primary_key and column.name == "id":
            continue
        if column.name in given:
            names.append(column.name)
            exprs.append(given[column.name])
            continue
        default = column.default.arg if column.default is not None and column.default.is_scalar else None
        if default is None and column.name in _model_defaults(table.name):
            default = _model_defaults(table.name)[column.name]
        if default is None:
            if column.nullable:
                continue
            raise RuntimeError(f"{table.name}.{column.name} needs a value")
        if isinstance(default, bool):
            lit = "TRUE" if default else "FALSE"
        elif isinstance(default, (int, float, Decimal)):
            lit = str(default)
        else:
            lit = "'" + str(default).replace("'", "''") + "'"
        names.append(column.name)
        exprs.append(lit)
    return names, exprs


def _model_defaults(table_name: str) -> dict:
    from sqlmodel import SQLModel

    stack = list(SQLModel.__subclasses__())
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if getattr(cls, "__tablename__", None) == table_name and hasattr(cls, "model_fields"):
            return {
                k: f.default
                for k, f in cls.model_fields.items()
                if f.default is not None and not callable(f.default) and repr(f.default) != "PydanticUndefined"
            }
    return {}


def _insert(conn, pg: bool, table, n: int, given: dict[str, str], joins: str = "") -> None:
    names, exprs = _defaults(table, given)
    cols = ", ".join(f'"{c}"' for c in names)
    select = ", ".join(exprs)
    if pg:
        sql = f'INSERT INTO "{table.name}" ({cols}) SELECT {select} FROM generate_series(1, {n}) AS g(i) {joins}'
    else:
        sql = (
            f'INSERT INTO "{table.name}" ({cols}) WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g '
            f"WHERE i < {n}) SELECT {select} FROM g {joins}"
        )
    conn.exec_driver_sql(sql.replace("%", "%%") if pg else sql)


def build(url: str, requests: int) -> None:
    """Schema (migrations), reference data (operators, roles...), then bulk rows."""
    from sqlalchemy import text

    import models
    from seed.demo import load_reference
    from services.schema import upgrade
    from services.store import Store, make_engine

    engine = make_engine(url, create=True)
    upgrade(engine)
    engine.dispose()
    store = Store(url, create=True)
    pg = not store.is_sqlite
    load_reference(store)
    if not pg:
        from services import identity

        with store.write() as s:  # a demo database: `--as approver1` is allowed (services.identity)
            identity.mark_demo(s)
    t = models.metadata.tables
    customers = max(100, requests // 10)
    pad = (lambda e, w: f"lpad(({e})::text, {w}, '0')") if pg else (lambda e, w: f"printf('%0{w}d', {e})")
    ts = (
        (lambda e: f"(TIMESTAMPTZ '2026-01-01 00:00:00+00' + ({e}) * INTERVAL '1 second')")
        if pg
        else (lambda e: f"(datetime('2026-01-01', '+' || ({e}) || ' seconds') || '.000000')")
    )
    with store.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE benchword (k INTEGER PRIMARY KEY, w VARCHAR(40) NOT NULL)")
        conn.exec_driver_sql("CREATE TABLE benchfirst (k INTEGER PRIMARY KEY, w VARCHAR(40) NOT NULL)")
        for k, w in enumerate(WORDS):
            conn.execute(text("INSERT INTO benchword (k, w) VALUES (:k, :w)"), {"k": k, "w": w})
        for k, w in enumerate(FIRST):
            conn.execute(text("INSERT INTO benchfirst (k, w) VALUES (:k, :w)"), {"k": k, "w": w})
    started = time.perf_counter()
    with store.engine.begin() as conn:
        company = f"(bw.w || ' ' || 'Trading ' || ({pad('i % 5003', 4)}))"
        email = "('user' || i || '@' || lower(bw.w) || '.example')"
        _insert(
            conn,
            pg,
            t["customer"],
            customers,
            {
                "account": f"('BC-' || {pad('i', 7)})",
                "name": company,
                "name_normalized": f"lower({company})",
                "email": email,
                "email_normalized": email,
                "city": "'Oslo'",
                "country": "'NO'",
                "created_at": ts("i"),
                "created_by": "'bench'",
            },
            joins=f"JOIN benchword bw ON bw.k = i % {len(WORDS)}",
        )
        print(f"  customers: {time.perf_counter() - started:.1f} s", file=sys.stderr)
        _insert(
            conn,
            pg,
            t["signuprequest"],
            requests,
            {
                "number": f"('REG-' || {pad('i', 7)})",
                "created_at": ts("i"),
                "updated_at": ts("i"),
                "status": STATUS_CASE,
                "user_name": "('user' || i)",
                "email": email,
                "email_normalized": email,
                "company": company,
                "company_normalized": f"lower({company})",
                "first_name": "bf.w",
                "last_name": "(bw2.w || 'son' || (i % 97))",
                "country": "'NO'",
            },
            joins=(
                f"JOIN benchword bw ON bw.k = i % {len(WORDS)} JOIN benchfirst bf ON bf.k = (i / 7) % {len(FIRST)} "
                f"JOIN benchword bw2 ON bw2.k = (i / 3) % {len(WORDS)}"
            ),
        )
        print(f"  requests: {time.perf_counter() - started:.1f} s", file=sys.stderr)
        _insert(
            conn,
            pg,
            t["auditevent"],
            requests,
            {
                "at": ts("i"),
                "operator": "'approver1'",
                "entity_type": "'signup'",
                "entity_key": f"('REG-' || {pad(f'(i % {requests}) + 1', 7)})",
                "action": "'submitted'",
            },
        )
        print(f"  audit: {time.perf_counter() - started:.1f} s", file=sys.stderr)
        conn.execute(text("UPDATE numbersequence SET next_value = :n WHERE code = 'signup'"), {"n": requests + 1})
        conn.exec_driver_sql("DROP TABLE benchword")
        conn.exec_driver_sql("DROP TABLE benchfirst")
    store.dispose()
    _analyze(url, pg)
    print(f"  analyzed: {time.perf_counter() - started:.1f} s", file=sys.stderr)


def _analyze(url: str, pg: bool, *tables: str) -> None:
    """The planner told the truth about the data just built: PostgreSQL VACUUM ANALYZE of
    ``tables`` (default: the database); SQLite ANALYZE and the WAL folded into the file."""
    if pg:
        import psycopg

        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as raw:
            for table in tables or ("",):
                raw.execute(f"VACUUM ANALYZE {table}".strip())
    else:
        import sqlite3

        raw = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        raw.execute("ANALYZE")
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        raw.close()


def build_lists(url: str, requests: int) -> None:
    """Cases (one per customer) and prospects (``requests // 10``) for the Cases and Prospects
    lists, added to data ``build`` made (once: a database that has them is left as it is).

    A case's title is "<word> request <n>" (a word in 1 of 40 cases, spread in id order), its
    contact a first name; its customer's name is searched too ("<word> Trading <n>"). A
    prospect's company, names and e-mail are made as the requests' are."""
    from sqlalchemy import text

    import models
    from services.store import Store

    store = Store(url)
    pg = not store.is_sqlite
    t = models.metadata.tables
    n = max(100, requests // 10)
    pad = (lambda e, w: f"lpad(({e})::text, {w}, '0')") if pg else (lambda e, w: f"printf('%0{w}d', {e})")
    ts = (
        (lambda e: f"(TIMESTAMPTZ '2026-01-01 00:00:00+00' + ({e}) * INTERVAL '1 second')")
        if pg
        else (lambda e: f"(datetime('2026-01-01', '+' || ({e}) || ' seconds') || '.000000')")
    )
    started = time.perf_counter()
    with store.engine.begin() as conn:
        if conn.execute(text("SELECT count(*) FROM customercase")).scalar_one() >= n:
            store.dispose()
            return
        conn.exec_driver_sql("CREATE TABLE benchword (k INTEGER PRIMARY KEY, w VARCHAR(40) NOT NULL)")
        conn.exec_driver_sql("CREATE TABLE benchfirst (k INTEGER PRIMARY KEY, w VARCHAR(40) NOT NULL)")
        for k, w in enumerate(WORDS):
            conn.execute(text("INSERT INTO benchword (k, w) VALUES (:k, :w)"), {"k": k, "w": w})
        for k, w in enumerate(FIRST):
            conn.execute(text("INSERT INTO benchfirst (k, w) VALUES (:k, :w)"), {"k": k, "w": w})
        statuses = "CASE i % 4 WHEN 0 THEN 'Open' WHEN 1 THEN 'Open' WHEN 2 THEN 'Approved' ELSE 'Resolved' END"
        _insert(
            conn,
            pg,
            t["customercase"],
            n,
            {
                "number": f"('CASE-' || {pad('i', 6)})",
                "status": statuses,
                "title": f"(bw.w || ' request ' || {pad('i % 5003', 4)})",
                "customer_id": "c.id",
                "contact_name": "(bf.w || ' ' || bw.w || 'son')",
                "created_by": "'bench'",
                "created_at": ts("i"),
                "updated_at": ts("i"),
            },
            joins=(
                f"JOIN benchword bw ON bw.k = (i / 7) % {len(WORDS)} JOIN benchfirst bf ON bf.k = i % {len(FIRST)} "
                f"JOIN customer c ON c.account = ('BC-' || {pad('i', 7)})"
            ),
        )
        print(f"  cases: {time.perf_counter() - started:.1f} s", file=sys.stderr)
        company = f"(bw.w || ' ' || 'Trading ' || ({pad('i % 5003', 4)}))"
        email = "('prospect' || i || '@' || lower(bw.w) || '.example')"
        _insert(
            conn,
            pg,
            t["prospect"],
            n,
            {
                "number": f"('PRO-' || {pad('i', 6)})",
                "status": "CASE i % 3 WHEN 0 THEN 'Pending' WHEN 1 THEN 'Approved' ELSE 'Rejected' END",
                "company": company,
                "company_normalized": f"lower({company})",
                "first_name": "bf.w",
                "last_name": "(bw2.w || 'son' || (i % 97))",
                "email": email,
                "email_normalized": email,
                "created_at": ts("i"),
                "updated_at": ts("i"),
            },
            joins=(
                f"JOIN benchword bw ON bw.k = i % {len(WORDS)} JOIN benchfirst bf ON bf.k = (i / 7) % {len(FIRST)} "
                f"JOIN benchword bw2 ON bw2.k = (i / 3) % {len(WORDS)}"
            ),
        )
        print(f"  prospects: {time.perf_counter() - started:.1f} s", file=sys.stderr)
        conn.exec_driver_sql("DROP TABLE benchword")
        conn.exec_driver_sql("DROP TABLE benchfirst")
    store.dispose()
    _analyze(url, pg, "customercase", "prospect")
    print(f"  lists analyzed: {time.perf_counter() - started:.1f} s", file=sys.stderr)


# ----------------------------------------------------------------------------- timing


def timed(fn, runs: int) -> float:
    fn()
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def paired(svc, raw, runs: int) -> tuple[float, float]:
    """Medians of the service call and its raw SQL, sampled in turn (a busy machine slows both
    alike); sub-millisecond questions get at least 40 samples each."""
    svc(), raw()
    t = time.perf_counter()
    svc()
    if time.perf_counter() - t < 0.005:
        runs = max(runs, 40)
    a, b = [], []
    for _ in range(runs):
        t = time.perf_counter()
        svc()
        a.append(time.perf_counter() - t)
        t = time.perf_counter()
        raw()
        b.append(time.perf_counter() - t)
    return statistics.median(a), statistics.median(b)


def _has_search_index(conn, pg: bool) -> bool:
    if pg:
        return (
            conn.exec_driver_sql("SELECT 1 FROM pg_indexes WHERE indexname = 'ix_signuprequest_search'").first()
            is not None
        )
    return conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'signuprequest_search'").first() is not None


def _raw_search_ids(pg: bool, indexed: bool, term: str) -> tuple[str, dict]:
    """The raw SQL of "which ids match ``term``": the store's index if there is one, else one LIKE."""
    if not indexed:
        return "SELECT id FROM signuprequest WHERE lower(company) LIKE :like", {"like": f"%{term.lower()}%"}
    if pg:
        return (
            "SELECT id FROM signuprequest WHERE number = :n UNION SELECT id FROM signuprequest WHERE search_doc LIKE :like",
            {"n": term.upper(), "like": f"%{term.lower()}%"},
        )
    return (
        "SELECT id FROM signuprequest WHERE number = :n UNION SELECT rowid FROM signuprequest_search "
        "WHERE signuprequest_search MATCH :q",
        {"n": term.upper(), "q": '"' + term.replace('"', '""') + '"'},
    )


def _raw_customer_word(pg: bool, indexed: bool) -> str:
    if not indexed:
        return "SELECT * FROM customer WHERE lower(name) LIKE :l ORDER BY account LIMIT 50"
    if pg:
        return "SELECT * FROM customer WHERE search_doc LIKE :l ORDER BY account LIMIT 50"
    # the same index lookups as the service (migration 0013: account/name/e-mail trigram index, the
    # city through the index of the set of cities in use)
    from services.search import CUSTOMER_TEXT_SQLITE

    return f"SELECT * FROM customer WHERE id IN ({CUSTOMER_TEXT_SQLITE}) ORDER BY account LIMIT 50"


def service_figures(url: str, runs: int, requests: int, only: tuple[str, ...] = ()) -> list[tuple[str, float, float]]:
    """(what, service seconds, raw SQL seconds) for every question (``only``: those whose label
    contains one of these)."""
    from sqlalchemy import text

    from services import audit, customers, signup
    from services.operators import resolve_actor
    from services.store import Store

    store = Store(url, create=True)
    pg = not store.is_sqlite
    with store.read() as s:
        actor = resolve_actor(s, "approver1")
    call = store.call
    out: list[tuple[str, float, float]] = []

    def add(label: str, svc, raw_fn) -> None:
        if only and not any(o in label for o in only):
            return
        out.append((label, *paired(svc, raw_fn, svc_runs)))

    cols = "id, number, created_at, status, company, first_name, last_name, email, user_name, country"
    svc_runs = runs * 4
    with store.engine.connect() as conn:
        indexed = _has_search_index(conn, pg)
        if pg:  # the raw baseline as a plain connection runs it (the store's plan every execution)
            conn.exec_driver_sql("SET plan_cache_mode = auto")

        def raw(sql: str, params: dict | None = None):
            return lambda: conn.execute(text(sql), params or {}).fetchall()

        # --- search
        number = f"REG-{requests // 2 + 5:07d}"
        for label, term in (
            ("search exact number", number),
            ("search common word", "northwind"),
            ("search rare word", "wind Trading 4242"),
            ("search no match", "zzqqxx"),
        ):
            ids, params = _raw_search_ids(pg, indexed, term)
            add(
                f"{label}: page",
                lambda: call(signup.list_requests, actor, search=term, limit=50),
                raw(f"SELECT {cols} FROM signuprequest WHERE id IN ({ids}) ORDER BY id LIMIT 51", params),
            )
            add(
                f"{label}: counts",
                lambda: call(signup.count_by_status, actor, search=term),
                raw(f"SELECT status, count(*) FROM signuprequest WHERE id IN ({ids}) GROUP BY status", params),
            )
        # --- a word in several sorts (issue 10: a common word costs about a page in any sort, a
        # rare one a bounded walk of the sort's index and the text index), next to the raw
        # indexed query: the text index's matches sorted (what a word search was before the walk)
        for label, term in (
            ("company word", "northwind"),  # 1 in 20 rows, all with Northwind companies in company order
            ("contact word", "carla"),  # 1 in 20 rows, spread in every order
            ("mid word", "windson4"),  # 1 in 175 rows, spread (as the console's "Cedar Atlas", 1 in 144)
            ("lumen word", "lumen trading 1"),  # 1 in 190 rows, in runs of 1000 numbers 5003 apart
            ("rare word", "wind Trading 4242"),
            ("no-match word", "zzqqxx"),
        ):
            ids, params = _raw_search_ids(pg, indexed, term)
            for sort, column in (("number", "id"), ("company", "company"), ("created", "created_at")):
                order = "id" if column == "id" else f"{column}, id"
                add(
                    f"{label} by {sort}: page",
                    lambda: call(signup.list_requests, actor, search=term, sort=sort, limit=50),
                    raw(f"SELECT {cols} FROM signuprequest WHERE id IN ({ids}) ORDER BY {order} LIMIT 51", params),
                )
        # --- sorts
        sort_cols = {
            "number": None,
            "created": "created_at",
            "company": "company",
            "status": "status",
            "email": "email_normalized",
            "name": "last_name",
        }
        for sort, column in sort_cols.items():
            for status in (None, "Approved"):
                page = call(signup.list_requests, actor, sort=sort, status=status, limit=50)
                deep = page
                for _ in range(3):  # a few pages in, by 5000 rows
                    if deep.after is None:
                        break
                    deep = call(signup.list_requests, actor, sort=sort, status=status, limit=5000, after=deep.after)
                after = deep.after or page.after
                where = "WHERE status = :st" if status else "WHERE 1 = 1"
                col_ = None if (sort == "status" and status) else column  # one status: id order (as the service)
                order = f"{col_}, id" if col_ else "id"
                key = f"({col_}, id) > (:v, :i)" if col_ else "id > :i"
                label = f"sort {sort}{' in ' + status if status else ''}"
                add(
                    f"{label}: first page",
                    lambda: call(signup.list_requests, actor, sort=sort, status=status, limit=50),
                    raw(f"SELECT {cols} FROM signuprequest {where} ORDER BY {order} LIMIT 51", {"st": status}),
                )
                if after is not None:
                    value = after[0]
                    if sort == "created" and isinstance(value, str):
                        from datetime import datetime

                        value = datetime.fromisoformat(value)
                    if sort == "created" and not pg:
                        value = value.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
                    deep_sql = f"SELECT {cols} FROM signuprequest {where} AND {key} ORDER BY {order} LIMIT 51"
                    if col_ and not pg:
                        # SQLite seeks a row value on its first column only: the best raw SQL is
                        # two arms, each a seek on both columns, merged in index order
                        deep_sql = (
                            f"SELECT {cols}, {col_} AS k FROM signuprequest {where} AND {col_} = :v AND id > :i "
                            f"UNION ALL SELECT {cols}, {col_} AS k FROM signuprequest {where} AND {col_} > :v "
                            "ORDER BY k, id LIMIT 51"
                        )
                    add(
                        f"{label}: deep page",
                        lambda: call(signup.list_requests, actor, sort=sort, status=status, limit=50, after=after),
                        raw(deep_sql, {"st": status, "v": value, "i": after[1]}),
                    )
        # --- counts
        counter = conn.exec_driver_sql(
            "SELECT 1 FROM " + ("pg_tables WHERE tablename" if pg else "sqlite_master WHERE name") + " = 'statuscount'"
        ).first()
        raw_counts = (
            "SELECT status, sum(n) FROM statuscount WHERE area = 'signup' GROUP BY status"
            if counter
            else "SELECT status, count(*) FROM signuprequest GROUP BY status"
        )
        add("status counts", lambda: call(signup.count_by_status, actor), raw(raw_counts))
        # --- audit by entity
        admin = _admin(store)
        add(
            "audit by entity",
            lambda: call(audit.list_events, admin, entity=number),
            raw(
                "SELECT * FROM auditevent WHERE entity_type = 'signup' AND entity_key = :k ORDER BY id DESC LIMIT 200",
                {"k": number},
            ),
        )
        # --- customers
        add(
            "customers search account",
            lambda: call(customers.list_customers, actor, search="BC-0004242"),
            raw("SELECT * FROM customer WHERE account = :a", {"a": "BC-0004242"}),
        )
        add(
            "customers search word",
            lambda: call(customers.list_customers, actor, search="lumen trading 42"),
            raw(_raw_customer_word(pg, indexed), {"l": "%lumen trading 42%", "q": '"lumen trading 42"'}),
        )
        add(
            "customers search e-mail",
            lambda: call(customers.list_customers, actor, search="user4242@northwind.example"),
            raw("SELECT * FROM customer WHERE email_normalized = :e", {"e": "user4242@northwind.example"}),
        )
        add(
            "search exact e-mail: page",
            lambda: call(signup.list_requests, actor, search="user4242@northwind.example", sort="created", limit=50),
            raw(
                f"SELECT {cols} FROM signuprequest WHERE email_normalized = :e ORDER BY created_at, id LIMIT 51",
                {"e": "user4242@northwind.example"},
            ),
        )
        add("customers count", lambda: call(customers.count_customers, actor), raw("SELECT count(*) FROM customer"))
        if conn.exec_driver_sql("SELECT count(*) FROM customercase").scalar_one():
            list_figures(store, pg, add, raw)
    store.dispose()
    return out


def _text_ids(pg: bool, table: str, param: str) -> str:
    """The raw SQL of the ids of ``table`` whose searchable text has ``:<param>`` (the store's index)."""
    from services.search import CUSTOMER_TEXT_SQLITE, pg_document

    if pg:
        return f"SELECT id FROM {table} WHERE {pg_document()} LIKE :{param}"
    if table == "customer":
        return CUSTOMER_TEXT_SQLITE.replace(":q", f":{param}")
    return f"SELECT rowid FROM {table}_search WHERE {table}_search MATCH :{param}"


def list_figures(store, pg: bool, add, raw) -> None:
    """Customers, Cases and Prospects (issue 10): a word common in the list and a rare one, the
    service's first page next to the raw indexed query (the text index's matches sorted: what a
    word search was before the walk)."""
    from services import cases, customers
    from services.operators import resolve_actor
    from services.prospects import pages

    with store.read() as s:
        actor = resolve_actor(s, "support1")  # views customers, cases and prospects

    def values(term: str, *tables: str) -> dict:
        like, phrase = f"%{term.lower()}%", '"' + term.replace('"', '""') + '"'
        return {f"q_{t}": (like if pg else phrase) for t in tables} | {"up": term.upper()}

    for label, term in (("common word", "northwind"), ("rare word", "lumen trading 42"), ("no-match word", "zzqqxx")):
        params = values(term, "customer")
        add(
            f"customers {label}: page",
            lambda: store.call(customers.list_customers, actor, search=term),
            raw(
                f"SELECT * FROM customer WHERE id IN ({_text_ids(pg, 'customer', 'q_customer')}) "
                "ORDER BY account LIMIT 50",
                params,
            ),
        )
    add(
        "cases exact number: page",
        lambda: store.call(cases.list_cases, actor, search="CASE-004242"),
        raw("SELECT * FROM customercase WHERE number = :n", {"n": "CASE-004242"}),
    )
    add(
        "prospects exact number: page",
        lambda: store.call(pages.page_prospects, actor, search="PRO-004242", sort="number"),
        raw("SELECT * FROM prospect WHERE number = :n", {"n": "PRO-004242"}),
    )
    for label, term in (("common word", "northwind"), ("rare word", "request 4242"), ("no-match word", "zzqqxx")):
        params = values(term, "customer", "customercase")
        for status in (None, "Open"):
            where = "AND c.status = :st" if status else ""
            add(
                f"cases {label}{' in ' + status if status else ''}: page",
                lambda: store.call(cases.list_cases, actor, search=term, status=status),
                raw(
                    "SELECT c.*, cu.account, cu.name FROM customercase c JOIN customer cu ON cu.id = c.customer_id "
                    f"WHERE (c.id IN ({_text_ids(pg, 'customercase', 'q_customercase')}) OR c.customer_id IN "
                    f"({_text_ids(pg, 'customer', 'q_customer')})) {where} ORDER BY c.id DESC LIMIT 51",
                    {**params, "st": status},
                ),
            )
    for label, term in (("common word", "northwind"), ("rare word", "wind Trading 4242"), ("no-match word", "zzqqxx")):
        params = values(term, "prospect")
        for sort, order in (("number", "p.number DESC"), ("company", "p.company_normalized DESC, p.id DESC")):
            add(
                f"prospects {label} by {sort}: page",
                lambda: store.call(pages.page_prospects, actor, search=term, sort=sort),
                raw(
                    "SELECT p.*, l.number, l.status FROM prospect p LEFT JOIN lead l ON l.prospect_id = p.id "
                    f"WHERE p.id IN ({_text_ids(pg, 'prospect', 'q_prospect')}) ORDER BY {order} LIMIT 61",
                    params,
                ),
            )


def _admin(store):
    from services.operators import resolve_actor

    with store.read() as s:
        return resolve_actor(s, "admin1")


# ----------------------------------------------------------------------------- processes


def cli_figures(url: str, runs: int, requests: int) -> list[tuple[str, float]]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REGDESK_DATABASE_URL": url, "REGDESK_OPERATOR": "approver1"}
    regdesk = [sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())"]
    number = f"REG-{requests // 2 + 5:07d}"
    cases = [
        ("python -c pass", [sys.executable, "-c", "pass"]),
        ("python -c 'import sqlalchemy'", [sys.executable, "-c", "import sqlalchemy"]),
        ("regdesk requests list", [*regdesk, "requests", "list"]),
        ("regdesk requests show", [*regdesk, "requests", "show", number]),
        ("regdesk customers list", [*regdesk, "customers", "list"]),
    ]
    out = []
    for label, argv in cases:

        def run(argv=argv):
            r = subprocess.run(argv, env=env, capture_output=True, cwd="/tmp")
            if r.returncode != 0:
                raise RuntimeError(f"{argv}: {r.returncode} {r.stderr.decode()[-500:]}")

        out.append((label, timed(run, runs)))
    return out


def console_figures(url: str, runs: int) -> tuple[float, float]:
    sys.path.insert(0, str(ROOT / "bench"))
    from registration_bench import BARE_APP, _run_on_pty

    os.chdir(tempfile.gettempdir())  # python -c puts the working directory first on sys.path: not a checkout
    with tempfile.TemporaryDirectory(prefix="regdesk-scale-") as tmp:
        workdir = Path(tmp)
        env = {**os.environ, "TERM": "xterm-256color", "REGDESK_DATABASE_URL": url}
        bare_script = workdir / "bare_app.py"
        bare_script.write_text(BARE_APP)
        marker = workdir / "painted"
        regdesk = [sys.executable, "-c", "import sys; from app.cli import main; sys.exit(main())", "--as", "approver1"]
        bare, console = [], []
        # at least 10 pairs: one start is ~0.5 s and a busy machine moves it by as much
        for _ in range(max(runs, 10) + 1):
            bare.append(_run_on_pty([sys.executable, str(bare_script), str(marker)], env, marker))
            console.append(
                _run_on_pty(regdesk, {**env, "REGDESK_BENCH_PAINTED": str(marker), "PYTHONPATH": str(ROOT)}, marker)
            )
        return statistics.median(bare[1:]), statistics.median(console[1:])


# ----------------------------------------------------------------------------- main


def _pg_database(base: str, keep: str | None = None, reuse: bool = False) -> tuple[str, callable, bool]:
    """A database for the run: a fresh one dropped at the end, or ``keep`` (kept; with
    ``reuse``, taken as it is when it exists). Returns (url, drop, reused)."""
    import psycopg

    plain = base.replace("postgresql+psycopg://", "postgresql://")
    name = keep or f"regdesk_scale_{uuid.uuid4().hex[:8]}"
    url = plain.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(plain, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is not None
        if keep and reuse and exists:
            return url, lambda: None, True
        if exists:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    if keep:
        return url, lambda: None, False

    def drop() -> None:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return url, drop, False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pg", default=os.environ.get("REGDESK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test"))
    parser.add_argument("--keep", default=None, help="keep the SQLite file in this directory")
    parser.add_argument("--skip", default="", help="comma list of: service,cli,console")
    parser.add_argument("--only", default="", help="comma list: only the service figures whose label has one")
    parser.add_argument(
        "--pg-keep", default=None, help="keep the PostgreSQL data in this database (made in --pg's server)"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="with --keep / --pg-keep: use the data built by an earlier run"
    )
    parser.add_argument(
        "--lists", action="store_true", help="add cases and prospects to the data (once) and time their lists"
    )
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    ms = lambda s: f"{s * 1000:9.2f} ms"  # noqa: E731
    print(f"code: {ROOT}  requests: {args.requests:,}  runs: {args.runs}")
    with tempfile.TemporaryDirectory(prefix="regdesk-scale-") as tmp:
        for kind in args.stores.split(","):
            drop = None
            reuse = False
            if kind == "sqlite":
                folder = Path(args.keep) if args.keep else Path(tmp)
                folder.mkdir(parents=True, exist_ok=True)
                db = folder / f"scale_{args.requests}.db"
                reuse = args.reuse and db.exists()
                if not reuse:
                    db.unlink(missing_ok=True)
                url = f"sqlite:///{db}"
            else:
                url, drop, reuse = _pg_database(args.pg, args.pg_keep, args.reuse)
            try:
                t = time.perf_counter()
                if not reuse:
                    build(url, args.requests)
                if args.lists:
                    build_lists(url, args.requests)
                print(f"\n== {kind}: {'reused' if reuse else 'built'} in {time.perf_counter() - t:.1f} s", flush=True)
                if "service" not in skip:
                    print(f"{'what':<44} | {'service':>12} | {'raw SQL':>12} | ratio")
                    for what, svc, raw in service_figures(
                        url, args.runs, args.requests, tuple(filter(None, args.only.split(",")))
                    ):
                        print(
                            f"{what:<44} | {ms(svc):>12} | {ms(raw):>12} | {svc / raw if raw else 0:6.1f}", flush=True
                        )
                if "cli" not in skip:
                    figures = cli_figures(url, args.runs, args.requests)
                    base = dict(figures)["python -c 'import sqlalchemy'"]
                    print(f"\n{'CLI wall time':<44} | {'median':>12} | x import sqlalchemy")
                    for what, sec in figures:
                        print(f"{what:<44} | {ms(sec):>12} | {sec / base:6.2f}", flush=True)
                if "console" not in skip:
                    bare, console = console_figures(url, args.runs)
                    print(f"\n{'console start (first painted list)':<44} | {'bare':>12} | {'regdesk':>12} | ratio")
                    print(f"{kind:<44} | {ms(bare):>12} | {ms(console):>12} | {console / bare:6.2f}", flush=True)
            finally:
                if drop is not None:
                    drop()


if __name__ == "__main__":
    main()
