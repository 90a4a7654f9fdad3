"""`feed-archiver run`: every feed polled on its own schedule, in one long-lived process.

APScheduler 3.11's `AsyncIOScheduler` runs in the same event loop as the
fetcher, with one job (`Schedule`): it wakes at the earliest due time of a
`Timetable` (a heap of due times by feed, what a daemon holds per feed besides
the feed's settings) and hands the feeds due to the `FeedPool`. After each poll
the feed's due time is set from the state store's next due time, so backoff,
`Retry-After`, `<ttl>` and dead feeds all go through one place
(`schedule.next_state`), and next due times survive a restart.

Signals: SIGTERM/SIGINT stop intake and let the polls in flight finish within
`shutdown_timeout`; a second one cancels at once (exit status 128 + signal).
SIGHUP, or a change of the config file with `--watch`, reloads the config.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from crawler.app import EXIT_STARTUP, open_deps, utc_now
from crawler.archive import remove_stale_temp_files
from crawler.cluster import ArchiveLocked, Claims, FeedTableSync, Leases, writer_lock
from crawler.config import FeedSource, Settings, ensure_archive_dir, load_settings
from crawler.errors import ConfigError, StateError
from crawler.models import FeedReport, FeedState
from crawler.ops import ListenError, open_endpoint, plural, readiness
from crawler.pipeline import Deps, crashed, crawl_feed
from crawler.runtime import FeedPool, Timetable, jitter_limit, next_state, regular_due

log = logging.getLogger(__name__)


def _in(when: datetime, now: datetime) -> str:
    return f"{max((when - now).total_seconds(), 0):.0f}s"

FIRST_POLL_SPREAD = 60.0
WATCH_PERIOD = 1.0


def run(settings: Settings, *, watch: bool = False) -> int:
    """Run the daemon until a signal stops it; returns the process exit status."""
    ensure_archive_dir(settings)
    try:
        with writer_lock(settings.archive_dir, settings.state_url, also_sweep=settings.outside_archive):
            return asyncio.run(Daemon(settings, watch=watch).serve())
    except (StateError, ArchiveLocked, ListenError) as exc:
        log.error("%s", exc)
        return EXIT_STARTUP


def _schedule_key(source: FeedSource) -> tuple[float, str | None]:
    return source.interval, source.cron


STATES_KEPT = 10_000  # feed states kept between polls (all of them, up to this many feeds)
WAKE_AT_LEAST_EVERY = 60.0  # the schedule's job also runs this often, whatever is due


class Schedule:
    """When each feed is polled, in this process: one APScheduler job that wakes at the earliest
    due time and hands every feed due by then to `submit`.

    The seam between the daemon and how it finds work: `start`, `set`, `remove`, `running`,
    `shutdown`. (A feed handed over is due again at its regular time, as its own trigger would
    have made it, until its poll says when: `set`.)
    """

    def __init__(self, submit: Callable[[str], object], sources: Callable[[str], FeedSource | None]) -> None:
        self._submit = submit
        self._source = sources
        self._table = Timetable()
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._wake_at = float("inf")  # when the job runs next

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def start(self, entries: list[tuple[float, str]]) -> None:
        """Begin with these (due time, feed) pairs."""
        self._table.fill(entries)
        self._wake_at = self._next_wake()
        self._scheduler.add_job(
            # Several instances may overlap: a wake re-arms the job while its own instance still counts
            # as running, and with one instance APScheduler skips that wake and waits a whole interval
            # (seen: feeds due at once left for a minute). Overlapping wakes are harmless: `_wake`
            # never awaits, so each pops what is due whole.
            self._wake, IntervalTrigger(seconds=WAKE_AT_LEAST_EVERY, timezone="UTC"), id="due-feeds",
            name="due-feeds", max_instances=8, coalesce=True, misfire_grace_time=None,
            next_run_time=self._at(self._wake_at),
        )
        self._scheduler.start()

    def shutdown(self) -> None:
        self._scheduler.shutdown(wait=False)

    def set(self, name: str, due: datetime) -> None:
        when = due.timestamp()
        self._table.set(name, when)
        if when < self._wake_at:
            self._rearm()

    def remove(self, name: str) -> None:
        self._table.remove(name)

    def _next_wake(self) -> float:
        earliest = self._table.earliest()
        fallback = datetime.now(UTC).timestamp() + WAKE_AT_LEAST_EVERY
        return fallback if earliest is None else min(earliest, fallback)

    @staticmethod
    def _at(when: float) -> datetime:
        return datetime.fromtimestamp(when, UTC)

    def _rearm(self) -> None:
        self._wake_at = self._next_wake()
        if self._scheduler.running:
            self._scheduler.modify_job("due-feeds", next_run_time=self._at(self._wake_at))

    async def _wake(self) -> None:
        now = datetime.now(UTC)
        for name in self._table.pop_due(now.timestamp()):
            source = self._source(name)
            if source is None:
                continue
            self._table.set(name, regular_due(source, now).timestamp())
            self._submit(name)
        self._rearm()


class _States:
    """The feeds' states as their last polls saved them, the most recent `STATES_KEPT`: up to that
    many feeds the store is never asked twice; past it, a poll reads its feed's state first."""

    def __init__(self, states: Mapping[str, FeedState] | None = None) -> None:
        self._kept: OrderedDict[str, FeedState] = OrderedDict()
        for name, state in (states or {}).items():
            self.put(name, state)

    def get(self, name: str) -> FeedState | None:
        state = self._kept.get(name)
        if state is not None:
            self._kept.move_to_end(name)
        return state

    def put(self, name: str, state: FeedState) -> None:
        self._kept[name] = state
        self._kept.move_to_end(name)
        if len(self._kept) > STATES_KEPT:
            self._kept.popitem(last=False)


