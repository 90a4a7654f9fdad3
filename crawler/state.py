"""The state store: what was archived, per-feed validators, failures and next due times.

SQLAlchemy Core. All SQL lives here, as functions of one `sa.Connection` that a
`Database` runs in a transaction: the embedded default (`sqlite:///`) on a thread of
its own, PostgreSQL (asyncpg) through SQLAlchemy's asyncio extension (the tests
drive that path with aiosqlite). Lookups of entries and images are batched and
indexed, so a crawl never lists the archive.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from crawler.batching import Batcher
from crawler.errors import StateError
from crawler.models import ArchivedEntry, FeedState, ImageAsset

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")

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


class Database(Protocol):
    """Runs `work` in one transaction, committed if it returns, rolled back if it raises."""

    dialect: str

    async def transaction(self, work: Callable[[sa.Connection], T]) -> T: ...

    async def dispose(self) -> None: ...


class ThreadedSqlite:
    """SQLite through the standard library's driver, on one thread of its own.

    This is what aiosqlite does, less two costs: SQLAlchemy's asyncio extension imports the ORM
    (0.1 s of every start, an eighth of a re-poll), and every cursor call would cross threads
    and greenlets where here one transaction crosses once. One connection: SQLite takes one
    writer at a time anyway, and a thread of its own keeps the event loop free while it waits.
    """

    dialect = "sqlite"

    def __init__(self, url: sa.URL) -> None:
        self._engine = sa.create_engine(url, connect_args={"timeout": 15}, pool_size=1, max_overflow=0)
        sa.event.listen(self._engine, "connect", _sqlite_pragmas)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="state-store")

    async def transaction(self, work: Callable[[sa.Connection], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, self._run, work)

    def _run(self, work: Callable[[sa.Connection], T]) -> T:
        with self._engine.begin() as conn:
            return work(conn)

    async def dispose(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._engine.dispose)
        self._thread.shutdown()


class AsyncDriver:
    """Any driver SQLAlchemy's asyncio extension drives (asyncpg for PostgreSQL)."""

    def __init__(self, url: sa.URL) -> None:
        from sqlalchemy.ext.asyncio import create_async_engine  # imports the ORM: only when used

        self._engine: AsyncEngine = create_async_engine(url, pool_pre_ping=True)
        self.dialect = self._engine.dialect.name
        if self.dialect == "sqlite":
            sa.event.listen(self._engine.sync_engine, "connect", _sqlite_pragmas)

    async def transaction(self, work: Callable[[sa.Connection], T]) -> T:
        async with self._engine.begin() as conn:
            return await conn.run_sync(work)

    async def dispose(self) -> None:
        await self._engine.dispose()


def open_database(url: str) -> Database:
    """`sqlite:///PATH` (the default), `postgresql://...` (asyncpg), or any SQLAlchemy async URL."""
    if url.startswith("postgresql://"):
        url = "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    if parsed.drivername == "sqlite":
        return ThreadedSqlite(parsed)
    return AsyncDriver(parsed)


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

    def __init__(self, db: Database) -> None:
        self._db = db
        # Built once: SQLAlchemy then compiles each once and only binds new values.
        insert = _insert_for(db.dialect)
        self._add_entries = insert(entries).on_conflict_do_nothing(index_elements=["feed", "entry_id"])
        self._add_images = insert(images).on_conflict_do_nothing(index_elements=["url"])
        upsert = insert(feeds)
        self._put_feeds = upsert.on_conflict_do_update(
            index_elements=["name"], set_={c.name: upsert.excluded[c.name] for c in feeds.c if c.name != "name"}
        )
        self._polls: Batcher[_Poll, None] = Batcher(self._write_polls)

    @classmethod
    async def open(cls, url: str) -> StateStore:
        try:
            db = open_database(url)
            await db.transaction(metadata.create_all)
        except (SQLAlchemyError, OSError, ImportError) as exc:
            raise StateError(f"cannot open the state store {url}: {_reason(exc)}") from exc
        return cls(db)

    async def close(self) -> None:
        await self._db.dispose()

    async def ping(self) -> None:
        """A real query through the same connection and thread as the crawl's (for the daemon's
        /readyz); raises `StateError` when the store fails, and takes as long as it is busy."""
        await self._rows(sa.select(feeds.c.name).limit(1))

    async def _run(self, work: Callable[[sa.Connection], T]) -> T:
        try:
            return await self._db.transaction(work)
        except SQLAlchemyError as exc:
            raise StateError(f"state store: {_reason(exc)}") from exc

    async def _rows(self, query: sa.Executable) -> Sequence[Any]:
        return await self._run(lambda conn: conn.execute(query).all())

    # -- entries ---------------------------------------------------------------------------------

    async def seen_entries(self, feed: str, keys: Sequence[tuple[str, str | None]]) -> set[str]:
        """The entry ids among `keys` (id, fingerprint) already archived for `feed`, matched by id
        or by fingerprint (link + title), so that a feed whose guids change on every poll is not
        archived again and again. Indexed lookups, batched: never a listing of the archive."""
        ids = [entry_id for entry_id, _ in keys]
        prints = [fp for _, fp in keys if fp]
        seen_ids: set[str] = set()
        seen_prints: set[str] = set()

        def lookup(conn: sa.Connection) -> None:
            for chunk in _chunks(ids):
                query = sa.select(entries.c.entry_id).where(entries.c.feed == feed, entries.c.entry_id.in_(chunk))
                seen_ids.update(conn.execute(query).scalars())
            for chunk in _chunks(prints):
                query = sa.select(entries.c.fingerprint).where(
                    entries.c.feed == feed, entries.c.fingerprint.in_(chunk)
                )
                seen_prints.update(conn.execute(query).scalars())

        await self._run(lookup)
        return {entry_id for entry_id, fp in keys if entry_id in seen_ids or (fp and fp in seen_prints)}

    async def count_entries(self) -> dict[str, int]:
        query = sa.select(entries.c.feed, sa.func.count()).group_by(entries.c.feed)
        return {row[0]: row[1] for row in await self._rows(query)}

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
        feed_rows = [_feed_values(p.state, p.url) for p in polls]

        def write(conn: sa.Connection) -> None:
            if rows:
                conn.execute(self._add_entries, rows)
            if assets:
                conn.execute(self._add_images, assets)
            conn.execute(self._put_feeds, feed_rows)

        await self._run(write)
        return [None] * len(polls)

    # -- images ----------------------------------------------------------------------------------

    async def known_images(self, urls: Sequence[str]) -> dict[str, ImageAsset]:
        known: dict[str, ImageAsset] = {}

        def lookup(conn: sa.Connection) -> None:
            for chunk in _chunks(list(dict.fromkeys(urls))):
                for row in conn.execute(sa.select(images).where(images.c.url.in_(chunk))):
                    known[row.url] = ImageAsset(row.url, row.filename, row.sha256, row.size, row.content_type)

        await self._run(lookup)
        return known

    # -- feeds -----------------------------------------------------------------------------------

    async def feed_state(self, name: str) -> FeedState:
        rows = await self._rows(sa.select(feeds).where(feeds.c.name == name))
        return _feed_state(rows[0]) if rows else FeedState(name=name)

    async def all_feed_states(self) -> dict[str, FeedState]:
        return {row.name: _feed_state(row) for row in await self._rows(sa.select(feeds))}


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


def _insert_for(dialect: str) -> Callable[[sa.Table], Any]:
    """INSERT with ON CONFLICT, in the dialect at hand (SQLite and PostgreSQL spell it alike)."""
    if dialect == "postgresql":
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
