"""Alembic migrations of the regdesk schema (``regdesk db upgrade``).

The newest revision(s) are named in ``services/schema_heads.py`` (``SCHEMA_HEADS``, standard
library only, so the console's quick start can check a file without importing the models;
tests/test_schema.py checks it against the scripts). Import it from there: the models layer
does not import services (the layers contract in pyproject.toml).
"""

import re
from collections.abc import Mapping

__all__ = ["include_name"]

# the search indexes each store provides in its own way (migration 0007): SQLite FTS5 tables
# "<table>_search" and their shadow tables, PostgreSQL GIN indexes "ix_<table>_search"
_STORE_SPECIFIC = re.compile(r"^(\w+_search(_\w+)?|ix_\w+_search)$")
# PostgreSQL: the generated column each searchable table keeps its search document in (0016)
SEARCH_DOCUMENT = "search_doc"


def include_name(name: str | None, type_: str, parent_names: Mapping[str, str | None]) -> bool:
    """Alembic ``include_name``: leave out the store-specific search objects the models cannot declare."""
    if type_ == "column":
        return name != SEARCH_DOCUMENT
    return not (name and type_ in ("table", "index") and _STORE_SPECIFIC.match(name))
