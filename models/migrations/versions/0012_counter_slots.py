"""status counters in slots: concurrent writers of one area no longer queue on one row (issue 9)

Revision ID: 0012
Revises: 0010
Create Date: 2026-11-28 12:00:00

``statuscount`` gets a ``slot`` column (primary key (area, status, slot)); the kept count of
a status is the sum of its slots (``services.counters``, ``services.quick``).

* PostgreSQL: the statement-level triggers of 0007 now hand each (area, status, delta) to
  ``regdesk_count_add``, which adds the delta (negative for deletes and moves out) to a slot
  row that *no other open transaction holds*: ``SELECT .. FOR UPDATE SKIP LOCKED`` picks a
  free existing slot (or one this transaction already holds); when every slot of that status
  is held, it inserts a new slot numbered after the backend's pid (``pg_backend_pid() + i *
  2^22``, the first such slot that does not exist yet; pids are unique among live backends and
  below 2^22, so two open transactions never try to insert the same slot, and none inserts
  next to an existing row another transaction holds, which its uniqueness check would wait for).
  So a counter change never waits for another transaction, and the number of slots of a
  status stays at most the number of transactions that ever changed it at the same moment.
  Chosen over ``pg_backend_pid() % N`` / ``txid % N``: both still put two open transactions on
  one row now and then (20 backends in 16 slots always do), and a long import would then
  hold up every writer that hashes onto its slot.
* SQLite (one writer at a time anyway): slot 0 only; a delete / move out is an upsert of -1.

Every existing count moves to slot 0. ``regdesk db check-counters --repair`` folds an area's
slots back into slot 0.
"""

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0012"
down_revision: Union[str, None] = "0010"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# area -> (table, status column or None: one count of every row); as 0007, services/counters.py AREAS
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

PG_ADD = """CREATE OR REPLACE FUNCTION regdesk_count_add(a text, s text, k bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    free integer;
    i integer := 0;
BEGIN
    IF k = 0 THEN
        RETURN;
    END IF;
    -- a slot no other open transaction holds (or one this transaction holds already): never waits
    SELECT slot INTO free FROM statuscount WHERE area = a AND status = s
        ORDER BY slot LIMIT 1 FOR UPDATE SKIP LOCKED;
    IF FOUND THEN
        UPDATE statuscount SET n = n + k WHERE area = a AND status = s AND slot = free;
        RETURN;
    END IF;
    -- every slot is held (or there is none yet): a new one of this backend's own, numbered so
    -- that no other live backend tries the same one, and not one that exists already (the
    -- uniqueness check would wait for whoever holds that row)
    LOOP
        IF NOT EXISTS (SELECT 1 FROM statuscount WHERE area = a AND status = s
                       AND slot = pg_backend_pid() + i * 4194304) THEN
            INSERT INTO statuscount (area, status, slot, n) VALUES (a, s, pg_backend_pid() + i * 4194304, k)
                ON CONFLICT (area, status, slot) DO NOTHING;
            IF FOUND THEN
                RETURN;
            END IF;
        END IF;
        i := i + 1;
        IF i > 500 THEN
            RAISE EXCEPTION 'regdesk_count_add: no free counter slot for % %', a, s;
        END IF;
    END LOOP;
END $$"""


def _sqlite_counter(area: str, table: str, column: str | None) -> list[str]:
    def value(row: str) -> str:
        return f"{row}.{column}" if column else "''"

    def delta(row: str, k: int) -> str:
        return (
            f"INSERT INTO statuscount (area, status, slot, n) VALUES ('{area}', {value(row)}, 0, {k}) "
            f"ON CONFLICT (area, status, slot) DO UPDATE SET n = n + ({k});"
        )

    out = [
        f"CREATE TRIGGER trg_{table}_count_ins AFTER INSERT ON {table} BEGIN {delta('new', 1)} END",
        f"CREATE TRIGGER trg_{table}_count_del AFTER DELETE ON {table} BEGIN {delta('old', -1)} END",
    ]
    if column:
        out.append(
            f"CREATE TRIGGER trg_{table}_count_upd AFTER UPDATE OF {column} ON {table} "
            f"WHEN old.{column} IS NOT new.{column} BEGIN {delta('old', -1)} {delta('new', 1)} END"
        )
    return out


