"""The schema's revision: read cheaply at every start, upgraded through Alembic when one is due.

Alembic's own table, `alembic_version`, holds the revision. Reading it is one query, so
a re-poll does not import Alembic; only a store that is older, or written by 0.1.0 (tables
and no `alembic_version`), makes an upgrade run, inside the start-up transaction. An empty
one is built as Alembic's cookbook builds a database from scratch: the tables from the
metadata, then stamped at `HEAD` (the tests check that the scripts from empty build the
same schema, and that Alembic reads the stamp and upgrades and downgrades from it).
On PostgreSQL that transaction first takes an advisory lock, so nodes starting together
migrate once: the second finds the store already at `HEAD` when the lock is its own.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from crawler.errors import StateError

BASELINE = "0001"  # the schema of 0.1.0, which carried no version
HEAD = "0006"  # the newest revision this program knows; tests check it against the scripts
KNOWN = ("0001", "0002", "0003", "0004", "0005", "0006")  # oldest first
MIGRATIONS = Path(__file__).parent / "migrations"
_UPGRADE_LOCK = 0x66656564  # pg_advisory_xact_lock key: "feed"

UNVERSIONED = "0.1.0 (unversioned)"

# The table `alembic stamp` creates (alembic.runtime.migration: a 32-character `version_num`,
# primary key `alembic_version_pkc`), written here without importing Alembic: that import and
# the four scripts were most of a first crawl's start-up (0.25 s before its first request).
_ALEMBIC_VERSION = sa.Table(
    "alembic_version",
    sa.MetaData(),
    sa.Column("version_num", sa.String(32), nullable=False),
    sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


class StoreTooNew(StateError):
    """The store was written by a newer feed-archiver: refuse rather than misread it."""


_TABLES = {
    # Asked of the catalogue directly: SQLAlchemy's inspector costs 2 % of a re-poll to set up.
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('alembic_version', 'feeds')",
    "postgresql": "SELECT table_name FROM information_schema.tables "
                  "WHERE table_schema = current_schema() AND table_name IN ('alembic_version', 'feeds')",
}


def read_revision(conn: sa.Connection) -> str | None:
    """The store's revision; `UNVERSIONED` for a 0.1.0 store; None for an empty database."""
    tables = set(conn.execute(sa.text(_TABLES[conn.dialect.name])).scalars())
    if "alembic_version" in tables:
        revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        return str(revision) if revision is not None else None
    return UNVERSIONED if "feeds" in tables else None


def check_known(revision: str | None, url: str) -> None:
    if revision is not None and revision != UNVERSIONED and revision not in KNOWN:
        raise StoreTooNew(
            f"the state store {url} is at schema revision {revision}, newer than this feed-archiver "
            f"knows (its newest is {HEAD}); upgrade feed-archiver"
        )


def upgrade(conn: sa.Connection, url: str) -> tuple[str | None, str]:
    """Bring the store to `HEAD` in this transaction; returns (revision before, after)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _UPGRADE_LOCK})
    before = read_revision(conn)  # again, under the lock: another node may have just done it
    check_known(before, url)
    if before == HEAD:
        return before, HEAD
    if before is None:
        from crawler.store.schema import metadata

        metadata.create_all(conn)
        _ALEMBIC_VERSION.create(conn)
        conn.execute(_ALEMBIC_VERSION.insert().values(version_num=HEAD))
        return before, HEAD
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    if before == UNVERSIONED:
        command.stamp(config, BASELINE)
    command.upgrade(config, "head")
    return before, HEAD
