"""Alembic migrations of the regdesk schema (``regdesk db upgrade``).

SCHEMA_HEAD names the newest revision so that opening a database can tell whether it is
current without importing Alembic (a test checks it against the scripts).
"""

SCHEMA_HEAD = "0001"
