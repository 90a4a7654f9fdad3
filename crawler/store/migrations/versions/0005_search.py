"""Search: the index of the archive's words (DESIGN.md, "Search"), empty until `feed-archiver reindex`.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# As crawler/store/schema.py's SEARCH_DDL spells them at this revision.
_DDL = {
    "sqlite": (
        "CREATE VIRTUAL TABLE search_fts USING fts5(title, body, content='', tokenize='ascii')",
        "INSERT INTO search_fts (search_fts, rank) VALUES ('rank', 'bm25(10.0, 1.0)')",
    ),
    "postgresql": (
        "ALTER TABLE search_docs ADD COLUMN terms tsvector NOT NULL",
        "CREATE INDEX search_docs_terms ON search_docs USING gin (terms)",
    ),
}


def upgrade() -> None:
    op.create_table(
        "search_docs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("feed", sa.String(200), nullable=False),
        sa.Column("entry_id", sa.Text, nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("date", sa.DateTime(timezone=True)),
        sa.Column("link", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("search_docs_by_entry", "search_docs", ["feed", "entry_id"], unique=True)
    for statement in _DDL.get(op.get_bind().dialect.name, ()):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE search_fts")
    op.drop_table("search_docs")
