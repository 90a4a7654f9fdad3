"""`StateStore`: async access to what was archived, per-feed state and leases.

All SQL lives in this package, as functions of one `sa.Connection` that a `Database` runs
in a transaction. Lookups of entries and images are batched and indexed, so a crawl never
lists the archive; polls that end together are recorded in one transaction (group commit).
"""

from __future__ import annotations

import functools
import hashlib
import logging
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from crawler.errors import StateError
from crawler.models import (
    ArchivedEntry,
    EntryChange,
    FeedEntry,
    FeedState,
    ImageAsset,
    KnownEntry,
    Lease,
    LeaseGrant,
    RobotsCopy,
)
from crawler.store import versions
from crawler.store.batching import Batcher
from crawler.store.db import AsyncDriver, Database, Listener, open_database, reason, shown
from crawler.store.schema import (
    LEASE_TOKEN,
    aliases,
    change_row,
    entries,
    entry_row,
    feed_row,
    feed_state,
    feed_validators,
    feeds,
    image_asset,
    image_row,
    images,
    instance_rests,
    known_entry,
    leases,
    robots,
    robots_copy,
    robots_row,
    utc,
    validators_row,
)

if TYPE_CHECKING:
    from crawler.store.feedtable import Claimed, FeedRecord, FeedSync

log = logging.getLogger(__name__)

T = TypeVar("T")

_BATCH = 500  # stays under SQLite's bound-parameter limit

# Leases are PostgreSQL's (SQLite stores have the one-writer lock file instead), on its clock.
# A new lease's token is the server's clock in microseconds, not 1: recording a poll deletes its
# lease, so a node that takes a feed again while its own stale poll of it still runs (it was
# paused past its lease) must get a token that poll does not hold. A taken-over lease counts up.
_TAKE_LEASE = sa.text(
    "INSERT INTO leases AS l (feed, node, token, expires_at) "
    f"VALUES (:feed, :node, {LEASE_TOKEN}, now() + make_interval(secs => :seconds)) "
    "ON CONFLICT (feed) DO UPDATE SET node = EXCLUDED.node, token = l.token + 1, expires_at = EXCLUDED.expires_at "
    "WHERE l.expires_at <= now() "
    "RETURNING token"
)
_RENEW_LEASE = sa.text(
    "UPDATE leases SET expires_at = now() + make_interval(secs => :seconds) "
    "WHERE feed = :feed AND node = :node AND token = :token AND expires_at > now()"
)
_END_LEASE = sa.text(
    "DELETE FROM leases WHERE feed = :feed AND node = :node AND token = :token AND expires_at > now() RETURNING feed"
)
# `updated` read as it is stored and parsed by `known_entry` only when set: SQLAlchemy's SQLite
# DATETIME conversion, run on every row, cost more than the rest of a re-poll's lookup.
_KNOWN = (entries.c.entry_id, entries.c.path, entries.c.text_hash, entries.c.item_hash,
          sa.type_coerce(entries.c.updated, sa.String).label("updated"), entries.c.link)


@cache
def _change_statements() -> tuple[sa.Update, sa.Update]:
    """(note, revise): what a poll learnt of known entries. Built on first use: a re-poll with
    nothing changed never needs them, and building SQL constructs is not free."""
    this_entry = sa.and_(entries.c.feed == sa.bindparam("k_feed"), entries.c.entry_id == sa.bindparam("k_entry_id"))
    # A hash the poll could not compute (None) keeps the stored one.
    note = sa.update(entries).where(this_entry).values(
        link=sa.bindparam("v_link"),
        text_hash=sa.func.coalesce(sa.bindparam("v_text_hash", type_=sa.String), entries.c.text_hash),
        item_hash=sa.bindparam("v_item_hash"),
        updated=sa.bindparam("v_updated", type_=sa.DateTime(timezone=True)),
    )
    revise = note.values(
        content_hash=sa.bindparam("v_content_hash"),
        revised_at=sa.bindparam("v_revised_at", type_=sa.DateTime(timezone=True)),
        revisions=entries.c.revisions + 1,
    )
    return note, revise


_POLLED = frozenset(feed_row(FeedState(""), "")) - {"name"}  # the columns a poll writes

_DUE_LATER = sa.text("SELECT next_due FROM feeds WHERE name = :feed AND next_due > now()")


