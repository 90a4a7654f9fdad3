"""Cluster: leases on feeds, and the node that made each feed's last poll.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("feed", sa.String(200), primary_key=True),
        sa.Column("node", sa.String(200), nullable=False),
        sa.Column("token", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("node", sa.String(200)))


def downgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("node")
    op.drop_table("leases")
