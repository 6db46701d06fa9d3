"""workflow engine: workflowdefinition, workflowstep, workflowinstance, workitem

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 10:00:00
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0002"
down_revision: Union[str, None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

S = sqlmodel.sql.sqltypes.AutoString
T = sqlmodel.sql.sqltypes.UTCDateTime
_OPEN = "status IN ('running', 'change_requested')"


def upgrade() -> None:
    op.create_table(
        "workflowdefinition",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("doc_type", S(length=40), nullable=False),
        sa.Column("name", S(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("description", S(length=500), nullable=False),
        sa.Column("condition", sa.Text(), server_default="", nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("source", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("created_by", S(length=64), nullable=False),
        sa.Column("activated_at", T(), nullable=True),
        sa.Column("activated_by", S(length=64), nullable=True),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflowdefinition")),
        sa.UniqueConstraint("doc_type", "name", "version", name=op.f("uq_workflowdefinition_doc_type_name_version")),
    )
    with op.batch_alter_table("workflowdefinition", schema=None) as batch_op:
        batch_op.create_index(
            "uq_workflowdefinition_active",
            ["doc_type", "name"],
            unique=True,
            sqlite_where=sa.text("active = 1"),
            postgresql_where=sa.text("active"),
        )

    op.create_table(
        "workflowstep",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("name", S(length=60), nullable=False),
        sa.Column("kind", S(length=12), nullable=False),
        sa.Column("assignee_kind", S(length=10), nullable=False),
        sa.Column("assignee", S(length=64), nullable=False),
        sa.Column("policy", S(length=10), nullable=False),
        sa.Column("condition", sa.Text(), server_default="", nullable=False),
        sa.Column("time_limit_hours", sa.Integer(), nullable=True),
        sa.Column("reminder_hours", sa.Integer(), nullable=True),
        sa.Column("escalation", sa.Text(), server_default="[]", nullable=False),
        sa.Column("final_action", S(length=10), nullable=False),
        sa.Column("action", S(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["definition_id"], ["workflowdefinition.id"], name=op.f("fk_workflowstep_definition_id_workflowdefinition")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflowstep")),
        sa.UniqueConstraint("definition_id", "sequence", name=op.f("uq_workflowstep_definition_id_sequence")),
    )
    with op.batch_alter_table("workflowstep", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workflowstep_definition_id"), ["definition_id"], unique=False)

    op.create_table(
        "workflowinstance",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("doc_type", S(length=40), nullable=False),
        sa.Column("doc_key", S(length=64), nullable=False),
        sa.Column("definition_id", sa.Integer(), nullable=False),
        sa.Column("status", S(length=20), nullable=False),
        sa.Column("current_step", sa.Integer(), nullable=True),
        sa.Column("activation", sa.Integer(), nullable=False),
        sa.Column("submitter", S(length=64), nullable=False),
        sa.Column("started_at", T(), nullable=False),
        sa.Column("updated_at", T(), nullable=False),
        sa.Column("ended_at", T(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["definition_id"],
            ["workflowdefinition.id"],
            name=op.f("fk_workflowinstance_definition_id_workflowdefinition"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflowinstance")),
    )
    with op.batch_alter_table("workflowinstance", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workflowinstance_definition_id"), ["definition_id"], unique=False)
        batch_op.create_index("ix_workflowinstance_doc", ["doc_type", "doc_key", "id"], unique=False)
        batch_op.create_index(
            "uq_workflowinstance_open",
            ["doc_type", "doc_key"],
            unique=True,
            sqlite_where=sa.text(_OPEN),
            postgresql_where=sa.text(_OPEN),
        )

    op.create_table(
        "workitem",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("activation", sa.Integer(), nullable=False),
        sa.Column("step_sequence", sa.Integer(), nullable=False),
        sa.Column("step_name", S(length=60), nullable=False),
        sa.Column("assignee", S(length=64), nullable=False),
        sa.Column("assigned_via", S(length=120), nullable=False),
        sa.Column("status", S(length=20), nullable=False),
        sa.Column("created_at", T(), nullable=False),
        sa.Column("due_at", T(), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("delegated_from", S(length=64), nullable=True),
        sa.Column("decided_by", S(length=64), nullable=True),
        sa.Column("decided_at", T(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("reminders_sent", sa.Integer(), nullable=False),
        sa.Column("last_reminded_at", T(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"], ["workflowinstance.id"], name=op.f("fk_workitem_instance_id_workflowinstance")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workitem")),
    )
    with op.batch_alter_table("workitem", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workitem_instance_id"), ["instance_id"], unique=False)
        batch_op.create_index("ix_workitem_assignee_status", ["assignee", "status"], unique=False)
        batch_op.create_index("ix_workitem_status_due", ["status", "due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("workitem", schema=None) as batch_op:
        batch_op.drop_index("ix_workitem_status_due")
        batch_op.drop_index("ix_workitem_assignee_status")
        batch_op.drop_index(batch_op.f("ix_workitem_instance_id"))
    op.drop_table("workitem")
    with op.batch_alter_table("workflowinstance", schema=None) as batch_op:
        batch_op.drop_index("uq_workflowinstance_open")
        batch_op.drop_index("ix_workflowinstance_doc")
        batch_op.drop_index(batch_op.f("ix_workflowinstance_definition_id"))
    op.drop_table("workflowinstance")
    with op.batch_alter_table("workflowstep", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflowstep_definition_id"))
    op.drop_table("workflowstep")
    with op.batch_alter_table("workflowdefinition", schema=None) as batch_op:
        batch_op.drop_index("uq_workflowdefinition_active")
    op.drop_table("workflowdefinition")