class StateStore:
    """Async access to the state tables.

    >>> store = await StateStore.open("sqlite:///archive/.feed-archiver.sqlite")
    >>> known = await store.known_entries("feed", parsed.entries)
    """

    def __init__(self, db: Database, revision: str | None) -> None:
        self._db = db
        self.revision = revision
        # PostgreSQL's text cannot hold NUL (SQLite's can): a JSON feed's "id": "a\u0000b" would fail
        # the whole group commit, so NUL becomes U+FFFD there, in writes and lookups alike.
        self._text: Callable[[str], str] = _without_nul if db.dialect == "postgresql" else str
        # Built once: SQLAlchemy then compiles each once and only binds new values.
        insert = _insert_for(db.dialect)
        self._add_entries = insert(entries).on_conflict_do_nothing(index_elements=["feed", "entry_id"])
        self._add_images = insert(images).on_conflict_do_nothing(index_elements=["url"])
        upsert = insert(feeds)
        # A poll writes the feed's state, never what the config sync keeps (route, settings hash, retired).
        self._put_feeds = upsert.on_conflict_do_update(
            index_elements=["name"], set_={c.name: upsert.excluded[c.name] for c in feeds.c if c.name in _POLLED}
        )
        self._insert = insert
        # A cluster node's claims (`cluster.claims`): polls under a lease store their next due time
        # spread as the single daemon's scheduler spreads its jobs (`_spread`).
        self.spread_next_due = False
        self._polls: Batcher[_Poll, bool] = Batcher(self._write_polls)

    @classmethod
    async def open(cls, url: str, *, upgrade: bool = True) -> StateStore:
        """Open the store at `url`. With `upgrade` (crawl, run), an empty or older store is brought to
        the newest schema first; without it (status), nothing is written. A store newer than this
        program is refused either way (`versions.StoreTooNew`)."""
        try:
            db = open_database(url)
        except (SQLAlchemyError, OSError, ImportError, ValueError, TypeError) as exc:
            raise StateError(f"cannot open the state store {shown(url)}: {reason(exc)}") from exc
        try:
            revision = await db.transaction(versions.read_revision)
            versions.check_known(revision, shown(url))
            if upgrade and revision != versions.HEAD:
                before, revision = await db.transaction(lambda conn: versions.upgrade(conn, shown(url)))
                if before is None:
                    log.info("state store created at schema %s", revision)
                elif before != revision:
                    log.info("state store upgraded from schema %s to %s", before, revision)
        except StateError:
            await db.dispose()
            raise
        except (SQLAlchemyError, OSError, ImportError, TypeError) as exc:
            # TypeError: asyncpg's connect() refusing a query parameter of the URL.
            await db.dispose()  # else the pool's connection is left to the garbage collector
            raise StateError(f"cannot open the state store {shown(url)}: {reason(exc)}") from exc
        return cls(db, revision)

    @property
    def dialect(self) -> str:
        return self._db.dialect

    async def close(self) -> None:
        await self._db.dispose()

    async def _run(self, work: Callable[[sa.Connection], T]) -> T:
        for attempt in range(3):
            try:
                return await self._db.transaction(work)
            except DBAPIError as exc:
                # PostgreSQL rolled the whole transaction back, so running it again is safe.
                if attempt < 2 and _sqlstate(exc) in _TRY_AGAIN:
                    continue
                raise StateError(f"state store: {reason(exc)}") from exc
            except (SQLAlchemyError, OSError) as exc:
                raise StateError(f"state store: {reason(exc)}") from exc
        raise AssertionError("unreachable")

    async def transaction(self, work: Callable[[sa.Connection], T]) -> T:
        """Run `work` in one transaction of its own (for the layers above: search's queries)."""
        return await self._run(work)

    async def _rows(self, query: sa.Executable) -> Sequence[Any]:
        return await self._run(lambda conn: conn.execute(query).all())

    async def schema_revision(self) -> str | None:
        """A real query of the store: its schema revision."""
        return await self._run(versions.read_revision)

    async def ping(self) -> None:
        """For the daemon's /readyz: a real query (the schema revision) through the same connection
        and thread as the crawl's; raises `StateError` when the store fails, slow when it is busy."""
        await self.schema_revision()

    # -- entries ---------------------------------------------------------------------------------

    async def known_entries(self, feed: str, items: Sequence[FeedEntry]) -> dict[str, KnownEntry]:
        """The stored entry each of `items` is, by item id: matched by id, else by an alias
        recorded earlier, else by canonical link, else (rows from before links were stored) by
        link + title. Indexed lookups, batched, each step asked only for what the last left
        unknown: a re-poll of known items costs one query, never a listing of the archive."""
        text = self._text
        found: dict[str, KnownEntry] = {}

        def match(conn: sa.Connection, query: Callable[[Sequence[str]], sa.Select[Any]],
                  keys: dict[str, list[str]], column: int, by: Literal["id", "alias", "link"]) -> None:
            for chunk in _chunks(list(keys)):
                for row in conn.execute(query(chunk)):  # rows as tuples: `_KNOWN`, then the key matched
                    for item_id in keys.get(row[column], ()):
                        found.setdefault(item_id, known_entry(row, by))

        def keyed(key: Callable[[FeedEntry], str | None]) -> dict[str, list[str]]:
            keys: dict[str, list[str]] = {}
            for item in items:
                if item.id not in found and (value := key(item)):
                    keys.setdefault(text(value), []).append(item.id)
            return keys

        def lookup(conn: sa.Connection) -> None:
            here = entries.c.feed == feed
            match(conn, lambda ids: sa.select(*_KNOWN).where(here, entries.c.entry_id.in_(ids)),
                  keyed(lambda e: e.id), 0, "id")
            if len(found) == len(items):
                return
            by_alias = sa.select(*_KNOWN, aliases.c.alias).join(
                aliases, sa.and_(aliases.c.feed == entries.c.feed, aliases.c.entry_id == entries.c.entry_id)
            )
            match(conn, lambda ids: by_alias.where(here, aliases.c.alias.in_(ids)), keyed(lambda e: e.id), 6, "alias")
            # The first archived when two stored entries share a link (archived before links counted).
            oldest = entries.c.archived_at.asc()
            match(conn, lambda links: sa.select(*_KNOWN).where(here, entries.c.link.in_(links)).order_by(oldest),
                  keyed(lambda e: e.canonical), 5, "link")
            match(conn, lambda prints: sa.select(*_KNOWN, entries.c.fingerprint).where(
                here, entries.c.link.is_(None), entries.c.fingerprint.in_(prints)).order_by(oldest),
                  keyed(legacy_fingerprint), 6, "link")

        await self._run(lookup)
        return found

    async def count_entries(self) -> dict[str, int]:
        query = sa.select(entries.c.feed, sa.func.count()).group_by(entries.c.feed)
        return {row[0]: row[1] for row in await self._rows(query)}

    async def count_updated(self) -> dict[str, int]:
        """Per feed, the entries rewritten at least once (none in a store older than 0003)."""
        if self.revision in (None, versions.UNVERSIONED, *versions.KNOWN[: versions.KNOWN.index("0003")]):
            return {}
        query = sa.select(entries.c.feed, sa.func.count()).where(entries.c.revisions > 0).group_by(entries.c.feed)
        return {row[0]: row[1] for row in await self._rows(query)}

    async def save_poll(
        self,
        state: FeedState,
        url: str,
        archived: Sequence[ArchivedEntry] = (),
        new_images: Sequence[ImageAsset] = (),
        lease: Lease | None = None,
        *,
        instance_validators: bool = False,
        changes: Sequence[EntryChange] = (),
        new_aliases: Sequence[tuple[str, str]] = (),
        index: Callable[[sa.Connection], None] | None = None,
    ) -> bool:
        """Record one poll atomically: the entries it archived, the images it stored, the feed's state;
        what it learnt of known entries (`changes`) and the new ids it found them under
        (`new_aliases`, (alias, entry id) pairs).

        With a `lease`, the poll is recorded only if the lease still holds, and recording it ends
        the lease; False when it no longer held (another node has the feed now) and nothing was
        written. Polls that end while another write is under way share the next transaction (a
        group commit): all of a poll or none of it is recorded, and 1,000 feeds answering 304 at
        once cost a few transactions, not 1,000. `instance_validators`: the state's validators
        are new for its RSSHub instance, and are kept for it too. `index`: the search index's
        writes for the entries this poll wrote (crawler/search), made in the same transaction.
        """
        return await self._polls.submit(
            _Poll(state, url, archived, new_images, lease, instance_validators, changes, new_aliases, index)
        )

    async def save_first_dues(self, states: Sequence[tuple[FeedState, str]], chunk: int = 2000) -> None:
        """The next due time of feeds never polled, so that `status` shows when their first poll comes:
        written as polls are, a few thousand feeds a transaction (100,000 at a daemon's first start)."""
        for start in range(0, len(states), chunk):
            await self._write_polls([_Poll(state, url, (), (), None, False, (), ())
                                     for state, url in states[start:start + chunk]])

    async def _write_polls(self, polls: list[_Poll]) -> list[bool]:
        def write(conn: sa.Connection) -> list[bool]:
            # Rows are locked in one order everywhere (leases and feeds by feed name, entries by key,
            # images by URL): two transactions of a cluster, or a poll's commit and the lease renewer,
            # then wait for each other instead of deadlocking (seen at 3,000 feeds, before the sort).
            leased = sorted((p.lease for p in polls if p.lease is not None), key=lambda lease: lease.feed)
            ended = {lease: _end_lease(conn, lease) for lease in leased}
            held = [p.lease is None or ended[p.lease] for p in polls]
            kept = [p for p, ok in zip(polls, held, strict=True) if ok]
            rows = sorted((entry_row(p.state.name, a) for p in kept for a in p.archived),
                          key=lambda row: (row["feed"], row["entry_id"]))
            assets = sorted((image_row(i) for p in kept for i in p.new_images), key=lambda row: row["url"])
            spread = self.spread_next_due
            feed_rows = sorted((feed_row(_spread(p.state) if spread and p.lease else p.state, p.url) for p in kept),
                               key=lambda row: row["name"])
            validator_rows = sorted(
                (validators_row(p.state) for p in kept if p.instance_validators and p.state.instance),
                key=lambda row: (row["feed"], row["instance"]),
            )
            revised = [change_row(p.state.name, c) for p in kept for c in p.changes if c.revised]
            noted = [change_row(p.state.name, c) for p in kept for c in p.changes if not c.revised]
            alias_rows = [{"feed": p.state.name, "alias": a, "entry_id": e} for p in kept for a, e in p.new_aliases]
            if self._text is _without_nul:
                rows, assets, feed_rows, validator_rows, revised, noted, alias_rows = (
                    [_row_without_nul(r) for r in group]
                    for group in (rows, assets, feed_rows, validator_rows, revised, noted, alias_rows)
                )
            if rows:
                conn.execute(self._add_entries, rows)
            if revised:
                conn.execute(_change_statements()[1], revised)
            if noted:
                conn.execute(_change_statements()[0], noted)
            if alias_rows:
                conn.execute(_add_aliases(self._db.dialect), alias_rows)
            if assets:
                conn.execute(self._add_images, assets)
            if feed_rows:
                conn.execute(self._put_feeds, feed_rows)
            if validator_rows:
                conn.execute(self._put_validators, validator_rows)
            for p in kept:
                if p.index is not None:
                    p.index(conn)
            return held

        return await self._run(write)

    # -- images ----------------------------------------------------------------------------------

    async def known_images(self, urls: Sequence[str]) -> dict[str, ImageAsset]:
        known: dict[str, ImageAsset] = {}
        asked = {self._text(url): url for url in urls}  # stored spelling -> the caller's

        def lookup(conn: sa.Connection) -> None:
            for chunk in _chunks(list(asked)):
                for row in conn.execute(sa.select(images).where(images.c.url.in_(chunk))).mappings():
                    url = asked[row["url"]]
                    known[url] = replace(image_asset(row), url=url)

        await self._run(lookup)
        return known

    # -- feeds -----------------------------------------------------------------------------------

    async def feed_state(self, name: str) -> FeedState:
        return await self._run(lambda conn: _read_state(conn, name))

    async def all_feed_states(self) -> dict[str, FeedState]:
        def read(conn: sa.Connection) -> dict[str, FeedState]:
            query = sa.select(feeds)
            if self.revision != versions.HEAD:
                # The columns there are: `status` reads a store that is not upgraded yet (nor ever by it).
                present = {column["name"] for column in sa.inspect(conn).get_columns("feeds")}
                query = sa.select(*(column for column in feeds.c if column.name in present))
            return {row["name"]: feed_state(row) for row in conn.execute(query).mappings()}

        return await self._run(read)

    # -- sources: RSSHub instances, robots.txt ---------------------------------------------------

    # Upserts, so that two nodes writing the same row at once never conflict; built on first
    # use, since a re-poll of unchanged `url:` feeds needs none of them.

    @functools.cached_property
    def _put_validators(self) -> Any:
        upsert = self._insert(feed_validators)
        return upsert.on_conflict_do_update(
            index_elements=["feed", "instance"],
            set_={"etag": upsert.excluded.etag, "last_modified": upsert.excluded.last_modified},
        )

    @functools.cached_property
    def _put_rest(self) -> Any:
        upsert = self._insert(instance_rests)
        return upsert.on_conflict_do_update(index_elements=["instance"], set_={"until": upsert.excluded.until})

    @functools.cached_property
    def _put_robots(self) -> Any:
        upsert = self._insert(robots)
        return upsert.on_conflict_do_update(
            index_elements=["origin"], set_={c.name: upsert.excluded[c.name] for c in robots.c if c.name != "origin"}
        )

    async def instance_validators(self, feed: str, instance: str) -> tuple[str | None, str | None]:
        """The ETag and Last-Modified `instance` gave for `feed` last time (None, None: never)."""
        query = sa.select(feed_validators.c.etag, feed_validators.c.last_modified).where(
            feed_validators.c.feed == feed, feed_validators.c.instance == instance
        )
        rows = await self._rows(query)
        return (rows[0][0], rows[0][1]) if rows else (None, None)

    async def instance_rests(self) -> dict[str, datetime]:
        """RSSHub instance -> until when it rests (past rests included; the caller compares)."""
        rows = await self._rows(sa.select(instance_rests.c.instance, instance_rests.c.until))
        return {row[0]: utc(row[1]) or row[1] for row in rows}

    async def rest_instance(self, instance: str, until: datetime) -> None:
        params = {"instance": self._text(instance), "until": utc(until)}
        await self._run(lambda conn: conn.execute(self._put_rest, params))

    async def robots_copy(self, origin: str) -> RobotsCopy | None:
        query = sa.select(robots).where(robots.c.origin == self._text(origin))
        rows = await self._run(lambda conn: conn.execute(query).mappings().all())
        return robots_copy(rows[0]) if rows else None

    async def save_robots(self, copy: RobotsCopy) -> None:
        row = robots_row(copy)
        if self._text is _without_nul:
            row = _row_without_nul(row)
        await self._run(lambda conn: conn.execute(self._put_robots, row))

    # -- leases (PostgreSQL) ---------------------------------------------------------------------

    async def take_lease(self, feed: str, node: str, seconds: float, *, only_if_due: bool) -> LeaseGrant:
        """Take `feed`'s lease for `node` with one atomic statement, unless another node holds it
        or (`only_if_due`) the feed is not due yet. The grant carries the feed's stored state."""

        def take(conn: sa.Connection) -> LeaseGrant:
            # Most asks in a cluster find the feed polled already by another node: a read says so,
            # without writing a lease to take back.
            if only_if_due and (due := conn.execute(_DUE_LATER, {"feed": feed}).scalar()) is not None:
                return LeaseGrant(_read_state(conn, feed), due=utc(due))
            token = conn.execute(_TAKE_LEASE, {"feed": feed, "node": node, "seconds": seconds}).scalar()
            if token is None:
                holder = conn.execute(sa.select(leases.c.node).where(leases.c.feed == feed)).scalar()
                return LeaseGrant(_read_state(conn, feed), holder=holder)
            lease = Lease(feed, node, int(token))
            # Read after taking the lease, in a statement of its own: a poll that another node
            # recorded just before is seen here, and the feed is not polled twice.
            due = conn.execute(_DUE_LATER, {"feed": feed}).scalar() if only_if_due else None
            if due is not None:
                _end_lease(conn, lease)
                return LeaseGrant(_read_state(conn, feed), due=utc(due))
            return LeaseGrant(_read_state(conn, feed), lease=lease)

        return await self._run(take)

    async def renew_leases(self, held: Sequence[Lease], seconds: float) -> list[Lease]:
        """Extend each lease by `seconds`; returns those that no longer held."""

        def renew(conn: sa.Connection) -> list[Lease]:
            lost = []
            for lease in sorted(held, key=lambda lease: lease.feed):  # the commits' lock order
                params = {"feed": lease.feed, "node": lease.node, "token": lease.token, "seconds": seconds}
                if conn.execute(_RENEW_LEASE, params).rowcount != 1:
                    lost.append(lease)
            return lost

        return await self._run(renew) if held else []

    # -- the feeds table as the config's copy; claims (PostgreSQL) ---------------------------------

    async def sync_feeds(self, records: Sequence[FeedRecord], config_hash: str, node: str | None,
                         lease_seconds: float) -> FeedSync:
        """Write the config's feeds into the feeds table (see `feedtable.sync`), one node at a time."""
        from crawler.store import feedtable  # a daemon's start and reload only

        return await self._run(lambda conn: feedtable.sync(conn, records, config_hash, node, lease_seconds))

    async def claim_due(self, node: str, seconds: float, limit: int,
                        busy: Sequence[str] = ()) -> tuple[list[Claimed], datetime | None]:
        """Up to `limit` due feeds but `busy`, leased to `node` in one statement; with fewer, when to ask again."""
        from crawler.store import feedtable

        return await self._run(lambda conn: feedtable.claim(conn, node, seconds, limit, busy))

    async def listen(self, on_notify: Callable[[], None]) -> Listener | None:
        """PostgreSQL: `on_notify()` whenever another node's sync made feeds due (None on SQLite)."""
        from crawler.store import feedtable

        if not isinstance(self._db, AsyncDriver):
            return None
        return Listener(self._db, feedtable.NOTIFY_CHANNEL, on_notify)

    async def lease_holders(self) -> dict[str, str]:
        """feed -> the node holding its lease now."""
        if self._db.dialect != "postgresql" or self.revision in (None, versions.UNVERSIONED, versions.BASELINE):
            return {}
        query = sa.text("SELECT feed, node FROM leases WHERE expires_at > now()")
        return {row[0]: row[1] for row in await self._rows(query)}


