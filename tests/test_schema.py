"""The schema comes from the migrations, and the migrations match the models."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import models
from models.migrations import include_name
from services.schema import current_revisions, script_heads, upgrade
from services.schema_heads import SCHEMA_HEADS
from services.store import Store


def test_schema_heads_constant_matches_the_scripts():
    assert SCHEMA_HEADS == script_heads()


def _diff(engine):
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False, "include_name": include_name})
        return [d for d in compare_metadata(ctx, models.metadata)]


def test_migrated_sqlite_matches_models(store):
    assert current_revisions(store.engine) == SCHEMA_HEADS
    assert _diff(store.engine) == []


@pytest.mark.postgres
def test_migrated_postgres_matches_models(pg_store):
    assert current_revisions(pg_store.engine) == SCHEMA_HEADS
    assert _diff(pg_store.engine) == []


def test_new_sqlite_file_is_migrated_on_open(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'fresh' / 'r.db'}", create=True)
    assert current_revisions(store.engine) == SCHEMA_HEADS
    upgrade(store.engine)  # idempotent
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        # SQLite's own wait is short: the store waits for the write lock in jittered steps (services/store.py)
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 50
    store.dispose()


@pytest.mark.postgres
def test_postgres_behind_schema_is_refused(pg_empty_database_url):
    from services.errors import SchemaOutOfDate
    from services.store import make_engine

    with pytest.raises(SchemaOutOfDate, match="regdesk db upgrade"):
        Store(pg_empty_database_url)
    engine = make_engine(pg_empty_database_url)
    upgrade(engine)
    assert current_revisions(engine) == SCHEMA_HEADS
    engine.dispose()
