"""Alembic migrations of the regdesk schema (``regdesk db upgrade``).

SCHEMA_HEADS names the newest revision(s) so that opening a database can tell whether it is
current without importing Alembic (tests/test_schema.py checks it against the scripts). It is
declared in ``services/schema_heads.py`` (standard library only, so the console's quick start
can read it without importing the models) and re-exported here.
"""

from services.schema_heads import SCHEMA_HEADS

__all__ = ["SCHEMA_HEADS"]
