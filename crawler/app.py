"""Wiring: build the shared parts once, run the pipeline over the feeds, turn the outcome into an exit status."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crawler.cluster import ArchiveLocked, Coordinator, Leases, Local, writer_lock
from crawler.config import FeedSource, Settings, ensure_archive_dir
from crawler.errors import StateError
from crawler.fetch import Clients, Fetcher, NetworkHealth, PassBarrier
from crawler.images import ImageStore, ImageWorkers
from crawler.models import FeedReport, FeedState, Lease, feed_state_label
from crawler.observe import Capture, CaptureOpener, Observer
from crawler.ops import crawl_progress, human_seconds, plural, print_summary
from crawler.pipeline import Deps, crashed, judge_outage, poll_feed, record_poll
from crawler.runtime import CpuPool, start_forkserver
from crawler.store import StateStore, store_exists

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILURES, EXIT_STARTUP = 0, 1, 3  # 2, a config error, is cli.py's
EXIT_INTERRUPTED = 128 + signal.SIGINT  # as a shell reports a command ended by Ctrl-C
FEEDS_IN_FLIGHT = 30
CANCEL_WAIT_SECONDS = 5.0


class Interrupt:
    """Ctrl-C during a crawl, as the signal handler sets it: the first (`stop`) stops intake and lets
    the polls in flight finish within the grace period, the second (`now`) cancels them."""

    def __init__(self) -> None:
        self.stop = asyncio.Event()
        self.now = asyncio.Event()

    def __call__(self) -> None:
        (self.now if self.stop.is_set() else self.stop).set()


def utc_now() -> datetime:
    return datetime.now(UTC)


def _refuse_a_planted_store(settings: Settings) -> None:
    """An SQLite store inside the archive that is a symbolic link (or its -wal, -shm or -journal file is)
    would carry the store's writes outside the archive: refused, as a planted lock file is."""
    if not settings.state_url.startswith("sqlite:///"):
        return
    path = Path(os.path.abspath(settings.state_url.removeprefix("sqlite:///")))
    if not path.is_relative_to(os.path.abspath(settings.archive_dir)):
        return  # a store the config puts elsewhere is the user's to place
    for name in (path, *(path.with_name(path.name + suffix) for suffix in ("-wal", "-shm", "-journal"))):
        if name.is_symlink():
            raise StateError(f"{name} is a symbolic link: refusing to write through it (remove it)")


@asynccontextmanager
async def open_deps(
    settings: Settings, clock: Callable[[], datetime] = utc_now, observer: Observer | None = None,
    *, announce_outages: bool = False,
) -> AsyncIterator[Deps]:
    """The clients, store, worker processes and image store one process shares, closed in reverse order.
    `observer` hears every request, image and poll (the daemon's metrics); by default nobody does.
    `announce_outages`: log when our network goes down and comes back (the daemon's; a one-off
    crawl says it once at its end)."""
    observer = observer or Observer()
    health = NetworkHealth(announce=announce_outages)
    _refuse_a_planted_store(settings)
    store = await StateStore.open(settings.state_url)
    coordinator: Coordinator = Local(store)
    if settings.cluster is not None:
        coordinator = Leases(
            store, settings.cluster.node, settings.cluster.lease, (settings.archive_dir, *settings.outside_archive)
        )
    workers = CpuPool()
    capture, opener = await _open_capture(settings)
    image_workers = ImageWorkers(
        settings.http, settings.images_dir, max_body=settings.http.max_body, processes=os.cpu_count() or 1,
        observer=observer, capture=opener,
    )
    try:
        async with Clients(settings.http) as clients:
            fetcher = Fetcher(clients, settings.http, observer=observer, health=health, capture=capture)
            yield Deps(
                settings=settings,
                fetcher=fetcher,
                store=store,
                workers=workers,
                images=ImageStore(fetcher, image_workers, store),
                coordinator=coordinator,
                clock=clock,
                observer=observer,
                health=health,
                capture=capture,
            )
    finally:
        await coordinator.close()
        await image_workers.close()
        if capture is not None:
            await capture.aclose()
        await asyncio.to_thread(workers.close)
        await store.close()


