"""Alembic migrations of the regdesk schema (``regdesk db upgrade``).

SCHEMA_HEADS names the newest revision(s) so that opening a database can tell whether it is
current without importing Alembic (tests/test_schema.py checks it against the scripts). It is
declared in ``services/schema_heads.py`` (standard library only, so the console's quick start
can read it without importing the models) and re-exported here.
"""

import re

from services.schema_heads import SCHEMA_HEADS

__all__ = ["SCHEMA_HEADS", "include_name"]

# the search indexes each store provides in its own way (migration 0007): SQLite FTS5 tables
# "<table>_search" and their shadow tables, PostgreSQL GIN indexes "ix_<table>_search"
_STORE_SPECIFIC = re.compile(r"^(\w+_search(_\w+)?|ix_\w+_search)$")


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Alembic ``include_name``: leave out the store-specific search objects the models cannot declare."""
    return not (name and type_ in ("table", "index") and _STORE_SPECIFIC.match(name))
