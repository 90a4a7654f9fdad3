"""A cluster node's daemon loop: claim due feeds from the store, poll what was claimed, sleep until more is due.

A node does not schedule every feed. With free polling slots it claims a batch of due feeds
in one statement (`StateStore.claim_due`: oldest due first, `FOR UPDATE SKIP LOCKED`, the
leases taken in the same statement), polls each under its lease (renewed by `Leases` while the
poll runs; the poll recorded only while the lease holds), and claims again as slots free up,
a quarter of them at a time, so that a claim's statement is shared by several polls. When fewer
feeds were due than it asked for, it sleeps until the earliest due time in the store (or the
earliest lease expiry: a killed node's feeds come free then), until another node's sync
NOTIFYs, or 30 s at most; a small random delay on waking lets the nodes that were sleeping
take turns at the feeds that come due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from crawler.errors import CrawlerError, StateError
from crawler.models import FeedReport, FeedSource, FeedState, Lease

if TYPE_CHECKING:
    from crawler.cluster.coordinator import Leases
    from crawler.store import Claimed, Listener, StateStore

log = logging.getLogger(__name__)

MAX_SLEEP = 30.0  # DESIGN.md: an idle node looks at the store at least this often
WAKE_SPREAD = 0.2  # seconds of random delay after a due time, so sleeping nodes take turns
MIN_SLEEP = 0.05  # when the store says "due now" but the claim found it taken: look again soon
RETRY_MAX = 10.0  # the store failing: look again after 1, 2, 4, ... seconds, at most this
STOP_WAIT = 2.0  # at a stop, the longest wait for the loop (and for cancelled polls) to end

Crawl = Callable[[FeedSource, FeedState, Lease], Awaitable[FeedReport]]


class Claims:
    """Claims and polls due feeds for `leases.node` with up to `slots` polls at once, until `drain`.

    >>> claims = Claims(store, leases, {f.name: f for f in settings.feeds}, 16, crawl)
    >>> ...; claims.use(new_sources)  # after a reload
    >>> cancelled = await claims.drain(grace=30, force=stop_now)
    """

    def __init__(self, store: StateStore, leases: Leases, sources: Mapping[str, FeedSource], slots: int,
                 crawl: Crawl) -> None:
        self._store = store
        self._leases = leases
        self._sources = sources
        self._slots = max(1, slots)
        self._batch = max(1, self._slots // 4)
        self._crawl = crawl
        store.spread_next_due = True  # or feeds claimed together would stay together, on one node
        self._polls: dict[str, asyncio.Task[None]] = {}
        self._freed = asyncio.Event()
        self._notified = asyncio.Event()
        self._strangers: set[str] = set()  # feeds of the store this node's config lacks, said once each
        self._listener: Listener | None = None
        self._until: datetime | None = None  # when the loop, asleep, looks again
        self._stopping = False
        self._loop = asyncio.create_task(self._run(), name="claims")

    @property
    def running(self) -> bool:
        return not self._loop.done()

    @property
    def busy(self) -> int:
        return len(self._polls)

    def use(self, sources: Mapping[str, FeedSource]) -> None:
        """The feeds of a reloaded config (a feed claimed before and polled now keeps its old settings)."""
        self._sources = sources
        self._strangers.clear()
        self._notified.set()  # the sync may have made feeds due

    async def _run(self) -> None:
        self._listener = await self._store.listen(self._notified.set)
        failures = 0
        while not self._stopping:
            free = self._slots - len(self._polls)
            if free < self._batch and self._polls:
                self._freed.clear()
                await self._freed.wait()
                continue
            self._notified.clear()  # what is said from here on may come after the claim's look: it counts
            try:
                claimed, wake = await self._store.claim_due(self._leases.node, self._leases.seconds, free,
                                                            list(self._polls))
            except (StateError, OSError) as exc:
                failures += 1
                if failures == 1:
                    log.error("node=%s cannot claim feeds: %s", self._leases.node, exc)
                await self._pause(min(2.0 ** (failures - 1), RETRY_MAX))
                continue
            except Exception:  # a bug: said once with its traceback, and the node keeps trying
                failures += 1
                if failures == 1:
                    log.exception("node=%s claiming feeds crashed", self._leases.node)
                await self._pause(min(2.0 ** (failures - 1), RETRY_MAX))
                continue
            if failures:
                log.info("node=%s claims feeds again (the state store answers)", self._leases.node)
                failures = 0
            self._start(claimed)  # even when stopping: claimed feeds are polled (and drained), not left leased
            if len(claimed) >= free or self._stopping:
                continue  # as many due as slots: more may be; claim again as slots free
            await self._sleep(wake)

    def _start(self, claimed: list[Claimed]) -> None:
        takeovers: dict[str, int] = {}
        for grant in claimed:
            name = grant.lease.feed
            if grant.taken_from is not None and grant.taken_from != self._leases.node:
                takeovers[grant.taken_from] = takeovers.get(grant.taken_from, 0) + 1
            source = self._sources.get(name)
            if source is None:
                # Another node's config has it, this one's not: leave it to them. The lease is not
                # renewed, so it expires after one lease and any node may claim the feed again.
                if name not in self._strangers:
                    self._strangers.add(name)
                    log.warning("node=%s feed=%s is in the store but not in this node's config (a config that "
                                "differs from the store's): left to the other nodes", self._leases.node, name)
                continue
            self._leases.hold(grant.lease)
            self._polls[name] = asyncio.create_task(self._poll(source, grant), name=f"poll-{name}")
        if takeovers:
            log.info("node=%s took over %d feeds whose leases had expired (held by %s)", self._leases.node,
                     sum(takeovers.values()), ", ".join(sorted(takeovers)))

    async def _poll(self, source: FeedSource, grant: Claimed) -> None:
        try:
            report = await self._crawl(source, grant.state, grant.lease)
            due = report.state.next_due if report.state is not None else None
            if due is not None and (self._until is None or due < self._until):
                self._notified.set()  # due before the loop meant to look again (a short interval, say)
        except CrawlerError as exc:  # the state store failing, say: one line, and the node goes on
            log.error("node=%s feed=%s poll failed: %s", self._leases.node, source.name, exc)
        except Exception:
            log.exception("node=%s feed=%s poll crashed", self._leases.node, source.name)
        finally:
            self._leases.done(grant.lease)
            self._polls.pop(source.name, None)
            self._freed.set()

    async def _sleep(self, wake: datetime | None) -> None:
        listening = self._listener is not None and await self._listener.ensure()
        seconds = MAX_SLEEP if wake is None else (wake - datetime.now(UTC)).total_seconds()
        seconds = min(max(seconds, MIN_SLEEP), MAX_SLEEP if listening else MAX_SLEEP / 10)
        self._until = datetime.now(UTC) + timedelta(seconds=seconds)
        try:
            await self._pause(seconds + random.uniform(0, WAKE_SPREAD))
        finally:
            self._until = None

    async def _pause(self, seconds: float) -> None:
        """Sleep `seconds`, or less if told (a NOTIFY, a poll due sooner, a reload, a stop)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._notified.wait(), seconds)

    async def drain(self, grace: float, force: asyncio.Event) -> int:
        """Claim nothing more; wait up to `grace` seconds (or until `force`) for the polls in flight,
        then cancel what is left; returns how many were cancelled."""
        # The loop ends at its next look; one stuck in a call to the store is cancelled after a while.
        self._stopping = True
        self._notified.set()
        self._freed.set()
        await asyncio.wait([self._loop], timeout=STOP_WAIT)
        if not self._loop.done():
            self._loop.cancel()
            await asyncio.wait([self._loop], timeout=STOP_WAIT)
        if self._listener is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._listener.close(), STOP_WAIT)
        running = list(self._polls.values())
        if running:
            forced: asyncio.Future[Any] = asyncio.ensure_future(force.wait())
            finished: asyncio.Future[Any] = asyncio.gather(*running, return_exceptions=True)
            await asyncio.wait([finished, forced], timeout=grace, return_when=asyncio.FIRST_COMPLETED)
            forced.cancel()
        left = [task for task in running if not task.done()]
        for task in left:
            task.cancel()
        if left:
            await asyncio.wait(left, timeout=STOP_WAIT)
        return len(left)
