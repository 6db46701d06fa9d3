"""no working token at rest in the outbox (issue 11)

Revision ID: 0008
Revises: 0005
Create Date: 2026-11-28 09:30:00

Data only, no schema change. Mail queued before links were minted at send time kept the
raw token in ``outboxemail.body`` until it was sent (dead mail: for ever). Each such token
in a row not yet sent becomes the row's ``[[token:<nonce>]]`` slot (services/mail.py), so the
sender mints a fresh token when it sends the mail (the old one is voided then); a row whose
Message-ID gives no nonce loses the link. Self-contained: works after any other migration.
"""

import re
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: Union[str, None] = "0005"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TOKEN = re.compile(r"rdk_[A-Za-z0-9_-]{20,}")
MESSAGE_ID = re.compile(r"^<([0-9a-f]{32})@")


def upgrade() -> None:
    bind = op.get_bind()
    outbox = sa.table(
        "outboxemail",
        sa.column("id", sa.Integer),
        sa.column("body", sa.Text),
        sa.column("message_id", sa.String),
        sa.column("status", sa.String),
    )
    rows = bind.execute(
        sa.select(outbox.c.id, outbox.c.body, outbox.c.message_id).where(
            outbox.c.status != "sent", outbox.c.body.like("%rdk\\_%", escape="\\")
        )
    ).all()
    for row_id, body, message_id in rows:
        match = MESSAGE_ID.match(message_id or "")
        replacement = f"[[token:{match.group(1)}]]" if match else "[link removed: ask for a new one]"
        bind.execute(sa.update(outbox).where(outbox.c.id == row_id).values(body=TOKEN.sub(replacement, body)))


def downgrade() -> None:
    pass  # the raw tokens are gone by design
