"""The state store: what was archived, per-feed validators, failures and next due times.

SQLAlchemy Core over an async engine: SQLite (aiosqlite) by default, nothing to
start; a `postgresql://` URL selects asyncpg. All SQL lives here. Lookups of
entries and images are batched and indexed, so a crawl never lists the archive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from crawler.batching import Batcher
from crawler.errors import StateError
from crawler.models import ArchivedEntry, FeedState, ImageAsset

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
    sa.Index("entries_by_fingerprint", "feed", "fingerprint"),
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

_BATCH = 500  # stays under SQLite's bound-parameter limit


def _engine_url(url: str) -> str:
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    return url


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands datetimes back without a zone; everything we store is UTC.
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]


class StateStore:
    """Async access to the state tables.

    >>> store = await StateStore.open("sqlite:///archive/.feed-archiver.sqlite")
    >>> seen = await store.seen_entries("feed", ["id1", "id2"])
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        # Built once: SQLAlchemy then compiles each once and only binds new values.
        insert = _insert_for(engine)
        self._add_entries = insert(entries).on_conflict_do_nothing(index_elements=["feed", "entry_id"])
        self._add_images = insert(images).on_conflict_do_nothing(index_elements=["url"])
        upsert = insert(feeds)
        self._put_feeds = upsert.on_conflict_do_update(
            index_elements=["name"], set_={c.name: upsert.excluded[c.name] for c in feeds.c if c.name != "name"}
        )
        self._polls: Batcher[_Poll, None] = Batcher(self._write_polls)

    @classmethod
    async def open(cls, url: str) -> StateStore:
        engine_url = _engine_url(url)
        try:
            if engine_url.startswith("sqlite"):
                path = engine_url.split(":///", 1)[1]
                if path and path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                # SQLite takes one writer at a time anyway; one connection (one aiosqlite thread)
                # serialises the work without the cost of opening and locking more.
                engine = create_async_engine(
                    engine_url, connect_args={"timeout": 15}, pool_size=1, max_overflow=0, pool_timeout=60
                )
                sa.event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
            else:
                engine = create_async_engine(engine_url, pool_pre_ping=True)
            async with engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
        except (SQLAlchemyError, OSError) as exc:
            raise StateError(f"cannot open the state store {url}: {_reason(exc)}") from exc
        return cls(engine)

    async def close(self) -> None:
        await self._engine.dispose()

    async def _run(self, statement: Any) -> Any:
        try:
            async with self._engine.begin() as conn:
                return await conn.execute(statement)
        except SQLAlchemyError as exc:
            raise StateError(f"state store: {_reason(exc)}") from exc

    # -- entries ---------------------------------------------------------------------------------

    async def seen_entries(self, feed: str, keys: Sequence[tuple[str, str | None]]) -> set[str]:
        """The entry ids among `keys` (id, fingerprint) already archived for `feed`, matched by id
        or by fingerprint (link + title), so that a feed whose guids change on every poll is not
        archived again and again. Indexed lookups, batched: never a listing of the archive."""
        ids = [entry_id for entry_id, _ in keys]
        prints = [fp for _, fp in keys if fp]
        seen_ids: set[str] = set()
        seen_prints: set[str] = set()
        for chunk in _chunks(ids):
            query = sa.select(entries.c.entry_id).where(entries.c.feed == feed, entries.c.entry_id.in_(chunk))
            seen_ids.update(row[0] for row in await self._run(query))
        for chunk in _chunks(prints):
            query = sa.select(entries.c.fingerprint).where(entries.c.feed == feed, entries.c.fingerprint.in_(chunk))
            seen_prints.update(row[0] for row in await self._run(query))
        return {entry_id for entry_id, fp in keys if entry_id in seen_ids or (fp and fp in seen_prints)}

    async def count_entries(self) -> dict[str, int]:
        query = sa.select(entries.c.feed, sa.func.count()).group_by(entries.c.feed)
        return {row[0]: row[1] for row in await self._run(query)}

    async def save_poll(
        self,
        state: FeedState,
        url: str,
        archived: Sequence[ArchivedEntry] = (),
        new_images: Sequence[ImageAsset] = (),
    ) -> None:
        """Record one poll atomically: the entries it archived, the images it stored, the feed's state.

        Polls that end while another write is under way share the next transaction (a group
        commit): all of a poll or none of it is recorded, and 1,000 feeds answering 304 at once
        cost a few transactions, not 1,000.
        """
        await self._polls.submit(_Poll(state, url, archived, new_images))

    async def _write_polls(self, polls: list[_Poll]) -> list[None]:
        rows = [
            {"feed": p.state.name, "entry_id": a.entry_id, "fingerprint": a.fingerprint, "path": a.path,
             "content_hash": a.content_hash, "archived_at": a.archived_at}
            for p in polls for a in p.archived
        ]
        assets = [
            {"url": i.url, "filename": i.filename, "sha256": i.sha256, "size": i.size, "content_type": i.content_type}
            for p in polls for i in p.new_images
        ]
        try:
            async with self._engine.begin() as conn:
                if rows:
                    await conn.execute(self._add_entries, rows)
                if assets:
                    await conn.execute(self._add_images, assets)
                await conn.execute(self._put_feeds, [_feed_values(p.state, p.url) for p in polls])
        except SQLAlchemyError as exc:
            raise StateError(f"state store: {_reason(exc)}") from exc
        return [None] * len(polls)

    # -- images ----------------------------------------------------------------------------------

    async def known_images(self, urls: Sequence[str]) -> dict[str, ImageAsset]:
        known: dict[str, ImageAsset] = {}
        for chunk in _chunks(list(dict.fromkeys(urls))):
            query = sa.select(images).where(images.c.url.in_(chunk))
            for row in await self._run(query):
                known[row.url] = ImageAsset(row.url, row.filename, row.sha256, row.size, row.content_type)
        return known

    # -- feeds -----------------------------------------------------------------------------------

    async def feed_state(self, name: str) -> FeedState:
        rows = list(await self._run(sa.select(feeds).where(feeds.c.name == name)))
        return _feed_state(rows[0]) if rows else FeedState(name=name)

    async def all_feed_states(self) -> dict[str, FeedState]:
        return {row.name: _feed_state(row) for row in await self._run(sa.select(feeds))}


