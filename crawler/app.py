"""Wiring: build the shared parts once, run the pipeline over the feeds, turn the outcome into an exit status."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crawler.config import FeedSource, Settings, ensure_archive_dir
from crawler.console import crawl_progress, print_summary
from crawler.errors import StateError
from crawler.fetch import Clients, Fetcher
from crawler.image_store import ImageStore
from crawler.image_worker import ImageWorkers
from crawler.lock import ArchiveLocked, archive_lock
from crawler.models import FeedReport, FeedState
from crawler.observe import Observer
from crawler.pipeline import Deps, crawl_feed
from crawler.state import StateStore
from crawler.workers import CpuPool

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAILURES, EXIT_STARTUP = 0, 1, 3  # 2, a config error, is cli.py's
FEEDS_IN_FLIGHT = 30


def utc_now() -> datetime:
    return datetime.now(UTC)


@asynccontextmanager
async def open_deps(
    settings: Settings, clock: Callable[[], datetime] = utc_now, observer: Observer | None = None
) -> AsyncIterator[Deps]:
    """The clients, store, worker processes and image store one process shares, closed in reverse order.
    `observer` hears every request, image and poll (the daemon's metrics); by default nobody does."""
    observer = observer or Observer()
    store = await StateStore.open(settings.state_url)
    workers = CpuPool()
    image_workers = ImageWorkers(
        settings.http, settings.archive_dir / "images", max_body=settings.http.max_body, processes=os.cpu_count() or 1,
        observer=observer,
    )
    try:
        async with Clients(settings.http) as clients:
            fetcher = Fetcher(clients, settings.http, observer=observer)
            yield Deps(
                settings=settings,
                fetcher=fetcher,
                store=store,
                workers=workers,
                images=ImageStore(fetcher, image_workers, store),
                clock=clock,
                observer=observer,
            )
    finally:
        await image_workers.close()
        await asyncio.to_thread(workers.close)
        await store.close()


async def crawl_all(feeds: Sequence[FeedSource], deps: Deps, on_feed_done: Callable[[], None]) -> list[FeedReport]:
    # Feeds run side by side; the fetcher's global and per-host limits bound the real concurrency,
    # this only keeps the number of parsed feeds held in memory at once in check. It must be wide:
    # a feed holds its place until its last image is stored, and images wait behind pages, so
    # with a narrow gate the feeds still to be read (and their pages, which feed the extraction
    # workers) wait behind images (measured at 10: extraction idle for seconds; 30 keeps it busy
    # at about 140 MB peak RSS on the bench corpus).
    gate = asyncio.Semaphore(max(FEEDS_IN_FLIGHT, deps.settings.http.concurrency))
    states = await deps.store.all_feed_states()

    async def one(source: FeedSource) -> FeedReport:
        async with gate:
            try:
                return await crawl_feed(source, deps, states.get(source.name, FeedState(source.name)))
            finally:
                on_feed_done()

    return list(await asyncio.gather(*(one(f) for f in feeds)))


async def run_once(settings: Settings, names: Sequence[str] = ()) -> int:
    """`feed-archiver crawl`: one pass over the (named) feeds; 0 when all went well, 1 otherwise."""
    feeds = settings.select(list(names))
    ensure_archive_dir(settings)
    started = time.monotonic()
    try:
        with archive_lock(settings.archive_dir):
            async with open_deps(settings) as deps:
                with crawl_progress(len(feeds)) as progress:
                    reports = await crawl_all(feeds, deps, progress.feed_done)
    except (StateError, ArchiveLocked) as exc:
        log.error("%s", exc)
        return EXIT_STARTUP
    print_summary(reports, time.monotonic() - started)
    return EXIT_OK if all(r.ok for r in reports) else EXIT_FAILURES


def feed_state_label(state: FeedState | None) -> str:
    if state is None or state.last_poll is None:
        return "new"
    if state.dead:
        return "dead"
    return "failing" if state.consecutive_failures else "ok"


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


async def status_rows(settings: Settings) -> list[dict[str, Any]]:
    """One row per feed of the config, from the state store (read only; works while a crawl runs)."""
    states: dict[str, FeedState] = {}
    counts: dict[str, int] = {}
    if _store_exists(settings.state_url):
        store = await StateStore.open(settings.state_url)
        try:
            states = await store.all_feed_states()
            counts = await store.count_entries()
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
                "next_due": _iso(state.next_due) if state else None,
                "state": feed_state_label(state),
            }
        )
    return rows


def _store_exists(url: str) -> bool:
    if url.startswith("sqlite:///"):
        return Path(url.removeprefix("sqlite:///")).exists()
    return True


def describe_feeds(settings: Settings) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for feed in settings.feeds:
        schedule = f"cron {feed.cron}" if feed.cron else f"every {_human_seconds(feed.interval)}"
        rows.append(
            (feed.name, feed.url, schedule, feed.full_text, "yes" if feed.images else "no", ", ".join(feed.categories))
        )
    return rows


def _human_seconds(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"

