"""PostgreSQL keeps each searchable table's search document in a generated column (migration 0016).

A word walk tests each row it reads with the trigram index's own text. Lower-casing and joining
the columns again for every walked row cost about 1.2 us a row at 1M (half of a word on no row);
the row now keeps that text (``search_doc``, written by PostgreSQL with the row), the trigram index
indexes the column, and the walk tests it with one LIKE."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from services import signup
from services.search import SEARCHABLE
from tests.test_scale import _fill, _fill_cases_and_prospects, _plans

pytestmark = pytest.mark.postgres

PG_DOCUMENT = "search_doc"  # services.search.PG_DOCUMENT, the column migration 0016 added


def _expression(table: str) -> str:
    return "lower(" + " || chr(31) || ".join(SEARCHABLE[table]) + ")"


def test_every_searchable_table_keeps_its_document_whatever_wrote_the_row(pg_store, actor):
    """Rows written in bulk, updated by plain SQL and by the services: each row's document is its
    searchable columns lower-cased and joined, and the trigram index is on the document."""
    store = pg_store
    _fill(store, 60)
    _fill_cases_and_prospects(store, 40)
    with store.write() as s:
        s.execute(text("UPDATE signuprequest SET company = 'Bryggeri Nordlys AS' WHERE number = 'REG-900007'"))
        s.execute(text("UPDATE customer SET city = 'Hammerfest' WHERE id = (SELECT max(id) FROM customer)"))
        s.execute(
            text("UPDATE customercase SET contact_name = 'Ola Nordmann' WHERE id = (SELECT min(id) FROM customercase)")
        )
    with store.read() as s:
        for table in SEARCHABLE:
            rows, wrong = s.execute(
                text(
                    f"SELECT count(*), count(*) FILTER (WHERE {PG_DOCUMENT} IS DISTINCT FROM {_expression(table)}) FROM {table}"
                )
            ).one()
            assert rows > 0 and wrong == 0, table
            index = s.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = :n"), {"n": f"ix_{table}_search"})
            assert f"gin ({PG_DOCUMENT} gin_trgm_ops)" in index.scalar_one(), table
    a = actor("approver1")
    assert [r.number for r in store.call(signup.list_requests, a, search="nordlys").rows] == ["REG-900007"]
    assert store.call(signup.list_requests, a, search="woodgrove 7").rows == []  # its old company's word: gone


@pytest.mark.parametrize("sort", ["company", "created", "number"])
def test_a_walked_row_is_tested_on_its_kept_document(pg_store, actor, sort):
    """The walk's row test, and the stage's before it (``pg_first``), is a LIKE of the kept
    document, not the columns lower-cased and joined for every row read."""
    from tests.test_word_walk import _first_plan

    _fill(pg_store, 3000)
    a = actor("approver1")
    kw = {"search": "northwind", "sort": sort, "limit": 10}
    (plan,) = _plans(pg_store, signup.list_requests, a, table="signuprequest", analyze=True, **kw)
    first, _ = _first_plan(pg_store, signup.list_requests, a, **kw)
    for p in (plan, first):
        tests = [line.strip() for line in p.splitlines() if "~~" in line]
        assert any(line.startswith("Filter:") for line in tests), p
        assert all("lower(" not in line for line in tests), p
        assert all(f"{PG_DOCUMENT} ~~" in line or "doc_signuprequest ~~" in line for line in tests), p


def test_the_migration_goes_down_and_up_again(pg_empty_database_url):
    """0016 down: the column gone, the trigram index on the expression again (0007's); up: back."""
    from alembic import command

    from services.schema import _alembic_config, upgrade
    from services.store import make_engine

    engine = make_engine(pg_empty_database_url)

    def state() -> tuple[bool, str]:
        with engine.connect() as conn:
            has = conn.execute(
                text(
                    "SELECT count(*) FROM information_schema.columns WHERE table_name = 'signuprequest' AND column_name = :c"
                ),
                {"c": PG_DOCUMENT},
            ).scalar_one()
            index = conn.execute(
                text("SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_signuprequest_search'")
            ).scalar_one()
        return bool(has), index

    try:
        upgrade(engine)
        assert state()[0] and PG_DOCUMENT in state()[1]
        with engine.begin() as conn:
            command.downgrade(_alembic_config(conn), "0015")
        has, index = state()
        assert not has and "lower(" in index
        upgrade(engine)
        assert state()[0] and PG_DOCUMENT in state()[1]
    finally:
        engine.dispose()
