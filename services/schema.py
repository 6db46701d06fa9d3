"""Schema versions: Alembic upgrades, and a cheap "is it current?" check on open."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from models.migrations import SCHEMA_HEADS
from services.errors import SchemaOutOfDate

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "models" / "migrations"


def current_revisions(engine: Engine) -> frozenset[str]:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return frozenset()
        return frozenset(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def current_revision(engine: Engine) -> str | None:
    revs = current_revisions(engine)
    return ",".join(sorted(revs)) or None


def _alembic_config(connection):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["connection"] = connection
    return cfg


def upgrade(engine: Engine, revision: str = "heads") -> str | None:
    """Apply every migration up to ``revision``; returns the revision the database is at."""
    from alembic import command

    # BEGIN IMMEDIATE on SQLite: two processes opening a new file migrate one after the other
    with engine.execution_options(regdesk_write=True).begin() as conn:
        command.upgrade(_alembic_config(conn), revision)
    return current_revision(engine)


def script_heads() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    return frozenset(ScriptDirectory(str(MIGRATIONS_DIR)).get_heads())


def ensure_schema(engine: Engine) -> None:
    """SQLite files are upgraded on open; a PostgreSQL database must be upgraded by an admin."""
    revisions = current_revisions(engine)
    if revisions == SCHEMA_HEADS:
        return
    if engine.dialect.name == "sqlite":
        upgrade(engine)
        return
    raise SchemaOutOfDate(
        f"the database schema is at {','.join(sorted(revisions)) or 'nothing'}, "
        f"this regdesk needs {','.join(sorted(SCHEMA_HEADS))}: "
        "run 'regdesk db upgrade'"
    )