@dataclass(frozen=True)
class _Poll:
    state: FeedState
    url: str
    archived: Sequence[ArchivedEntry]
    new_images: Sequence[ImageAsset]
    lease: Lease | None
    instance_validators: bool = False
    changes: Sequence[EntryChange] = ()
    new_aliases: Sequence[tuple[str, str]] = ()
    index: Callable[[sa.Connection], None] | None = None


def _spread(state: FeedState) -> FeedState:
    """The next due time plus up to a tenth of the wait (at most a minute), as the single daemon's
    scheduler adds to its jobs: feeds that one node claimed together do not come due together
    again, and so spread over the nodes."""
    if state.next_due is None or state.last_poll is None:
        return state
    wait = (state.next_due - state.last_poll).total_seconds()
    return replace(state, next_due=state.next_due + timedelta(seconds=random.uniform(0, min(wait / 10, 60.0))))


def _end_lease(conn: sa.Connection, lease: Lease) -> bool:
    """Release `lease` if it still holds; False if it had expired or passed to another node."""
    params = {"feed": lease.feed, "node": lease.node, "token": lease.token}
    return conn.execute(_END_LEASE, params).first() is not None


def _read_state(conn: sa.Connection, name: str) -> FeedState:
    row = conn.execute(sa.select(feeds).where(feeds.c.name == name)).mappings().first()
    return feed_state(row) if row is not None else FeedState(name=name)


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _BATCH):
        yield items[start : start + _BATCH]


_TRY_AGAIN = frozenset({"40P01", "40001"})  # deadlock detected, serialization failure


def _sqlstate(exc: DBAPIError) -> str | None:
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return code if isinstance(code, str) else None


def _without_nul(value: str) -> str:
    return value.replace("\x00", "\ufffd")


def _row_without_nul(row: dict[str, Any]) -> dict[str, Any]:
    return {key: _without_nul(value) if isinstance(value, str) else value for key, value in row.items()}


@cache
def _add_aliases(dialect: str) -> Any:
    """Built on first use, as `_change_statements`; two nodes recording one alias is one alias."""
    return _insert_for(dialect)(aliases).on_conflict_do_nothing(index_elements=["feed", "alias"])


def _insert_for(dialect: str) -> Callable[[sa.Table], Any]:
    """INSERT with ON CONFLICT, in the dialect at hand (SQLite and PostgreSQL spell it alike)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert
    from sqlalchemy.dialects import sqlite

    return sqlite.insert


def legacy_fingerprint(entry: FeedEntry) -> str | None:
    """Link + title, as stores written before canonical links matched entries by."""
    if not entry.link:
        return None
    return hashlib.sha256(f"{entry.link}\x00{entry.title}".encode()).hexdigest()[:32]