@dataclass(frozen=True)
class _Poll:
    state: FeedState
    url: str
    archived: Sequence[ArchivedEntry]
    new_images: Sequence[ImageAsset]


def _feed_state(row: Any) -> FeedState:
    return FeedState(
        name=row.name,
        etag=row.etag,
        last_modified=row.last_modified,
        last_poll=_utc(row.last_poll),
        last_status=row.last_status,
        last_error=row.last_error,
        consecutive_failures=row.consecutive_failures or 0,
        first_failure=_utc(row.first_failure),
        next_due=_utc(row.next_due),
        dead=bool(row.dead),
    )


def _reason(exc: BaseException) -> str:
    """The driver's own message, on one line (SQLAlchemy appends a second with a help link)."""
    return str(getattr(exc, "orig", None) or exc).splitlines()[0]


def _feed_values(state: FeedState, url: str) -> dict[str, Any]:
    return {
        "name": state.name, "url": url, "etag": state.etag, "last_modified": state.last_modified,
        "last_poll": state.last_poll, "last_status": state.last_status, "last_error": state.last_error,
        "consecutive_failures": state.consecutive_failures, "first_failure": state.first_failure,
        "next_due": state.next_due, "dead": state.dead,
    }


def _insert_for(engine: AsyncEngine) -> Callable[[sa.Table], Any]:
    """INSERT with ON CONFLICT, in the dialect at hand (SQLite and PostgreSQL spell it alike)."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets `status` read while a crawl writes; NORMAL sync is durable across process kills.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.close()
