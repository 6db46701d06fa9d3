"""bench/console_bench.py on PostgreSQL (issue 10) at a tiny size, untimed: its builder makes a
database with the same requests as the SQLite build (what the 1k/1M comparison between the stores
relies on), ``--pg-keep`` reuses the kept build through a copy, and every database it made for a
run is dropped after. Skipped without a PostgreSQL server."""

from __future__ import annotations

import sqlite3

import pytest

from tests.conftest import PG_URL, _pg_available

pytestmark = pytest.mark.postgres

COLUMNS = "id, number, status, company, first_name, last_name, email, user_name, country, customer_created"


@pytest.fixture
def bench(tmp_path, monkeypatch):
    if not _pg_available():
        pytest.skip(f"no PostgreSQL server answers at {PG_URL}")
    from bench import console_bench

    monkeypatch.setattr(console_bench, "DB_DIR", str(tmp_path))
    return console_bench


def _databases(like: str) -> set[str]:
    import psycopg

    with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        return {r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", (like,))}


def _drop(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_URL.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _postgres_rows(url: str) -> tuple[list[tuple], int, dict[str, int], list[str]]:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        rows = conn.execute(
            f"SELECT {COLUMNS}, to_char(created_at, 'YYYY-MM-DD HH24:MI:SS.US') FROM signuprequest ORDER BY id"
        ).fetchall()
        (next_value,) = conn.execute("SELECT next_value FROM numbersequence WHERE code = 'signup'").fetchone()
        counts = dict(
            conn.execute(
                "SELECT status, sum(n)::int FROM statuscount WHERE area = 'signup' GROUP BY status HAVING sum(n) <> 0"
            ).fetchall()
        )
        indexes = [
            r[0]
            for r in conn.execute(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'signuprequest' ORDER BY indexname"
            ).fetchall()
        ]
    return [(*r[:-2], bool(r[-2]), r[-1]) for r in rows], next_value, counts, indexes


def test_the_postgres_build_has_the_sqlite_builds_requests_and_is_dropped_after(bench):
    url, drop = bench.open_database("postgres", 30, PG_URL)
    name = url.rsplit("/", 1)[1]
    try:
        assert name.startswith(bench.PG_PREFIX)
        rows, next_value, counts, indexes = _postgres_rows(url)
        source = sqlite3.connect(bench.sqlite_build(30))
        expected = [
            (*r[:-2], bool(r[-2]), r[-1])
            for r in source.execute(f"SELECT {COLUMNS}, created_at FROM signuprequest ORDER BY id")
        ]
        (expected_next,) = source.execute("SELECT next_value FROM numbersequence WHERE code = 'signup'").fetchone()
        expected_counts = dict(source.execute("SELECT status, count(*) FROM signuprequest GROUP BY status"))
        source.close()
        assert len(rows) == 30
        assert rows == expected  # the same requests: ids, numbers, words, statuses, times
        assert next_value == expected_next == 31
        assert counts == expected_counts  # the status counters kept by the triggers during the COPY
        assert "ix_signuprequest_search" in indexes  # the indexes dropped for the load are back
        assert rows[-1][1] == "REG-000030"  # the number the bench's "jump to end" waits for
    finally:
        drop()
    assert name not in _databases(f"{bench.PG_PREFIX}%")


def test_pg_keep_builds_once_and_runs_on_copies(bench, monkeypatch):
    kept = f"{bench.PG_PREFIX}_keep_{bench._size(20)}"
    if kept in _databases(kept):
        pytest.skip(f"{kept} exists (another run's)")
    built: list[str] = []
    build = bench.build_postgres
    monkeypatch.setattr(bench, "build_postgres", lambda url, source: built.append(url) or build(url, source))
    try:
        for _ in range(2):
            url, drop = bench.open_database("postgres", 20, PG_URL, pg_keep=True)
            name = url.rsplit("/", 1)[1]
            assert name != kept and name.startswith(bench.PG_PREFIX)
            assert len(_postgres_rows(url)[0]) == 20
            drop()
            assert name not in _databases(f"{bench.PG_PREFIX}%")
        assert [u.rsplit("/", 1)[1] for u in built] == [kept]  # built once, then reused
        assert kept in _databases(kept)
    finally:
        _drop(kept)
