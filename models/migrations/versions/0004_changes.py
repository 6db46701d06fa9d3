"""proposed customer changes: changeproposal, changeline

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 11:00:00
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0004"
down_revision: Union[str, None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_OPEN = sa.text("state IN ('Not submitted', 'Submitted')")


def upgrade() -> None:
    op.create_table(
        "changeproposal",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("account", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("state", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("submitted_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("submitted_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("workflow_instance_id", sa.Integer(), nullable=True),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], name=op.f("fk_changeproposal_customer_id_customer")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_changeproposal")),
    )
    with op.batch_alter_table("changeproposal", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_changeproposal_number"), ["number"], unique=True)
        batch_op.create_index(batch_op.f("ix_changeproposal_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_changeproposal_state"), ["state"], unique=False)
        batch_op.create_index(
            "uq_changeproposal_open_customer", ["customer_id"], unique=True, sqlite_where=_OPEN, postgresql_where=_OPEN
        )

    op.create_table(
        "changeline",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("field", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("original_value", sa.Text(), nullable=False),
        sa.Column("proposed_value", sa.Text(), nullable=False),
        sa.Column("proposed_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("proposed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("decision", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("decided_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("decided_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("current_at_decision", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["changeproposal.id"], name=op.f("fk_changeline_proposal_id_changeproposal")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_changeline")),
        sa.UniqueConstraint("proposal_id", "field", name=op.f("uq_changeline_proposal_id_field")),
    )
    with op.batch_alter_table("changeline", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_changeline_proposal_id"), ["proposal_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("changeline", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_changeline_proposal_id"))
    op.drop_table("changeline")
    with op.batch_alter_table("changeproposal", schema=None) as batch_op:
        batch_op.drop_index("uq_changeproposal_open_customer", sqlite_where=_OPEN, postgresql_where=_OPEN)
        batch_op.drop_index(batch_op.f("ix_changeproposal_state"))
        batch_op.drop_index(batch_op.f("ix_changeproposal_customer_id"))
        batch_op.drop_index(batch_op.f("ix_changeproposal_number"))
    op.drop_table("changeproposal")
