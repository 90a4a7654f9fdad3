"""Revisions and identity: each entry's canonical link, hashes of what it said, its revisions; aliases.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # All nullable (or defaulted): rows of 0.1.0 and 0002 stay valid and are told apart by their
    # NULL hashes, which the first poll that sees them fills in without a revision.
    with op.batch_alter_table("entries") as batch:
        batch.add_column(sa.Column("link", sa.Text))
        batch.add_column(sa.Column("text_hash", sa.String(64)))
        batch.add_column(sa.Column("item_hash", sa.String(64)))
        batch.add_column(sa.Column("updated", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("revised_at", sa.DateTime(timezone=True)))
        batch.add_column(sa.Column("revisions", sa.Integer, nullable=False, server_default="0"))
    op.create_index("entries_by_link", "entries", ["feed", "link"])
    op.create_table(
        "aliases",
        sa.Column("feed", sa.String(200), primary_key=True),
        sa.Column("alias", sa.Text, primary_key=True),
        sa.Column("entry_id", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("aliases")
    op.drop_index("entries_by_link", "entries")
    with op.batch_alter_table("entries") as batch:
        for column in ("revisions", "revised_at", "updated", "item_hash", "text_hash", "link"):
            batch.drop_column(column)
