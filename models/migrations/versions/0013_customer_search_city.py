"""customer search index: cheap to keep when an import rewrites a column (issue 9)

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-28 17:30:00

SQLite only (PostgreSQL: nothing changes; its pg_trgm index of 0007 stays as it is).

Measured on 100k customers, one transaction changing every city (``bench/import_bench.py``):
the FTS5 trigram index of 0007 (``customer_search``: account, name, e-mail, city in one
document, kept by row triggers) cost ~5.5 s of the ~6.5 s: each row re-tokenized all four
columns twice ('delete' of the old document, insert of the new one), and the trigger fired
even when no indexed value changed.

Now:

* ``customer_search`` (FTS5, trigram, external content ``customer``) indexes account, name and
  e-mail; its update trigger fires only when one of those three actually changed
  (``WHEN old.x IS NOT new.x ...``).
* City, a column of few distinct values that whole files rewrite, is searched through the set
  of its values: ``customer_search_city(id, value UNIQUE)`` holds every distinct city in use,
  ``customer_search_city_fts`` (FTS5 trigram, external content) indexes those values, and the
  customers of a matching value are found through ``ix_customer_search_city`` (customer.city).
  Triggers on customer keep the set in the row's transaction: a new value is added (``INSERT OR
  IGNORE``: a value already there costs one index probe, no tokenizing), a value no customer
  has any more is removed. So 100k customers moving from one city to another tokenize one
  word instead of 100k documents.

Search results are the same (``services.search``: a case-insensitive substring of one column);
the SQLite text query becomes the union of ``customer_search`` and the customers whose city is a
matching value (``services.search.CUSTOMER_TEXT_SQLITE``). The names match
``models.migrations.include_name``'s store-specific pattern.
"""

from typing import Sequence, Union

from alembic import op

revision: str = "0013"
down_revision: Union[str, None] = "0012"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TEXT = ("account", "name", "email")
_CHANGED = " OR ".join(f"old.{c} IS NOT new.{c}" for c in TEXT)
_COLS = ", ".join(TEXT)
_NEW = ", ".join(f"new.{c}" for c in TEXT)
_OLD = ", ".join(f"old.{c}" for c in TEXT)
# a city value no customer has any more leaves the set (an index probe of ix_customer_search_city)
_FORGET_OLD_CITY = (
    "DELETE FROM customer_search_city WHERE value = old.city "
    "AND NOT EXISTS (SELECT 1 FROM customer WHERE city = old.city);"
)
_ADD_NEW_CITY = "INSERT OR IGNORE INTO customer_search_city (value) VALUES (new.city);"

UPGRADE_SQLITE = [
    "DROP TRIGGER IF EXISTS trg_customer_search_ins",
    "DROP TRIGGER IF EXISTS trg_customer_search_del",
    "DROP TRIGGER IF EXISTS trg_customer_search_upd",
    "DROP TABLE IF EXISTS customer_search",
    f"CREATE VIRTUAL TABLE customer_search USING fts5({_COLS}, content='customer', content_rowid='id', "
    "tokenize='trigram')",
    "CREATE TABLE customer_search_city (id INTEGER PRIMARY KEY, value TEXT NOT NULL UNIQUE)",
    "CREATE VIRTUAL TABLE customer_search_city_fts USING fts5(value, content='customer_search_city', "
    "content_rowid='id', tokenize='trigram')",
    "CREATE INDEX ix_customer_search_city ON customer (city)",
    "CREATE TRIGGER trg_customer_search_city_ins AFTER INSERT ON customer_search_city BEGIN "
    "INSERT INTO customer_search_city_fts (rowid, value) VALUES (new.id, new.value); END",
    "CREATE TRIGGER trg_customer_search_city_del AFTER DELETE ON customer_search_city BEGIN "
    "INSERT INTO customer_search_city_fts (customer_search_city_fts, rowid, value) "
    "VALUES ('delete', old.id, old.value); END",
    f"CREATE TRIGGER trg_customer_search_ins AFTER INSERT ON customer BEGIN "
    f"INSERT INTO customer_search (rowid, {_COLS}) VALUES (new.id, {_NEW}); {_ADD_NEW_CITY} END",
    f"CREATE TRIGGER trg_customer_search_del AFTER DELETE ON customer BEGIN "
    f"INSERT INTO customer_search (customer_search, rowid, {_COLS}) VALUES ('delete', old.id, {_OLD}); "
    f"{_FORGET_OLD_CITY} END",
    f"CREATE TRIGGER trg_customer_search_upd AFTER UPDATE OF {_COLS} ON customer WHEN {_CHANGED} BEGIN "
    f"INSERT INTO customer_search (customer_search, rowid, {_COLS}) VALUES ('delete', old.id, {_OLD}); "
    f"INSERT INTO customer_search (rowid, {_COLS}) VALUES (new.id, {_NEW}); END",
    "CREATE TRIGGER trg_customer_search_city_upd AFTER UPDATE OF city ON customer "
    f"WHEN old.city IS NOT new.city BEGIN {_ADD_NEW_CITY} {_FORGET_OLD_CITY} END",
    "INSERT INTO customer_search_city (value) SELECT DISTINCT city FROM customer",
    "INSERT INTO customer_search (customer_search) VALUES ('rebuild')",
]

# 0007's objects for customer, as they were
_ALL = ("account", "name", "email", "city")
_ALL_COLS = ", ".join(_ALL)
DOWNGRADE_SQLITE = [
    "DROP TRIGGER IF EXISTS trg_customer_search_city_upd",
    "DROP TRIGGER IF EXISTS trg_customer_search_ins",
    "DROP TRIGGER IF EXISTS trg_customer_search_del",
    "DROP TRIGGER IF EXISTS trg_customer_search_upd",
    "DROP TRIGGER IF EXISTS trg_customer_search_city_ins",
    "DROP TRIGGER IF EXISTS trg_customer_search_city_del",
    "DROP INDEX IF EXISTS ix_customer_search_city",
    "DROP TABLE IF EXISTS customer_search_city_fts",
    "DROP TABLE IF EXISTS customer_search_city",
    "DROP TABLE IF EXISTS customer_search",
    f"CREATE VIRTUAL TABLE customer_search USING fts5({_ALL_COLS}, content='customer', content_rowid='id', "
    "tokenize='trigram')",
    f"CREATE TRIGGER trg_customer_search_ins AFTER INSERT ON customer BEGIN "
    f"INSERT INTO customer_search (rowid, {_ALL_COLS}) VALUES (new.id, {', '.join(f'new.{c}' for c in _ALL)}); END",
    f"CREATE TRIGGER trg_customer_search_del AFTER DELETE ON customer BEGIN "
    f"INSERT INTO customer_search (customer_search, rowid, {_ALL_COLS}) "
    f"VALUES ('delete', old.id, {', '.join(f'old.{c}' for c in _ALL)}); END",
    f"CREATE TRIGGER trg_customer_search_upd AFTER UPDATE OF {_ALL_COLS} ON customer BEGIN "
    f"INSERT INTO customer_search (customer_search, rowid, {_ALL_COLS}) "
    f"VALUES ('delete', old.id, {', '.join(f'old.{c}' for c in _ALL)}); "
    f"INSERT INTO customer_search (rowid, {_ALL_COLS}) VALUES (new.id, {', '.join(f'new.{c}' for c in _ALL)}); END",
    "INSERT INTO customer_search (customer_search) VALUES ('rebuild')",
]


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for sql in UPGRADE_SQLITE:
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for sql in DOWNGRADE_SQLITE:
        op.execute(sql)
