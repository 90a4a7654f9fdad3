"""The tables as the newest schema revision has them, and each table's row mapping in one place.

A new column is a migration in `migrations/versions/`, a `Column` here, and a line in the
mapping below; `versions.HEAD` names the newest revision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa

from crawler.models import ArchivedEntry, EntryChange, FeedState, ImageAsset, KnownEntry, RobotsCopy

metadata = sa.MetaData()

feeds = sa.Table(
    "feeds",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("url", sa.Text, nullable=False, default=""),
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    sa.Column("last_poll", sa.DateTime(timezone=True)),
    sa.Column("last_status", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, default=0),
    sa.Column("first_failure", sa.DateTime(timezone=True)),
    sa.Column("next_due", sa.DateTime(timezone=True)),
    sa.Column("dead", sa.Boolean, nullable=False, default=False),
    sa.Column("node", sa.String(200)),  # 0002: the node that made the last poll
    sa.Column("instance", sa.Text),  # 0003: the RSSHub instance that served the last poll
    # 0006: the feed as the config has it (synced at each start and reload; see `feedtable`)
    sa.Column("route", sa.Text),  # a `route:` feed's RSSHub route (`url` is then its URL on the first instance)
    sa.Column("settings_hash", sa.String(64)),  # of the feed's resolved settings; NULL: never synced
    sa.Column("retired", sa.DateTime(timezone=True)),  # when it left the config; NULL: in it, polled
    sa.Index("feeds_by_due", "next_due"),  # 0006: claims take the due feeds first
)

# 0006: the config whose feeds the feeds table holds, as the last sync left it (one row).
feed_config = sa.Table(
    "feed_config",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),  # always 1
    sa.Column("config_hash", sa.String(64), nullable=False),
    sa.Column("node", sa.String(200)),  # the node that synced it
    sa.Column("synced_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("feeds", sa.Integer, nullable=False),
)

entries = sa.Table(
    "entries",
    metadata,
    sa.Column("feed", sa.String(200), primary_key=True),
    sa.Column("entry_id", sa.Text, primary_key=True),
    sa.Column("fingerprint", sa.String(64)),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("archived_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("link", sa.Text),  # 0003: canonical
    sa.Column("text_hash", sa.String(64)),  # 0003: of the normalised title and body
    sa.Column("item_hash", sa.String(64)),  # 0003: of the item as the feed last gave it
    sa.Column("updated", sa.DateTime(timezone=True)),  # 0003: the item's own update date
    sa.Column("revised_at", sa.DateTime(timezone=True)),  # 0003
    sa.Column("revisions", sa.Integer, nullable=False, server_default="0"),  # 0003
    sa.Index("entries_by_fingerprint", "feed", "fingerprint"),
    sa.Index("entries_by_link", "feed", "link"),
)

# 0003: other ids an entry was seen under (a guid that changed, the link kept).
aliases = sa.Table(
    "aliases",
    metadata,
    sa.Column("feed", sa.String(200), primary_key=True),
    sa.Column("alias", sa.Text, primary_key=True),
    sa.Column("entry_id", sa.Text, nullable=False),
)

images = sa.Table(
    "images",
    metadata,
    sa.Column("url", sa.Text, primary_key=True),
    sa.Column("filename", sa.Text, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("content_type", sa.Text, nullable=False, default=""),
)

# 0002: who may poll a feed now. A row is a lease until `expires_at` (the database's clock);
# `token` grows with every new holder, so a holder that lost its lease can tell.
leases = sa.Table(
    "leases",
    metadata,
    sa.Column("feed", sa.String(200), primary_key=True),
    sa.Column("node", sa.String(200), nullable=False),
    sa.Column("token", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

# A new lease's token (SQL): the server's clock in microseconds. Never one a node held before for
# the same feed, though recording a poll deletes its lease row (see `state._TAKE_LEASE`).
LEASE_TOKEN = "CAST(extract(epoch FROM clock_timestamp()) * 1000000 AS bigint)"

# 0003: an RSSHub instance that answered 429 or 503 rests until `until`, across crawls and nodes.
instance_rests = sa.Table(
    "instance_rests",
    metadata,
    sa.Column("instance", sa.Text, primary_key=True),
    sa.Column("until", sa.DateTime(timezone=True), nullable=False),
)

# 0003: a route feed's validators on each instance (an ETag of one is never sent to another).
feed_validators = sa.Table(
    "feed_validators",
    metadata,
    sa.Column("feed", sa.String(200), primary_key=True),
    sa.Column("instance", sa.Text, primary_key=True),
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
)

# 0003: each host's robots.txt as last fetched (kept a day; a stand-in while it fails).
robots = sa.Table(
    "robots",
    metadata,
    sa.Column("origin", sa.Text, primary_key=True),
    sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.Integer),
    sa.Column("body", sa.Text, nullable=False, server_default=""),
)

# 0005: the search index (crawler/search/index.py). One row per archived entry; its tokens live in
# SQLite's FTS5 table `search_fts` under the row's id (never reused, hence AUTOINCREMENT), or in
# PostgreSQL's `terms` tsvector with a GIN index: the statements below, run after the table is made.
search_docs = sa.Table(
    "search_docs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("feed", sa.String(200), nullable=False),
    sa.Column("entry_id", sa.Text, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("date", sa.DateTime(timezone=True)),
    sa.Column("link", sa.Text, nullable=False),
    sa.Index("search_docs_by_entry", "feed", "entry_id", unique=True),
    sqlite_autoincrement=True,
)
SEARCH_DDL = {
    "sqlite": (
        "CREATE VIRTUAL TABLE search_fts USING fts5(title, body, content='', tokenize='ascii')",
        "INSERT INTO search_fts (search_fts, rank) VALUES ('rank', 'bm25(10.0, 1.0)')",
    ),
    "postgresql": (
        "ALTER TABLE search_docs ADD COLUMN terms tsvector NOT NULL",
        "CREATE INDEX search_docs_terms ON search_docs USING gin (terms)",
    ),
}
for _dialect, _statements in SEARCH_DDL.items():
    for _statement in _statements:
        _ddl = sa.DDL(_statement)  # type: ignore[no-untyped-call]
        sa.event.listen(search_docs, "after_create", _ddl.execute_if(dialect=_dialect))


def utc(value: datetime | None) -> datetime | None:
    """SQLite hands datetimes back without a zone; everything we store is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def feed_state(row: Mapping[Any, Any]) -> FeedState:
    """A `feeds` row as a `FeedState`; columns a older schema lacks read as unset (for `status`)."""
    return FeedState(
        name=row["name"],
        etag=row["etag"],
        last_modified=row["last_modified"],
        last_poll=utc(row["last_poll"]),
        last_status=row["last_status"],
        last_error=row["last_error"],
        consecutive_failures=row["consecutive_failures"] or 0,
        first_failure=utc(row["first_failure"]),
        next_due=utc(row["next_due"]),
        dead=bool(row["dead"]),
        node=row.get("node"),
        instance=row.get("instance"),
    )


