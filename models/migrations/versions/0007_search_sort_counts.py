"""search indexes, sort indexes and kept status counters (issue 10)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 09:00:00

* Sort indexes: every sort of the Registration list, with and without a status filter,
  and the audit trail by entity key.
* Search indexes the store provides, kept in the transaction that writes the row:
  SQLite FTS5 external-content tables (trigram tokenizer, kept by triggers), PostgreSQL
  pg_trgm GIN indexes on the lower-cased searchable columns joined by chr(31) (a control
  character, which a cleaned search term never contains, so no match spans two columns).
* ``statuscount``: rows per (area, status), kept by triggers on insert, delete and every
  change of the status column, filled here from the existing rows.

Self-contained: it needs only the tables of 0001-0005.
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0007"
down_revision: Union[str, None] = "0006"  # chained after 0006 at the merge (written against 0005)
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# table -> searchable columns (services/search.py SEARCHABLE says the same; a test checks)
SEARCHABLE = {
    "signuprequest": ("company", "first_name", "last_name", "email", "user_name"),
    "customer": ("account", "name", "email", "city"),
    "customercase": ("title", "contact_name"),
    "prospect": ("company", "first_name", "last_name", "email"),
}
# area -> (table, status column or None: one count of every row); services/counters.py AREAS
COUNTED = {
    "signup": ("signuprequest", "status"),
    "user_request": ("userrequest", "status"),
    "customer": ("customer", None),
    "case": ("customercase", "status"),
    "prospect": ("prospect", "status"),
    "lead": ("lead", "status"),
    "opportunity": ("opportunity", "status"),
    "change_proposal": ("changeproposal", "state"),
}
INDEXES = [
    ("ix_signuprequest_company_id", "signuprequest", ["company", "id"]),
    ("ix_signuprequest_status_company", "signuprequest", ["status", "company", "id"]),
    ("ix_signuprequest_email_id", "signuprequest", ["email_normalized", "id"]),
    ("ix_signuprequest_status_email", "signuprequest", ["status", "email_normalized", "id"]),
    ("ix_signuprequest_name_id", "signuprequest", ["last_name", "id"]),
    ("ix_signuprequest_status_name", "signuprequest", ["status", "last_name", "id"]),
    ("ix_signuprequest_user_name", "signuprequest", ["user_name"]),
    ("ix_userrequest_status_id", "userrequest", ["status", "id"]),
    ("ix_auditevent_entity_key", "auditevent", ["entity_key", "id"]),
]


def _sqlite_search(table: str, columns: tuple[str, ...]) -> list[str]:
    fts = f"{table}_search"
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{table}', content_rowid='id', tokenize='trigram')",
        f"CREATE TRIGGER trg_{table}_search_ins AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {fts} (rowid, {cols}) VALUES (new.id, {new}); END",
        f"CREATE TRIGGER trg_{table}_search_del AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {fts} ({fts}, rowid, {cols}) VALUES ('delete', old.id, {old}); END",
        f"CREATE TRIGGER trg_{table}_search_upd AFTER UPDATE OF {cols} ON {table} BEGIN "
        f"INSERT INTO {fts} ({fts}, rowid, {cols}) VALUES ('delete', old.id, {old}); "
        f"INSERT INTO {fts} (rowid, {cols}) VALUES (new.id, {new}); END",
        f"INSERT INTO {fts} ({fts}) VALUES ('rebuild')",
    ]


def pg_document(columns: tuple[str, ...]) -> str:
    return "lower(" + " || chr(31) || ".join(columns) + ")"


def _pg_search(table: str, columns: tuple[str, ...]) -> list[str]:
    return [f"CREATE INDEX ix_{table}_search ON {table} USING gin ({pg_document(columns)} gin_trgm_ops)"]


def _sqlite_counter(area: str, table: str, column: str | None) -> list[str]:
    def value(row: str) -> str:
        return f"{row}.{column}" if column else "''"

    def add(row: str) -> str:
        return (
            f"INSERT INTO statuscount (area, status, n) VALUES ('{area}', {value(row)}, 1) "
            "ON CONFLICT (area, status) DO UPDATE SET n = n + 1;"
        )

    def sub(row: str) -> str:
        return f"UPDATE statuscount SET n = n - 1 WHERE area = '{area}' AND status = {value(row)};"

    out = [
        f"CREATE TRIGGER trg_{table}_count_ins AFTER INSERT ON {table} BEGIN {add('new')} END",
        f"CREATE TRIGGER trg_{table}_count_del AFTER DELETE ON {table} BEGIN {sub('old')} END",
    ]
    if column:
        out.append(
            f"CREATE TRIGGER trg_{table}_count_upd AFTER UPDATE OF {column} ON {table} "
            f"WHEN old.{column} IS NOT new.{column} BEGIN {sub('old')} {add('new')} END"
        )
    return out


def _pg_counter(area: str, table: str, column: str | None) -> list[str]:
    """Statement-level triggers over transition tables: one upsert per status per statement, so a
    bulk load of N rows touches each counter row once (row triggers would update one row N times
    in one transaction, each update walking the growing chain of its versions)."""

    def value(row: str) -> str:
        return f"{row}.{column}" if column else "''"

    fn = f"regdesk_count_{table}"
    add = (
        f"INSERT INTO statuscount (area, status, n) SELECT '{area}', {value('r')}, count(*) FROM new_rows r "
        f"GROUP BY 2 ON CONFLICT (area, status) DO UPDATE SET n = statuscount.n + excluded.n;"
    )
    sub = (
        f"UPDATE statuscount c SET n = c.n - d.k FROM (SELECT {value('r')} AS status, count(*) AS k FROM old_rows r "
        f"GROUP BY 1) d WHERE c.area = '{area}' AND c.status = d.status;"
    )
    if column:
        moved_sub = (
            f"UPDATE statuscount c SET n = c.n - d.k FROM (SELECT o.{column} AS status, count(*) AS k "
            f"FROM old_rows o JOIN new_rows r ON r.id = o.id WHERE o.{column} IS DISTINCT FROM r.{column} "
            f"GROUP BY 1) d WHERE c.area = '{area}' AND c.status = d.status;"
        )
        moved_add = (
            f"INSERT INTO statuscount (area, status, n) SELECT '{area}', r.{column}, count(*) FROM old_rows o "
            f"JOIN new_rows r ON r.id = o.id WHERE o.{column} IS DISTINCT FROM r.{column} GROUP BY 2 "
            f"ON CONFLICT (area, status) DO UPDATE SET n = statuscount.n + excluded.n;"
        )
    else:
        moved_sub = moved_add = ""
    out = [
        f"""CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM statuscount WHERE area = '{area}';
    ELSIF TG_OP = 'INSERT' THEN
        {add}
    ELSIF TG_OP = 'DELETE' THEN
        {sub}
    ELSIF TG_OP = 'UPDATE' THEN
        {moved_sub}
        {moved_add}
    END IF;
    RETURN NULL;
