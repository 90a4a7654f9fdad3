"""Which images to download: each distinct URL once, and never one the archive already has.

One download per URL per process even when many articles ask at once, and a
URL -> file map in the state store so that a later crawl downloads nothing it
already has. The downloads themselves run in the image worker process
(`image_worker`), under this process's concurrency limits.

Two rules keep the guard on private addresses whole. A download is shared only
between requests with the same guard (the in-flight map is keyed by URL and
guard): what a feed on the LAN was allowed to fetch from a private address is
never handed to one that must stay off them. And a guarded request takes an
image from the store only when the image's host is public now: the table does
not say how it was fetched, so the address is checked again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from crawler.errors import CrawlerError
from crawler.fetch import Fetcher, Priority
from crawler.images.worker import ImageWorkers
from crawler.models import ImageAsset
from crawler.store import Batcher, StateStore

_Key = tuple[str, bool]  # (URL, guarded)


@dataclass
class FetchedImages:
    """What one article's images came to."""

    assets: dict[str, ImageAsset] = field(default_factory=dict)  # every URL that could be had
    downloaded: list[ImageAsset] = field(default_factory=list)  # those the store has no row for yet
    errors: list[str] = field(default_factory=list)  # one message per URL that could not


class ImageStore:
    """Downloads images once each, through `workers`, under `fetcher`'s global and per-host limits.

    An image stays in the in-flight map until a poll that used it has been saved (`recorded`):
    until then, another article asking for it shares the download, and a poll whose save failed
    finds it there again and records it, without downloading it twice.
    """

    def __init__(self, fetcher: Fetcher, workers: ImageWorkers, store: StateStore) -> None:
        self._fetcher = fetcher
        self._workers = workers
        self._store = store
        self._tasks: dict[_Key, asyncio.Task[ImageAsset]] = {}
        self._lookups: Batcher[str, ImageAsset | None] = Batcher(self._look_up)

    def recorded(self, assets: Iterable[ImageAsset]) -> None:
        """These images are in the store now (a poll that used them was saved): from here on the
        store answers for them, and the map does not grow in a long-running daemon."""
        for asset in assets:
            for guarded in (False, True):
                task = self._tasks.get((asset.url, guarded))
                if task is not None and task.done():
                    del self._tasks[(asset.url, guarded)]

    async def fetch_all(
        self, urls: Sequence[str], referer: str, *, guarded: bool = True, rules: Mapping[str, str] | None = None
    ) -> FetchedImages:
        """Every URL that could be had, which of them this article's poll must record, and one
        message per URL that could not be had. `referer` is the article page, sent as the Referer
        unless `rules` (`image_referers:`) say otherwise for an image's host."""
        from crawler.fetch import attempts  # not needed by a re-poll with nothing new

        known = await self._known([u for u in urls if (u, guarded) not in self._tasks], guarded)
        for url in urls:
            if (url, guarded) not in self._tasks and url not in known:
                referers = attempts(rules or {}, url, referer)
                self._tasks[(url, guarded)] = asyncio.ensure_future(self._download(url, referers, guarded))
        result = FetchedImages(assets=dict(known))
        pending = [u for u in urls if u not in known]
        tasks = [self._tasks[(u, guarded)] for u in pending]
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        for url, task, outcome in zip(pending, tasks, outcomes, strict=True):
            if isinstance(outcome, ImageAsset):
                result.assets[url] = outcome
                result.downloaded.append(outcome)
                continue
            if self._tasks.get((url, guarded)) is task:  # failed: a later article may try again
                del self._tasks[(url, guarded)]
            if isinstance(outcome, CrawlerError | OSError):
                result.errors.append(f"image {url}: {outcome}")
            elif isinstance(outcome, BaseException):
                raise outcome
        return result

    async def _known(self, urls: Sequence[str], guarded: bool) -> dict[str, ImageAsset]:
        """What the store already has, looked up in batches: the URLs every article asks for while
        one query runs go together into the next, instead of one query per article."""
        found = await self._lookups.submit_many(urls)
        known = {url: asset for url, asset in zip(urls, found, strict=True) if asset is not None}
        if guarded:
            # Resolved once per host (the fetcher caches it): cheap next to a download.
            private = await asyncio.gather(*(self._fetcher.is_private(url) for url in known))
            known = {url: asset for (url, asset), bad in zip(known.items(), private, strict=True) if not bad}
        return known

    async def _look_up(self, urls: list[str]) -> list[ImageAsset | None]:
        known = await self._store.known_images(urls)
        return [known.get(url) for url in urls]

    async def _download(self, url: str, referers: Sequence[str | None], guarded: bool) -> ImageAsset:
        async with self._fetcher.slot(url, Priority.IMAGE):
            return await self._workers.download(url, referers=referers, guarded=guarded)
