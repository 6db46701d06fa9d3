"""user requests: case-insensitive indexes of the portal user name and e-mail asked for (issue 10)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-29 09:00:00

My work's search finds a user request by the portal user name or e-mail it asks for (both in
My work's Summary), case-insensitively. Without an index of their own, the search read every
user request in a running workflow (8 ms at 10k open requests on SQLite, 2.6x the same search at
10); ``lower(user_name)`` and ``lower(email)`` indexes make it two lookups on both stores.
"""

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: Union[str, None] = "0014"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

INDEXES = {"ix_userrequest_user_name_lower": "user_name", "ix_userrequest_email_lower": "email"}


def upgrade() -> None:
    for name, column in INDEXES.items():
        op.create_index(name, "userrequest", [sa.text(f"lower({column})")])


def downgrade() -> None:
    for name in INDEXES:
        op.drop_index(name, table_name="userrequest")
