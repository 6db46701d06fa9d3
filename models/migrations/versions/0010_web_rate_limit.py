"""web pages: attempt counters shared by every serve process

Revision ID: 0010
Revises: 0007
Create Date: 2026-11-28 09:00:00
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0010"
down_revision: Union[str, None] = "0007"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "webratelimit",
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
        sa.Column("window_start", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_webratelimit")),
    )
    with op.batch_alter_table("webratelimit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_webratelimit_window_start"), ["window_start"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("webratelimit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_webratelimit_window_start"))
    op.drop_table("webratelimit")