async def _open_capture(settings: Settings) -> tuple[Capture | None, CaptureOpener | None]:
    """With `capture.warc`: this process's WARC capture and what the image workers open theirs
    from; the `.open` files a killed process of this node left are closed first."""
    if settings.capture is None or not settings.capture.warc:
        return None, None
    from crawler.capture.warc import WarcSpec, node_name, repair_open_files

    node = node_name(settings.cluster.node if settings.cluster else None)
    await asyncio.to_thread(repair_open_files, settings.capture.warc_dir, node)
    spec = WarcSpec(settings.capture.warc_dir, node, settings.capture.warc_max_size)
    # The crawl's own records go to a thread: its event loop is the crawl's busiest. An image
    # worker writes its own in line, between downloads (measured over 1,500 images: 0.47 ms of
    # CPU each in line, 0.6-1 ms with the hand-off to a thread).
    return spec.open(), replace(spec, threaded=False)


async def crawl_all(
    feeds: Sequence[FeedSource], deps: Deps, on_feed_done: Callable[[], None], interrupt: Interrupt | None = None,
) -> list[FeedReport]:
    # Feeds run side by side; the fetcher's global and per-host limits bound the real concurrency,
    # this only keeps the number of parsed feeds held in memory at once in check. It must be wide:
    # a feed holds its place until its last image is stored, and images wait behind pages, so
    # with a narrow gate the feeds still to be read (and their pages, which feed the extraction
    # workers) wait behind images (measured at 10: extraction idle for seconds; 30 keeps it busy
    # at about 140 MB peak RSS on the bench corpus).
    gate = asyncio.Semaphore(max(FEEDS_IN_FLIGHT, deps.settings.http.concurrency))
    states = await deps.store.all_feed_states() if isinstance(deps.coordinator, Local) else {}
    if isinstance(deps.coordinator, Local) and any(_never_polled(states.get(f.name)) for f in feeds):
        # A feed never polled has entries to archive, so pages to extract and images to fetch:
        # the worker processes will be needed. A re-poll of known feeds starts none unless asked.
        deps.workers.warm_up()
    # Connection failures are judged once every feed of the pass has been tried: whether our
    # network is down is known only then, and nothing is charged before it is.
    barrier = PassBarrier(f.name for f in feeds)
    in_flight: set[str] = set()

    async def one(source: FeedSource) -> FeedReport:
        lease: Lease | None = None
        try:
            async with gate:  # not held while waiting for the pass: the feeds after it must get in
                if interrupt is not None and interrupt.stop.is_set():
                    return FeedReport(source.name, source.url, status="interrupted", error="not polled")
                in_flight.add(source.name)
                # A crawl polls now, due or not; only a feed another node is polling is left to it.
                grant = await deps.coordinator.take(source.name, states.get(source.name), only_if_due=False)
                if grant.refused:  # never for being not due: a crawl asks regardless
                    return FeedReport(source.name, source.url, status="leased", error=f"leased by {grant.holder}")
                lease = grant.lease
                poll = await poll_feed(source, deps, grant.state)
            barrier.tried(source.name)
            if poll.report.unreachable:
                await barrier.all_tried()
                judge_outage(poll.report, deps.health)
            return await record_poll(poll, deps, lease)
        except Exception as exc:  # one feed's failure, whatever it is: the others go on
            return _crashed(source, exc)
        finally:
            in_flight.discard(source.name)
            barrier.tried(source.name)
            deps.coordinator.done(lease)
            on_feed_done()

    tasks = [asyncio.create_task(one(f), name=f"poll-{f.name}") for f in feeds]
    try:
        if interrupt is not None and tasks:
            await _until_done_or_interrupted(tasks, interrupt, deps.settings.shutdown_timeout, in_flight)
        elif tasks:
            await asyncio.wait(tasks)
    finally:  # cancelled from outside: the polls go with the crawl
        for task in tasks:
            task.cancel()
    return [
        task.result() if task.done() and not task.cancelled()
        else FeedReport(f.name, f.url, status="interrupted", error="cancelled")
        for f, task in zip(feeds, tasks, strict=True)
    ]


async def _until_done_or_interrupted(
    tasks: list[asyncio.Task[FeedReport]], interrupt: Interrupt, grace: float, in_flight: set[str],
) -> None:
    """Wait for every poll; after a first Ctrl-C, for those in flight only `grace` seconds (a second
    one: not at all), then cancel them. Their entries archived so far stay archived; what was
    not recorded is polled again next time."""
    everything = asyncio.ensure_future(asyncio.wait(tasks))
    stop = asyncio.ensure_future(interrupt.stop.wait())
    now = asyncio.ensure_future(interrupt.now.wait())
    try:
        await asyncio.wait([everything, stop], return_when=asyncio.FIRST_COMPLETED)
        if everything.done():
            return
        log.warning("interrupted: no new polls; finishing the %s in flight (up to %s); Ctrl-C again to stop now",
                    plural(len(in_flight), "poll"), human_seconds(grace))
        await asyncio.wait([everything, now], timeout=grace, return_when=asyncio.FIRST_COMPLETED)
        left = [task for task in tasks if not task.done()]
        for task in left:
            task.cancel()
        if left:
            log.warning("cancelled %s still running", plural(len(left), "poll"))
            # Bounded: a poll stuck below cancellation (a thread writing a file) must not hold the exit.
            await asyncio.wait(left, timeout=CANCEL_WAIT_SECONDS)
    finally:
        for waiter in (everything, stop, now):
            waiter.cancel()


