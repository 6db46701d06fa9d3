"""number sequences get a Continuous flag (issue 9: writers wait milliseconds, not seconds)

Revision ID: 0006
Revises: 0011
Create Date: 2026-11-28 09:00:00

Continuous (gap-free) stays the rule for every sequence but the registration numbers
(``signup``), which become non-continuous: taken in their own tiny transaction so a sign-up
never waits for another one's transaction. Admins change it with ``regdesk sequences set
CODE --continuous/--no-continuous``. Self-contained: works whatever migration ran before.
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: Union[str, None] = "0011"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

NON_CONTINUOUS = ("signup",)


def upgrade() -> None:
    with op.batch_alter_table("numbersequence") as batch:
        batch.add_column(sa.Column("continuous", sa.Boolean(), nullable=False, server_default=sa.true()))
    table = sa.table("numbersequence", sa.column("code", sa.String), sa.column("continuous", sa.Boolean))
    op.execute(table.update().where(table.c.code.in_(NON_CONTINUOUS)).values(continuous=False))


def downgrade() -> None:
    with op.batch_alter_table("numbersequence") as batch:
        batch.drop_column("continuous")
