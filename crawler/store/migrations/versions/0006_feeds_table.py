"""Feeds in the store: each feed's route and settings hash, retired feeds, the synced config; due feeds indexed.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # All nullable: the rows of older stores are feeds the next sync hashes (and retires if the
    # config no longer has them); until then they are polled as before.
    with op.batch_alter_table("feeds") as batch:
        batch.add_column(sa.Column("route", sa.Text))
        batch.add_column(sa.Column("settings_hash", sa.String(64)))
        batch.add_column(sa.Column("retired", sa.DateTime(timezone=True)))
    op.create_index("feeds_by_due", "feeds", ["next_due"])
    op.create_table(
        "feed_config",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("node", sa.String(200)),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("feeds", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("feed_config")
    op.drop_index("feeds_by_due", "feeds")
    with op.batch_alter_table("feeds") as batch:
        for column in ("retired", "settings_hash", "route"):
            batch.drop_column(column)