def _crashed(source: FeedSource, exc: Exception) -> FeedReport:
    """The report of a poll that raised: one line at error level, the traceback at debug level.
    The state store failing (its save, say) is a `StateError` and says so; anything else is a bug
    that cost this one feed its poll."""
    report = crashed(FeedReport(name=source.name, url=source.url, status="failed"), exc)
    log.error("feed=%s url=%s failed: %s", source.name, source.url, report.error)
    return report


async def run_once(settings: Settings, names: Sequence[str] = ()) -> int:
    """`feed-archiver crawl`: one pass over the (named) feeds; 0 when all went well, 1 otherwise,
    130 when Ctrl-C stopped it (the first lets the polls in flight finish, the second cancels them)."""
    feeds = settings.select(list(names))
    ensure_archive_dir(settings)
    if settings.cluster is not None:  # beside this machine's daemon, under a node name of its own
        settings = replace(settings, cluster=replace(settings.cluster, node=f"{settings.cluster.node}/crawl"))
    started = time.monotonic()
    interrupt = Interrupt()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, interrupt)
    try:
        async with AsyncExitStack() as stack:
            try:
                stack.enter_context(
                    writer_lock(settings.archive_dir, settings.state_url, also_sweep=settings.outside_archive)
                )
                if not store_exists(settings.state_url):
                    # A new archive: every entry is new. The `crawl` command has started the workers'
                    # forkserver already, before its own imports; this is for any other caller.
                    start_forkserver()
                deps = await stack.enter_async_context(open_deps(settings))
            except (StateError, ArchiveLocked) as exc:
                log.error("%s", exc)
                return EXIT_STARTUP
            try:
                with crawl_progress(len(feeds)) as progress:
                    reports = await crawl_all(feeds, deps, progress.feed_done, interrupt)
            except StateError as exc:  # before any feed ran (reading the feeds' states): not a start-up failure
                log.error("the state store failed during the crawl: %s", exc)
                return EXIT_FAILURES
    finally:
        loop.remove_signal_handler(signal.SIGINT)
    print_summary(reports, time.monotonic() - started, interrupted=interrupt.stop.is_set())
    offline = [r for r in reports if r.outage]
    if offline:
        log.error("%s: this machine could not reach the network; %s not charged for it",
                  offline[0].error, "1 feed was" if len(offline) == 1 else f"{len(offline)} feeds were")
    if interrupt.stop.is_set():
        return EXIT_INTERRUPTED
    return EXIT_OK if all(r.ok for r in reports) else EXIT_FAILURES


def _never_polled(state: FeedState | None) -> bool:
    return state is None or state.last_poll is None


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


async def status_rows(settings: Settings) -> list[dict[str, Any]]:
    """One row per feed of the config, from the state store (read only; works while a crawl runs)."""
    states: dict[str, FeedState] = {}
    counts: dict[str, int] = {}
    updated: dict[str, int] = {}
    holders: dict[str, str] = {}
    if store_exists(settings.state_url):
        store = await StateStore.open(settings.state_url, upgrade=False)
        try:
            if store.revision is not None:  # None: an empty database, nothing polled yet
                states = await store.all_feed_states()
                counts = await store.count_entries()
                updated = await store.count_updated()
                holders = await store.lease_holders()
        finally:
            await store.close()
    rows = []
    for feed in settings.feeds:
        state = states.get(feed.name)
        rows.append(
            {
                "name": feed.name,
                "url": feed.url,
                "last_poll": _iso(state.last_poll) if state else None,
                "last_status": state.last_status if state else None,
                "last_error": state.last_error if state else None,
                "consecutive_failures": state.consecutive_failures if state else 0,
                "entries_archived": counts.get(feed.name, 0),
                "entries_updated": updated.get(feed.name, 0),
                "next_due": _iso(state.next_due) if state else None,
                "state": feed_state_label(state, counts.get(feed.name, 0)),
                "node": state.node if state else None,
                "instance": state.instance if state else None,
                "leased_by": holders.get(feed.name),
            }
        )
    return rows
