"""Alembic environment: runs on the connection regdesk hands it (see services/schema.py)."""

from alembic import context

import models

target_metadata = models.metadata
connection = context.config.attributes.get("connection")


def run() -> None:
    if connection is None:  # pragma: no cover - regdesk always passes a connection
        raise RuntimeError("run migrations through 'regdesk db upgrade'")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
