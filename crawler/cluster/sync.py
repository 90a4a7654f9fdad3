"""The config's feeds copied into the store's feeds table, at a daemon's start and at each reload.

Each feed is written with a hash of its resolved settings, and the store keeps the hash of the
whole config that was synced last: a node whose config is the one in the store writes nothing,
and a node whose config differs says so (one warning naming both hashes) before its feeds
become the store's. Feeds that left the config are retired, not deleted (their history stays);
feeds that come back are revived. See `store.feedtable` for the statements.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import logging
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from crawler.models import FeedSource

if TYPE_CHECKING:
    from crawler.store import FeedRecord, FeedSync, StateStore

log = logging.getLogger(__name__)

FIRST_POLL_SPREAD = 60.0  # a new feed's first poll: within min(interval, this) of the sync, as the daemon spreads them


def _fields() -> tuple[str, ...]:
    if dataclasses.is_dataclass(FeedSource):
        return tuple(f.name for f in dataclasses.fields(FeedSource))
    return tuple(getattr(FeedSource, "_fields", ()))  # a NamedTuple, should it become one


_FIELDS = _fields()


def settings_hash(source: FeedSource) -> str:
    """A short hash of everything the config says of `source` (defaults merged in)."""
    values: list[Any] = []
    for name in _FIELDS:
        value = getattr(source, name)
        values.append(sorted(value.items()) if isinstance(value, Mapping) else value)
    return hashlib.blake2b(repr(values).encode(), digest_size=8).hexdigest()


def feed_records(feeds: Sequence[FeedSource], now: datetime) -> tuple[list[FeedRecord], str]:
    """The feeds table's rows for `feeds`, and the config's hash (of every name and settings hash)."""
    from crawler.store import FeedRecord

    records = [
        FeedRecord(f.name, f.url, f.route, settings_hash(f),
                   now + timedelta(seconds=random.uniform(0, min(f.interval, FIRST_POLL_SPREAD))))
        for f in feeds
    ]
    whole = hashlib.blake2b(digest_size=8)
    for name, hashed in sorted((r.name, r.settings_hash) for r in records):
        whole.update(f"{name}\x00{hashed}\n".encode())
    return records, whole.hexdigest()


class FeedTableSync:
    """Syncs one node's config into the store; remembers the hash it synced, so that a reload of
    the node's own changed config is a change, and only a config another node wrote is a warning."""

    def __init__(self, store: StateStore, node: str | None, lease_seconds: float) -> None:
        self._store = store
        self._node = node
        self._lease = lease_seconds
        self._synced: str | None = None  # the config hash this node last found or wrote in the store

    async def __call__(self, feeds: Sequence[FeedSource]) -> FeedSync:
        # Hashing 100,000 feeds takes a few tenths of a second: not on the event loop.
        records, config_hash = await asyncio.to_thread(feed_records, feeds, datetime.now(UTC))
        result = await self._store.sync_feeds(records, config_hash, self._node, self._lease)
        del records
        self._log(result, config_hash, len(feeds))
        self._synced = config_hash
        return result

    def _log(self, result: FeedSync, config_hash: str, count: int) -> None:
        if result.in_sync:
            log.info("feeds table: in sync with this config (%d feeds, config hash %s)", count, config_hash)
        else:
            if result.before is not None and result.before != config_hash and result.before != self._synced:
                log.warning("feeds table: this node's config hash %s differs from the store's %s (synced by node "
                            "%s): the store now holds this node's feeds", config_hash, result.before,
                            result.before_node or "?")
            log.info("feeds synced into the store: %d feeds (%d added, %d revived, %d changed, %d retired), "
                     "config hash %s", count, result.added, result.revived, result.changed, result.retired,
                     config_hash)
            if result.unhashed and result.before is not None:
                log.warning("feeds table: %d feeds had no settings hash (edited by hand?): hashed from this config",
                            result.unhashed)
        if result.undue:
            log.warning("feeds table: %d feeds had no next due time (edited by hand?): due now", result.undue)
        if result.cut_leases:
            nodes = sorted({node for _, node in result.cut_leases})
            log.warning("leases: %d held further ahead than any node takes them (by %s; edited by hand?): "
                        "cut to %gs", len(result.cut_leases), ", ".join(nodes), self._lease)
