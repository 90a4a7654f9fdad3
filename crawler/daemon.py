"""`feed-archiver run`: every feed polled on its own schedule, in one long-lived process.

APScheduler 3.11's `AsyncIOScheduler` runs in the same event loop as the
fetcher; its jobs only hand a feed's name to the `FeedPool`. After each poll the
job's next run time is set from the state store's next due time, so backoff,
`Retry-After`, `<ttl>` and dead feeds all go through one place
(`schedule.next_state`), and next due times survive a restart.

Signals: SIGTERM/SIGINT stop intake and let the polls in flight finish within
`shutdown_timeout`; a second one cancels at once (exit status 128 + signal).
SIGHUP, or a change of the config file with `--watch`, reloads the config.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import signal
from dataclasses import replace
from datetime import datetime, timedelta

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from crawler.app import EXIT_STARTUP, open_deps, utc_now
from crawler.archive import remove_stale_temp_files
from crawler.cluster import ArchiveLocked, Claims, FeedTableSync, Leases, writer_lock
from crawler.config import FeedSource, Settings, ensure_archive_dir, load_settings
from crawler.errors import ConfigError, StateError
from crawler.models import FeedState
from crawler.ops import ListenError, open_endpoint, readiness
from crawler.pipeline import Deps, crawl_feed
from crawler.runtime import FeedPool, jitter_limit

log = logging.getLogger(__name__)

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


def _trigger(source: FeedSource) -> IntervalTrigger | CronTrigger:
    if source.cron:
        return CronTrigger.from_crontab(source.cron, timezone="UTC")
    return IntervalTrigger(seconds=source.interval, timezone="UTC")


def _schedule_key(source: FeedSource) -> tuple[float, str | None]:
    return source.interval, source.cron


class Daemon:
    def __init__(self, settings: Settings, *, watch: bool = False) -> None:
        self._settings = settings
        self._watch = watch
        self._feeds = {feed.name: feed for feed in settings.feeds}
        self._stop = asyncio.Event()
        self._force = asyncio.Event()
        self._signals: list[int] = []
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._deps: Deps | None = None
        self._pool: FeedPool | None = None
        self._states: dict[str, FeedState] = {}
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
                states = self._states = await deps.store.all_feed_states()
                now = utc_now()
                for source in self._feeds.values() if self._claims is None else ():
                    self._add_job(source, states.get(source.name), now)
                deps.observer.feeds_known(list(self._feeds), states)
                self._scheduler.start()
                endpoint.serving(ready=readiness(deps.store.ping, lambda: bool(self._scheduler.running)))
                cluster = self._settings.cluster
                log.info("daemon started: %d feeds, archive %s%s", len(self._feeds), self._settings.archive_dir,
                         f", node {cluster.node} (lease {cluster.lease:g}s)" if cluster else "")
                watcher = asyncio.create_task(self._watch_config()) if self._watch else None
                await self._stop.wait()
                log.info("stopping: no new polls; waiting up to %.0fs for %d in flight",
                         self._settings.shutdown_timeout, self._pool.busy + (self._claims.busy if self._claims else 0))
                self._scheduler.shutdown(wait=False)
                if watcher:
                    watcher.cancel()
                cancelled = await self._pool.drain(self._settings.shutdown_timeout, self._force)
                if self._claims is not None:
                    cancelled += await self._claims.drain(self._settings.shutdown_timeout, self._force)
                if cancelled:
                    log.warning("cancelled %d polls still running after the grace period", cancelled)
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
        self._deps.settings = settings
        self._settings = settings
        new = {feed.name: feed for feed in settings.feeds}
        removed = self._feeds.keys() - new.keys()
        added = new.keys() - self._feeds.keys()
        changed = {n for n in new.keys() & self._feeds.keys() if new[n] != self._feeds[n]}
        await self._sync_feeds(self._deps, new)
        for name in removed if self._claims is None else ():
            self._scheduler.remove_job(name)
        states = self._states
        now = utc_now()
        for name in added if self._claims is None else ():
            self._add_job(new[name], states.get(name), now)
        for name in changed if self._claims is None else ():
            if _schedule_key(new[name]) != _schedule_key(self._feeds[name]):
                self._scheduler.reschedule_job(name, trigger=_trigger(new[name]))
                self._scheduler.modify_job(name, next_run_time=self._soon(new[name], now))
        self._feeds = new
        self._deps.observer.feeds_known(list(new), states)
        log.info("reload (%s): %d feeds (%d added, %d removed, %d changed)",
                 why, len(new), len(added), len(removed), len(changed))

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

    # -- jobs --------------------------------------------------------------------------------

    @staticmethod
    def _soon(source: FeedSource, now: datetime) -> datetime:
        # First polls spread over min(interval, 60 s) so that a restart does not fire every feed at once.
        return now + timedelta(seconds=random.uniform(0, min(source.interval, FIRST_POLL_SPREAD)))

    def _add_job(self, source: FeedSource, state: FeedState | None, now: datetime) -> None:
        due = state.next_due if state is not None and state.next_due is not None else None
        first = due if due is not None and due > now else self._soon(source, now)
        self._scheduler.add_job(
            self._enqueue, _trigger(source), args=[source.name], id=source.name, name=source.name,
            max_instances=1, coalesce=True, misfire_grace_time=None, next_run_time=first,
            replace_existing=True,
        )

    async def _enqueue(self, name: str) -> None:
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
        finally:
            coordinator.done(grant.lease)
        if report.state is None:
            return
        self._states[name] = report.state
        if report.state.next_due is not None:
            self._reschedule(source, report.state.next_due)

    def _reschedule(self, source: FeedSource, due: datetime) -> None:
        if source.name not in self._feeds or self._stop.is_set():
            return
        due += timedelta(seconds=random.uniform(0, jitter_limit(source)))
        with contextlib.suppress(JobLookupError):  # removed by a reload while it ran
            self._scheduler.modify_job(source.name, next_run_time=due)
