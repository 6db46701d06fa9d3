"""prospect pages: the company and e-mail sorts served by (column, id) indexes (issue 10)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-28 19:00:00

The Prospects pages sort by ``company_normalized`` or ``email_normalized`` with the id as the
tie-breaker. 0005 indexed each column alone: SQLite's index carries the rowid and serves
(column, id), but PostgreSQL's does not, and sorted every page (``Incremental Sort`` on top of
the index walk). Each single-column index is replaced by a (column, id) one, which serves the
same equality lookups (the e-mail key of a search, the duplicate hints) and the sort, on both
stores, for the same cost per write.
"""

from typing import Sequence, Union

from alembic import op

revision: str = "0014"
down_revision: Union[str, None] = "0013"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

REPLACED = {
    # old single-column index -> (new index, its column)
    "ix_prospect_company_normalized": ("ix_prospect_company_id", "company_normalized"),
    "ix_prospect_email_normalized": ("ix_prospect_email_id", "email_normalized"),
}


def upgrade() -> None:
    for old, (new, column) in REPLACED.items():
        op.create_index(new, "prospect", [column, "id"])
        op.drop_index(old, table_name="prospect")


def downgrade() -> None:
    for old, (new, column) in REPLACED.items():
        op.create_index(old, "prospect", [column])
        op.drop_index(new, table_name="prospect")