END $$""",
        f"CREATE TRIGGER trg_{table}_count_ins AFTER INSERT ON {table} REFERENCING NEW TABLE AS new_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {fn}()",
        f"CREATE TRIGGER trg_{table}_count_del AFTER DELETE ON {table} REFERENCING OLD TABLE AS old_rows "
        f"FOR EACH STATEMENT EXECUTE FUNCTION {fn}()",
        f"CREATE TRIGGER trg_{table}_count_truncate AFTER TRUNCATE ON {table} FOR EACH STATEMENT EXECUTE FUNCTION {fn}()",
    ]
    if column:
        # a column list is not allowed with transition tables: every UPDATE statement fires it,
        # and only rows whose status moved count
        out.append(
            f"CREATE TRIGGER trg_{table}_count_upd AFTER UPDATE ON {table} REFERENCING OLD TABLE AS old_rows "
            f"NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION {fn}()"
        )
    return out


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for name, table, index_columns in INDEXES:
        op.create_index(name, table, index_columns)
    op.create_table(
        "statuscount",
        sa.Column("area", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("area", "status", name=op.f("pk_statuscount")),
    )
    if not sqlite:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, columns in SEARCHABLE.items():
        for sql in (_sqlite_search if sqlite else _pg_search)(table, columns):
            op.execute(sql)
    for area, (table, column) in COUNTED.items():
        op.execute(
            f"INSERT INTO statuscount (area, status, n) SELECT '{area}', "
            f"{column if column else chr(39) * 2}, count(*) FROM {table} GROUP BY 1, 2"
        )
        for sql in (_sqlite_counter if sqlite else _pg_counter)(area, table, column):
            op.execute(sql)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for area, (table, column) in COUNTED.items():
        if sqlite:
            for suffix in ("ins", "del", "upd"):
                op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_count_{suffix}")
        else:
            for name in ("count_ins", "count_del", "count_truncate", "count_upd"):
                op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_{name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS regdesk_count_{table}()")
    for table in SEARCHABLE:
        if sqlite:
            for suffix in ("ins", "del", "upd"):
                op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_search_{suffix}")
            op.execute(f"DROP TABLE IF EXISTS {table}_search")
        else:
            op.execute(f"DROP INDEX IF EXISTS ix_{table}_search")
    op.drop_table("statuscount")
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
