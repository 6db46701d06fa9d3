"""work items: when tick must next look at each one, My work's order and own submissions as indexes (issues 8, 10)

Revision ID: 0011
Revises: 0009 (was 0005; re-chained after main's 0008)
Create Date: 2026-11-28 09:00:00

``workitem.next_check_at`` is the item's due time or next reminder, whichever is first;
``tick`` finds due items through ``ix_workitem_status_check`` instead of reading every open
item. Open items that exist already get their creation time, so the first tick after the
upgrade looks at each of them once and schedules it properly. Self-contained: it only adds a
column and indexes to ``workitem`` (created by 0002).
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0011"
down_revision: Union[str, None] = "0009"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("workitem", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_check_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.execute("UPDATE workitem SET next_check_at = created_at WHERE status = 'open'")
    op.create_index("ix_workitem_status_check", "workitem", ["status", "next_check_at"], unique=False)
    op.create_index(
        "ix_workitem_assignee_inbox", "workitem", ["assignee", "status", "due_at", "created_at", "id"], unique=False
    )
    op.create_index("ix_workitem_inbox", "workitem", ["status", "due_at", "created_at", "id"], unique=False)
    op.create_index("ix_workitem_assignee_instance", "workitem", ["assignee", "status", "instance_id"], unique=False)
    op.create_index("ix_workflowinstance_submitter", "workflowinstance", ["submitter", "status"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_workflowinstance_submitter", table_name="workflowinstance")
    op.drop_index("ix_workitem_assignee_instance", table_name="workitem")
    op.drop_index("ix_workitem_inbox", table_name="workitem")
    op.drop_index("ix_workitem_assignee_inbox", table_name="workitem")
    op.drop_index("ix_workitem_status_check", table_name="workitem")
    with op.batch_alter_table("workitem", schema=None) as batch_op:
        batch_op.drop_column("next_check_at")
