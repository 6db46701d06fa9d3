"""Schema versions: Alembic upgrades, and a cheap "is it current?" check on open."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection, Engine

from services.errors import SchemaOutOfDate, SchemaTooNew
from services.schema_heads import SCHEMA_HEADS

if TYPE_CHECKING:  # alembic is imported only when a migration runs
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "models" / "migrations"


def current_revisions(engine: Engine) -> frozenset[str]:
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return frozenset()
        return frozenset(conn.execute(text("SELECT version_num FROM alembic_version")).scalars())


def current_revision(engine: Engine) -> str | None:
    revs = current_revisions(engine)
    return ",".join(sorted(revs)) or None


def known_revisions() -> frozenset[str]:
    """Every revision id this regdesk ships (from the migration file names: no Alembic import)."""
    versions = MIGRATIONS_DIR / "versions"
    return frozenset(p.name.split("_", 1)[0] for p in versions.glob("*.py") if p.name[:1].isdigit())


def refuse_newer(revisions: frozenset[str]) -> None:
    """A database upgraded by a newer regdesk: say so (and which revision) instead of touching it."""
    unknown = sorted(revisions - known_revisions())
    if unknown:
        raise SchemaTooNew(
            f"this database was upgraded by a newer regdesk (revision {', '.join(unknown)}); install that version"
        )


def _alembic_config(connection: Connection) -> Config:
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
        if inspect(conn).has_table("alembic_version"):
            refuse_newer(frozenset(conn.execute(text("SELECT version_num FROM alembic_version")).scalars()))
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
    refuse_newer(revisions)
    if engine.dialect.name == "sqlite":
        upgrade(engine)
        return
    raise SchemaOutOfDate(
        f"the database schema is at {','.join(sorted(revisions)) or 'nothing'}, "
        f"this regdesk needs {','.join(sorted(SCHEMA_HEADS))}: "
        "run 'regdesk db upgrade'"
    )
