"""The schema of feed-archiver 0.1.0, which carried no version: a 0.1.0 store is stamped here.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feeds",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("last_poll", sa.DateTime(timezone=True)),
        sa.Column("last_status", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("first_failure", sa.DateTime(timezone=True)),
        sa.Column("next_due", sa.DateTime(timezone=True)),
        sa.Column("dead", sa.Boolean, nullable=False),
    )
    op.create_table(
        "entries",
        sa.Column("feed", sa.String(200), primary_key=True),
        sa.Column("entry_id", sa.Text, primary_key=True),
        sa.Column("fingerprint", sa.String(64)),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("entries_by_fingerprint", "entries", ["feed", "fingerprint"])
    op.create_table(
        "images",
        sa.Column("url", sa.Text, primary_key=True),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("content_type", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("images")
    op.drop_index("entries_by_fingerprint", "entries")
    op.drop_table("entries")
    op.drop_table("feeds")
