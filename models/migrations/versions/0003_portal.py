"""portal users; outbox delivery lease

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 10:00:00
"""

from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0003"
down_revision: Union[str, None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "portaluser",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("user_name_key", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=254), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.Column("user_request_id", sa.Integer(), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=24), nullable=False),
        sa.Column("password_hash", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("created_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("activated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("disabled_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("disabled_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["contactperson.id"], name=op.f("fk_portaluser_contact_id_contactperson")
        ),
        sa.ForeignKeyConstraint(["customer_id"], ["customer.id"], name=op.f("fk_portaluser_customer_id_customer")),
        sa.ForeignKeyConstraint(["role_id"], ["portalrole.id"], name=op.f("fk_portaluser_role_id_portalrole")),
        sa.ForeignKeyConstraint(
            ["user_request_id"], ["userrequest.id"], name=op.f("fk_portaluser_user_request_id_userrequest")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portaluser")),
        sa.UniqueConstraint("user_name_key", name=op.f("uq_portaluser_user_name_key")),
        sa.UniqueConstraint("user_request_id", name=op.f("uq_portaluser_user_request_id")),
    )
    with op.batch_alter_table("portaluser", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portaluser_customer_id"), ["customer_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_portaluser_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_portaluser_user_name"), ["user_name"], unique=True)

    with op.batch_alter_table("outboxemail", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_id", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column("lease_until", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outboxemail", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_id")
    with op.batch_alter_table("portaluser", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portaluser_user_name"))
        batch_op.drop_index(batch_op.f("ix_portaluser_status"))
        batch_op.drop_index(batch_op.f("ix_portaluser_customer_id"))
    op.drop_table("portaluser")
