"""Who polls a feed now: this process alone (SQLite, behind the lock file), or the node holding its lease.

`Leases` is PostgreSQL's answer. Taking a feed's lease is one atomic statement in the
store; while polls run, one task renews every lease this node holds (a third of the
lease apart); recording a poll ends its lease in the same transaction, and records
nothing if the lease no longer held (a node paused past its lease, by SIGSTOP or a
long GC, wakes to find its poll refused, not written over another node's). A node that
dies simply stops renewing: its leases expire and the others take its feeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from crawler.archive import remove_stale_temp_files
from crawler.errors import StateError
from crawler.models import FeedState, Lease, LeaseGrant
from crawler.store import StateStore

log = logging.getLogger(__name__)

SWEEP_EVERY_SECONDS = 3600.0


class Coordinator(Protocol):
    async def take(self, feed: str, cached: FeedState | None, *, only_if_due: bool) -> LeaseGrant:
        """May this process poll `feed` now? `cached`: its state, if the caller has it."""

    def done(self, lease: Lease | None) -> None:
        """The poll under `lease` was recorded (or given up)."""

    async def close(self) -> None: ...


class Local:
    """The only writer (the lock file sees to it): every feed may be polled, its cached state is the stored one."""

    def __init__(self, store: StateStore) -> None:
        self._store = store

    async def take(self, feed: str, cached: FeedState | None, *, only_if_due: bool) -> LeaseGrant:
        return LeaseGrant(cached if cached is not None else await self._store.feed_state(feed))

    def done(self, lease: Lease | None) -> None:
        pass

    async def close(self) -> None:
        pass


class Leases:
    """Per-feed leases in a PostgreSQL store, for `node`, each `seconds` long.

    >>> leases = Leases(store, "archiver-1", 60.0, [archive_dir])
    >>> grant = await leases.take("feed", None, only_if_due=True)
    >>> if grant.lease: ...poll, record with grant.lease...; leases.done(grant.lease)
    """

    def __init__(self, store: StateStore, node: str, seconds: float, folders: Sequence[Path]) -> None:
        self.node = node
        self._store = store
        self._seconds = seconds
        self._folders = folders  # where this node writes: the archive, an images_dir of its own
        self._held: dict[str, Lease] = {}
        self._renewer = asyncio.create_task(self._renew_forever(), name="lease-renewer")
        self._sweeper = asyncio.create_task(self._sweep_forever(), name="temp-sweeper")

    async def take(self, feed: str, cached: FeedState | None, *, only_if_due: bool) -> LeaseGrant:
        grant = await self._store.take_lease(feed, self.node, self._seconds, only_if_due=only_if_due)
        if grant.lease is not None:
            self._held[feed] = grant.lease
        return grant

    def hold(self, lease: Lease) -> None:
        """A lease taken by a claim (`cluster.claims`): renewed from now on, until `done`."""
        self._held[lease.feed] = lease

    @property
    def seconds(self) -> float:
        return self._seconds

    def done(self, lease: Lease | None) -> None:
        if lease is not None and self._held.get(lease.feed) == lease:
            del self._held[lease.feed]

    async def _renew_forever(self) -> None:
        while True:
            await asyncio.sleep(self._seconds / 3)
            held = list(self._held.values())
            try:
                lost = await self._store.renew_leases(held, self._seconds)
            except StateError as exc:
                log.warning("node=%s cannot renew %d leases: %s", self.node, len(held), exc)
                continue
            for lease in lost:
                if self._held.get(lease.feed) == lease:
                    del self._held[lease.feed]
                    log.warning("node=%s feed=%s lease lost (expired or taken by another node): "
                                "this poll will not be recorded", self.node, lease.feed)

    async def _sweep_forever(self) -> None:
        """Temporary files older than a lease were left by a node that died mid-write."""
        while True:
            removed = 0
            for folder in self._folders:
                removed += await asyncio.to_thread(remove_stale_temp_files, folder, self._seconds)
            if removed:
                log.warning("removed %d temporary files older than the lease (%.0fs)", removed, self._seconds)
            await asyncio.sleep(SWEEP_EVERY_SECONDS)

    async def close(self) -> None:
        for task in (self._renewer, self._sweeper):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
