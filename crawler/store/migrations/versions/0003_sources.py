"""Sources: RSSHub instance rests and per-instance validators, robots.txt copies, the instance of the last poll.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "instance_rests",
        sa.Column("instance", sa.Text, primary_key=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "feed_validators",
        sa.Column("feed", sa.String(200), primary_key=True),
        sa.Column("instance", sa.Text, primary_key=True),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
    )
    op.create_table(
        "robots",
        sa.Column("origin", sa.Text, primary_key=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Integer),
        sa.Column("body", sa.Text, nullable=False, server_default=""),
    )
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("instance", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("feeds") as batch:
        batch.drop_column("instance")
    op.drop_table("robots")
    op.drop_table("feed_validators")
    op.drop_table("instance_rests")