# Rows are written in UTC: SQLite keeps a datetime's digits and drops its zone.


def feed_row(state: FeedState, url: str) -> dict[str, Any]:
    return {
        "name": state.name, "url": url, "etag": state.etag, "last_modified": state.last_modified,
        "last_poll": utc(state.last_poll), "last_status": state.last_status, "last_error": state.last_error,
        "consecutive_failures": state.consecutive_failures, "first_failure": utc(state.first_failure),
        "next_due": utc(state.next_due), "dead": state.dead, "node": state.node, "instance": state.instance,
    }


def validators_row(state: FeedState) -> dict[str, Any]:
    return {"feed": state.name, "instance": state.instance, "etag": state.etag, "last_modified": state.last_modified}


def robots_row(copy: RobotsCopy) -> dict[str, Any]:
    return {"origin": copy.origin, "fetched_at": utc(copy.fetched_at), "status": copy.status, "body": copy.body}


def robots_copy(row: Mapping[Any, Any]) -> RobotsCopy:
    return RobotsCopy(row["origin"], utc(row["fetched_at"]) or datetime.min.replace(tzinfo=UTC), row["status"],
                      row["body"])


def entry_row(feed: str, entry: ArchivedEntry) -> dict[str, Any]:
    return {
        "feed": feed, "entry_id": entry.entry_id, "fingerprint": entry.fingerprint, "path": entry.path,
        "content_hash": entry.content_hash, "archived_at": utc(entry.archived_at), "link": entry.link,
        "text_hash": entry.text_hash, "item_hash": entry.item_hash, "updated": utc(entry.updated),
    }


def known_entry(row: Sequence[Any], by: Literal["id", "alias", "link"]) -> KnownEntry:
    """A row of (entry_id, path, text_hash, item_hash, updated, ...) as a `KnownEntry`; `updated`
    as the driver gives it untyped: SQLite's text, PostgreSQL's datetime."""
    updated = row[4]
    if isinstance(updated, str):
        updated = datetime.fromisoformat(updated)
    return KnownEntry(row[0], row[1], row[2], row[3], utc(updated), by)


def change_row(feed: str, change: EntryChange) -> dict[str, Any]:
    """Bound to `state._change_statements()` (their names differ from the columns': SQLAlchemy
    reserves those for SET clauses)."""
    row = {
        "k_feed": feed, "k_entry_id": change.entry_id, "v_link": change.link, "v_text_hash": change.text_hash,
        "v_item_hash": change.item_hash, "v_updated": utc(change.updated),
    }
    if change.revised:
        row |= {"v_content_hash": change.content_hash, "v_revised_at": utc(change.revised_at)}
    return row


def image_row(asset: ImageAsset) -> dict[str, Any]:
    return {
        "url": asset.url, "filename": asset.filename, "sha256": asset.sha256, "size": asset.size,
        "content_type": asset.content_type,
    }


def image_asset(row: Mapping[Any, Any]) -> ImageAsset:
    return ImageAsset(row["url"], row["filename"], row["sha256"], row["size"], row["content_type"])
