"""The schema revision(s) this regdesk needs (standard library only).

Kept out of the ``models`` package so that a quick "is the file current?" check
(``services.quick``) does not import SQLModel; import it from here (models.migrations does
not re-export it). tests/test_schema.py checks it against the Alembic scripts. Add each new revision here.
"""

SCHEMA_HEADS: frozenset[str] = frozenset({"0016"})
