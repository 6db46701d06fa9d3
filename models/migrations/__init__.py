"""Alembic migrations of the regdesk schema (``regdesk db upgrade``).

SCHEMA_HEADS names the newest revision(s) so that opening a database can tell whether it is
current without importing Alembic (tests/test_schema.py checks it against the scripts).
"""

SCHEMA_HEADS: frozenset[str] = frozenset({"0005"})