def _pg_counter_function(area: str, table: str, column: str | None) -> str:
    """The trigger function of 0007, same name and triggers: one delta per status per statement."""

    def value(row: str) -> str:
        return f"{row}.{column}" if column else "''"

    if column:
        moved = (
            f"SELECT status, sum(k) AS k FROM ("
            f"SELECT o.{column} AS status, -1 AS k FROM old_rows o JOIN new_rows r ON r.id = o.id "
            f"WHERE o.{column} IS DISTINCT FROM r.{column} UNION ALL "
            f"SELECT r.{column}, 1 FROM old_rows o JOIN new_rows r ON r.id = o.id "
            f"WHERE o.{column} IS DISTINCT FROM r.{column}) m GROUP BY status"
        )
        on_update = f"""FOR d IN {moved} LOOP
            PERFORM regdesk_count_add('{area}', d.status, d.k);
        END LOOP;"""
    else:
        on_update = "NULL;"
    return f"""CREATE OR REPLACE FUNCTION regdesk_count_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d record;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM statuscount WHERE area = '{area}';
    ELSIF TG_OP = 'INSERT' THEN
        FOR d IN SELECT {value("r")} AS status, count(*) AS k FROM new_rows r GROUP BY 1 LOOP
            PERFORM regdesk_count_add('{area}', d.status, d.k);
        END LOOP;
    ELSIF TG_OP = 'DELETE' THEN
        FOR d IN SELECT {value("r")} AS status, count(*) AS k FROM old_rows r GROUP BY 1 LOOP
            PERFORM regdesk_count_add('{area}', d.status, -d.k);
        END LOOP;
    ELSIF TG_OP = 'UPDATE' THEN
        {on_update}
    END IF;
    RETURN NULL;
END $$"""


def _slotted_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("area", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("area", "status", "slot", name=op.f(f"pk_{name}")),
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table, column in COUNTED.values():
            for suffix in ("ins", "del", "upd"):
                op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_count_{suffix}")
        _slotted_table("statuscount_slots")
        op.execute("INSERT INTO statuscount_slots (area, status, slot, n) SELECT area, status, 0, n FROM statuscount")
        op.drop_table("statuscount")
        op.rename_table("statuscount_slots", "statuscount")
        for area, (table, column) in COUNTED.items():
            for sql in _sqlite_counter(area, table, column):
                op.execute(sql)
        return
    op.add_column("statuscount", sa.Column("slot", sa.Integer(), nullable=False, server_default="0"))
    op.execute("ALTER TABLE statuscount DROP CONSTRAINT pk_statuscount")
    op.execute("ALTER TABLE statuscount ADD CONSTRAINT pk_statuscount PRIMARY KEY (area, status, slot)")
    op.execute(PG_ADD)
    for area, (table, column) in COUNTED.items():
        op.execute(_pg_counter_function(area, table, column))


def _rev0007() -> ModuleType:
    path = Path(__file__).with_name("0007_search_sort_counts.py")
    spec = importlib.util.spec_from_file_location("regdesk_rev0007", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def downgrade() -> None:
    old = _rev0007()
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for table, column in COUNTED.values():
            for suffix in ("ins", "del", "upd"):
                op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_count_{suffix}")
    op.create_table(
        "statuscount_one",
        sa.Column("area", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("area", "status", name=op.f("pk_statuscount_one")),
    )
    op.execute(
        "INSERT INTO statuscount_one (area, status, n) SELECT area, status, sum(n) FROM statuscount "
        "GROUP BY area, status"
    )
    op.drop_table("statuscount")
    op.rename_table("statuscount_one", "statuscount")
    if not sqlite:
        op.execute("ALTER TABLE statuscount RENAME CONSTRAINT pk_statuscount_one TO pk_statuscount")
        op.execute("DROP FUNCTION IF EXISTS regdesk_count_add(text, text, bigint)")
    for area, (table, column) in COUNTED.items():
        for sql in (old._sqlite_counter if sqlite else old._pg_counter)(area, table, column):
            if sqlite or sql.startswith("CREATE OR REPLACE FUNCTION"):  # PG: the triggers stayed
                op.execute(sql)
