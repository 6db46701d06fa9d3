"""The customer search index stays exact through imports and single edits (issue 9).

Migration 0013 keeps the SQLite index cheap to maintain: account, name and e-mail in
``customer_search`` (re-indexed only when one of them changes), city through the set of city
values in use. These tests compare every search with a recount in Python (a case-insensitive
substring of account, name, e-mail or city), on both stores, after imports, edits and creates;
and check that an import stopped by a conflict leaves data and index as they were."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, text

from models.customer import Customer
from services import changes, customers
from services import customer_import as ci
from services.errors import Conflict
from services.store import Store
from tests.conftest import actor_of
from tests.test_customer_import import setup

TERMS = ("seattle", "elby", "ondo", "Tacoma", "FABRIK", "example", "works", "ham", "orders@", "000 0", "leeds")


def recount(store: Store, term: str) -> list[str]:
    with store.read() as s:
        rows = s.execute(text("SELECT account, name, email, city FROM customer")).all()
    t = term.lower()
    return sorted(r[0] for r in rows if any(t in (v or "").lower() for v in r))


def searched(store: Store, term: str) -> list[str]:
    a = actor_of(store)("approver1")
    return sorted(c.account for c in store.call(customers.list_customers, a, search=term, limit=1000))


def check_index(store: Store) -> None:
    """Every term finds what a recount finds; on SQLite the FTS5 tables agree with their
    content and the set of city values is exactly the cities in use."""
    for term in TERMS:
        assert searched(store, term) == recount(store, term), term
    if store.is_sqlite:
        with store.engine.connect() as conn:
            for fts in ("customer_search", "customer_search_city_fts"):
                conn.exec_driver_sql(f"INSERT INTO {fts} ({fts}, rank) VALUES ('integrity-check', 1)")
            values = sorted(r[0] for r in conn.exec_driver_sql("SELECT value FROM customer_search_city"))
            cities = sorted(r[0] for r in conn.exec_driver_sql("SELECT DISTINCT city FROM customer"))
            assert values == cities


def add_customers(store: Store, n: int) -> None:
    from datetime import datetime, timezone

    from bench.import_bench import customer_row

    rows = [customer_row(f"B-{i:07d}", "Bench", datetime(2026, 1, 1, tzinfo=timezone.utc)) for i in range(1, n + 1)]
    for i, r in enumerate(rows):
        r["city"] = ("Springfield", "Leeds", "Ham")[i % 3]
        r["email"] = f"b{i}@bench{i % 7}.example"
    with store.write() as s:
        s.execute(insert(Customer), rows)


def import_csv(store: Store, csv: str, **kw):
    return store.call(ci.import_rows, actor_of(store)("admin1"), ci.parse_csv(csv), **kw)


def test_search_matches_a_recount_after_an_import(any_store):
    setup(any_store, "allow")
    add_customers(any_store, 60)
    check_index(any_store)
    lines = ["account,city,phone"] + [f"B-{i:07d},Shelbyville,+1 555 {i:04d}" for i in range(1, 41)]
    lines += ["C-000002,Seattle,", "C-000001,Tacoma,"]  # London disappears, Seattle moves
    report = import_csv(any_store, "\n".join(lines) + "\n")
    assert report.written and report.counts["applied"] == 42, report.counts
    check_index(any_store)
    assert "B-0000001" in searched(any_store, "elbyv") and "C-000002" in searched(any_store, "seattle")
    assert searched(any_store, "london") == []
    # names, e-mails and accounts in one file, then back again (same values: no re-index needed)
    named = "account,name,email\n" + "".join(
        f"B-{i:07d},Renamed Works {i},r{i}@renamed.example\n" for i in range(1, 21)
    )
    import_csv(any_store, named)
    check_index(any_store)
    assert len(searched(any_store, "renamed works")) == 20
    import_csv(any_store, named)
    check_index(any_store)


def test_search_matches_a_recount_after_single_edits_and_creates(any_store):
    setup(any_store, "allow")
    support = actor_of(any_store)("support1")
    for account, values in (
        ("C-000001", {"city": "Leeds"}),  # to a city another customer has
        ("C-000002", {"city": "Ulm"}),  # a new value (London: no one left)
        ("C-000003", {"name": "Contoso Adventure", "email": "new@adventure.example"}),
        ("C-000004", {"phone": "+1 555 0000"}),  # no searchable column
        ("C-000004", {"city": "Hamburg"}),  # unchanged value
    ):
        any_store.call(changes.edit_customer, support, account, values)
        check_index(any_store)
    assert searched(any_store, "london") == [] and searched(any_store, "Ulm") == ["C-000002"]
    add_customers(any_store, 5)
    check_index(any_store)
    with any_store.write() as s:  # a delete forgets a city nobody else has
        s.execute(text("UPDATE customer SET city = 'Solitude' WHERE account = 'B-0000001'"))
    check_index(any_store)
    with any_store.write() as s:
        s.execute(text("DELETE FROM customer WHERE account = 'B-0000001'"))
    check_index(any_store)
    assert searched(any_store, "solitud") == []


def test_an_import_stopped_by_a_conflict_changes_nothing_index_included(any_store, clock, monkeypatch):
    """Two column sets (two UPDATE statements): the customer edited meanwhile is in the second,
    so the first has already run when the conflict is seen; the rollback takes it all back."""
    setup(any_store, "allow")
    add_customers(any_store, 30)
    other = Store(any_store.url, clock=clock, upgrade=False)
    original = ci.commands.begin_write

    def edit_meanwhile(session):
        other.call(changes.edit_customer, actor_of(other)("support1"), "B-0000030", {"phone": "+1 555 9999"})
        original(session)

    # lines 2-21: the city only (the name is the one they have); lines 22-31: city and name
    csv = "account,city,name\n" + "".join(f"B-{i:07d},Shelbyville,Bench customer B-{i:07d}\n" for i in range(1, 21))
    csv += "".join(f"B-{i:07d},Shelbyville,Moved Name {i}\n" for i in range(21, 31))
    monkeypatch.setattr(ci.commands, "begin_write", edit_meanwhile)
    try:
        with pytest.raises(Conflict) as err:
            import_csv(any_store, csv)
    finally:
        other.dispose()
    assert "B-0000030" in err.value.message
    assert searched(any_store, "shelbyv") == [] and searched(any_store, "moved name") == []
    check_index(any_store)
    monkeypatch.setattr(ci.commands, "begin_write", original)
    # the next import (same process, same connection: the stopped one's table is cleared away)
    report = import_csv(any_store, "account,city\nB-0000001,Shelbyville\n")
    assert report.written
    assert searched(any_store, "shelbyv") == ["B-0000001"]
    check_index(any_store)
