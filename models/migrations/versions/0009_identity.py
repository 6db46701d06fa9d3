"""identity and audit (issue 11): the connected login on every audit row, the demo mark,
and on PostgreSQL the operator group roles with their privileges

Revision ID: 0009
Revises: 0008

* ``auditevent.db_login`` (the database login on PostgreSQL, the OS login on SQLite) and
  ``auditevent.acting_reason``; on PostgreSQL a trigger sets ``db_login`` from
  ``session_user`` on every insert, so an operator cannot write someone else's name there;
  a new record or status change of any status-bearing table (``identity.STATUS_AUDITED``) by
  an operator login needs an audit row of that record in the same transaction (``db_xact``),
  checked at commit; operator logins cannot DELETE those tables' rows.
* ``storeflag``: ``demo`` marks a database made by ``regdesk demo`` (``--as`` allowed on SQLite).
* PostgreSQL: the group roles ``regdesk_support``, ``regdesk_approver``, ``regdesk_admin``
  (created if missing; roles are cluster-wide) and their privileges in this database
  (``services.identity.pg_setup``; ``regdesk db upgrade`` applies it again after every upgrade).
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0009"
down_revision: Union[str, None] = "0008"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("auditevent") as batch:
        batch.add_column(sa.Column("db_login", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("acting_reason", sa.Text(), nullable=True))
        batch.add_column(sa.Column("db_xact", sa.BigInteger(), nullable=True))
    op.create_table(
        "storeflag",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("set_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        from services.identity import pg_setup

        pg_setup(bind)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS regdesk_audit_login ON auditevent")
        op.execute("DROP FUNCTION IF EXISTS regdesk_audit_login()")
        from services.identity import STATUS_AUDITED

        for table, _, _ in STATUS_AUDITED:
            op.execute(f'DROP TRIGGER IF EXISTS regdesk_status_audited ON "{table}"')
        op.execute("DROP FUNCTION IF EXISTS regdesk_status_audited()")
    op.drop_table("storeflag")
    with op.batch_alter_table("auditevent") as batch:
        batch.drop_column("db_xact")
        batch.drop_column("acting_reason")
        batch.drop_column("db_login")