class Daemon:
    def __init__(self, settings: Settings, *, watch: bool = False) -> None:
        self._settings = settings
        self._watch = watch
        self._feeds = {feed.name: feed for feed in settings.feeds}
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self._signals: list[int] = []
        self._schedule = Schedule(self._enqueue, lambda name: self._feeds.get(name))
        self._deps: Deps | None = None
        self._pool: FeedPool | None = None
        self._states = _States()
        self._claims: Claims | None = None  # a cluster node claims due feeds from the store (crawler/cluster/claims.py)
        self._sync: FeedTableSync | None = None

    async def serve(self) -> int:
        # First: a metrics port in use must stop the start before anything else has begun.
        endpoint = open_endpoint(self._settings.metrics_listen)
        loop = asyncio.get_running_loop()
        handled = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
        for signum in handled:
            loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            async with open_deps(self._settings, observer=endpoint.observer, announce_outages=True) as deps:
                self._deps = deps
                self._pool = FeedPool(max(4, self._settings.http.concurrency), self._poll)
                await self._sync_feeds(deps)
                states = await deps.store.all_feed_states()
                self._states = _States(states)
                now = utc_now()
                # A cluster node claims due feeds from the store (crawler/cluster/claims.py): no timetable of its own.
                firsts = {name: self._first_due(source, states.get(name), now)
                          for name, source in self._feeds.items()} if self._claims is None else {}
                await self._record_first_dues(firsts, states)
                self._schedule.start([(first.timestamp(), name) for name, first in firsts.items()])
                deps.observer.feeds_known(list(self._feeds), states)
                del states
                endpoint.serving(ready=readiness(deps.store.ping, lambda: self._schedule.running))
                cluster = self._settings.cluster
                node = f", node {cluster.node} (lease {cluster.lease:g}s)" if cluster else ""
                log.info("daemon started: %s, archive %s%s", plural(len(self._feeds), "feed"),
                         self._settings.archive_dir, node)
                if firsts:
                    log.info("first poll in %s, the next %s by %s", _in(min(firsts.values()), now),
                             plural(len(firsts) - 1, "poll"), _in(max(firsts.values()), now))
                watcher = asyncio.create_task(self._watch_config()) if self._watch else None
                await self._stop.wait()
                log.info("stopping: no new polls; waiting up to %.0fs for %d in flight",
                         self._settings.shutdown_timeout, self._pool.busy + (self._claims.busy if self._claims else 0))
                self._schedule.shutdown()
                if watcher:
                    watcher.cancel()
                cancelled = await self._pool.drain(self._settings.shutdown_timeout, self._force)
                if self._claims is not None:
                    cancelled += await self._claims.drain(self._settings.shutdown_timeout, self._force)
                if cancelled:
                    log.warning("cancelled %s still running after the grace period", plural(cancelled, "poll"))
        finally:
            await asyncio.to_thread(endpoint.close)
            for signum in handled:
                loop.remove_signal_handler(signum)
        if self._force.is_set():
            if self._settings.cluster is None:  # in a cluster, others' temporary files are theirs to finish
                for folder in (self._settings.archive_dir, *self._settings.outside_archive):
                    await asyncio.to_thread(remove_stale_temp_files, folder)
            return 128 + self._signals[-1]
        log.info("stopped cleanly")
        return 0

    # -- signals and reload ------------------------------------------------------------------

    def _on_signal(self, signum: int) -> None:
        if signum == signal.SIGHUP:
            asyncio.get_running_loop().create_task(self._reload("SIGHUP"))
            return
        self._signals.append(signum)
        if self._stop.is_set():
            log.warning("second %s: stopping now", signal.Signals(signum).name)
            self._force.set()
        else:
            log.info("%s received", signal.Signals(signum).name)
            self._stop.set()

    async def _reload(self, why: str) -> None:
        try:
            settings = await asyncio.to_thread(load_settings, self._settings.config_path)
        except ConfigError as exc:
            log.error("reload (%s) refused, keeping the running config: %s", why, exc)
            return
        if (settings.archive_dir, settings.images_dir, settings.state_url, settings.http) != (
            self._settings.archive_dir, self._settings.images_dir, self._settings.state_url, self._settings.http
        ):
            # The image workers write to the images_dir they were started with: the src must point there.
            log.warning("reload: archive_dir, images_dir, state and http changes take effect after a restart")
            settings = replace(settings, archive_dir=self._settings.archive_dir, images_dir=self._settings.images_dir,
                               state_url=self._settings.state_url, http=self._settings.http)
        assert self._deps is not None
        new = {feed.name: feed for feed in settings.feeds}
        states = await self._stored_states(new.keys() - self._feeds.keys())  # first: nothing changes after
        old = self._feeds
        removed = old.keys() - new.keys()
        added = new.keys() - old.keys()
        changed = {n for n in new.keys() & old.keys() if new[n] != old[n]}
        self._deps.settings = settings
        self._settings = settings
        await self._sync_feeds(self._deps, new)
        self._feeds = new
        now = utc_now()
        timetabled = self._claims is None  # a cluster node's claims follow the new feeds: no timetable to change
        for name in removed if timetabled else ():
            self._schedule.remove(name)
        for name in added if timetabled else ():
            self._schedule.set(name, self._first_due(new[name], states.get(name), now))
        for name in changed if timetabled else ():
            if _schedule_key(new[name]) != _schedule_key(old[name]):
                self._schedule.set(name, self._soon(new[name], now))
        self._deps.observer.feeds_known(list(new), states)
        log.info("reload (%s): %s (%d added, %d removed, %d changed)",
                 why, plural(len(new), "feed"), len(added), len(removed), len(changed))

    async def _watch_config(self) -> None:
        path = self._settings.config_path

        def stamp() -> tuple[int, int] | None:
            try:
                info = os.stat(path)
            except OSError:
                return None
            return info.st_mtime_ns, info.st_size

        last = await asyncio.to_thread(stamp)
        while True:
            await asyncio.sleep(WATCH_PERIOD)
            current = await asyncio.to_thread(stamp)
            if current is not None and current != last:
                last = current
                await self._reload("config file changed")


    async def _stored_states(self, names: Iterable[str]) -> dict[str, FeedState]:
        """The stored states of feeds a reload adds (one query for many, one each for a few)."""
        names = list(names)
        assert self._deps is not None
        if len(names) > 100:
            every = await self._deps.store.all_feed_states()
            return {name: every[name] for name in names if name in every}
        return {name: await self._deps.store.feed_state(name) for name in names}

    async def _sync_feeds(self, deps: Deps, feeds: dict[str, FeedSource] | None = None) -> None:
        """The config's feeds into the store's feeds table; in a cluster, claiming starts (or goes on with them)."""
        cluster, feeds = self._settings.cluster, self._feeds if feeds is None else feeds
        if self._sync is None:
            self._sync = FeedTableSync(deps.store, cluster.node if cluster else None, cluster.lease if cluster else 0)
        try:
            await self._sync(list(feeds.values()))
        except StateError as exc:
            log.error("the config's feeds could not be synced into the store: %s", exc)
        if isinstance(deps.coordinator, Leases):
            if self._claims is None:
                slots = max(4, self._settings.http.concurrency)
                self._claims = Claims(deps.store, deps.coordinator, feeds, slots,
                                      lambda source, state, lease: crawl_feed(source, deps, state, lease))
            else:
                self._claims.use(feeds)

    # -- scheduling ----------------------------------------------------------------------------

    @staticmethod
    def _soon(source: FeedSource, now: datetime) -> datetime:
        # First polls spread over min(interval, 60 s) so that a restart does not fire every feed at once.
        return now + timedelta(seconds=random.uniform(0, min(source.interval, FIRST_POLL_SPREAD)))

    def _first_due(self, source: FeedSource, state: FeedState | None, now: datetime) -> datetime:
        due = state.next_due if state is not None and state.next_due is not None else None
        return due if due is not None and due > now else self._soon(source, now)

    async def _record_first_dues(self, firsts: dict[str, datetime], states: Mapping[str, FeedState]) -> None:
        """A feed never polled has no next due time in the store until its first poll: write it, so
        that `status` shows when it comes. (In a cluster the node that takes the feed says.)"""
        if self._deps is None or self._settings.cluster is not None:
            return
        never = [(replace(states.get(name) or FeedState(name), next_due=first), self._feeds[name].url)
                 for name, first in firsts.items() if (state := states.get(name)) is None or state.last_poll is None]
        await self._deps.store.save_first_dues(never)
        for state, _ in never:
            self._states.put(state.name, state)

    def _enqueue(self, name: str) -> None:
        if self._pool is not None:
            self._pool.submit(name)

    async def _poll(self, name: str) -> None:
        source = self._feeds.get(name)
        if source is None or self._deps is None:
            return
        # Alone on the archive (the lock file sees to it), the state this daemon saved last time is
        # the state in the store; in a cluster the grant brings the stored state with the lease.
        coordinator = self._deps.coordinator
        grant = await coordinator.take(name, self._states.get(name), only_if_due=True)
        if grant.refused:
            # Polled by another node lately (come back when it is due) or now (look again when its
            # poll should be recorded: an interval, at most a lease, from now).
            lease = self._settings.cluster.lease if self._settings.cluster else source.interval
            self._reschedule(source, grant.due or utc_now() + timedelta(seconds=min(lease, source.interval)))
            return
        try:
            report = await crawl_feed(source, self._deps, grant.state, grant.lease)
        except Exception as exc:  # the state store failing, say: the poll failed and could not be recorded
            report = self._unrecorded(source, grant.state or self._states.get(name) or FeedState(name), exc)
        finally:
            coordinator.done(grant.lease)
        if report.state is None:
            return
        self._states.put(name, report.state)
        if report.state.next_due is not None:
            self._reschedule(source, report.state.next_due)

    def _unrecorded(self, source: FeedSource, state: FeedState, exc: Exception) -> FeedReport:
        """A poll that raised before it was recorded: counted and backed off like any failed poll,
        in this process's memory of the feed (which the next recorded poll saves)."""
        report = crashed(FeedReport(source.name, source.url), exc)
        log.error("feed=%s url=%s failed, not recorded: %s", source.name, source.url, report.error)
        report.state = next_state(source, state, report, utc_now())
        assert self._deps is not None
        self._deps.observer.poll_done(report)
        return report

    def _reschedule(self, source: FeedSource, due: datetime) -> None:
        if source.name not in self._feeds or self._stop.is_set():
            return
        due += timedelta(seconds=random.uniform(0, jitter_limit(source)))
        self._schedule.set(source.name, due)
