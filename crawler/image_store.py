"""Which images to download: each distinct URL once, and never one the archive already has.

One download per URL per process even when many articles ask at once, and a
URL -> file map in the state store so that a later crawl downloads nothing it
already has. The downloads themselves run in the image worker process
(`image_worker`), under this process's concurrency limits.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from crawler.batching import Batcher
from crawler.errors import CrawlerError
from crawler.fetch import Fetcher
from crawler.image_worker import ImageWorkers
from crawler.models import ImageAsset
from crawler.slots import Priority
from crawler.store.state import StateStore


class ImageStore:
    """Downloads images once each, through `workers`, under `fetcher`'s global and per-host limits."""

    def __init__(self, fetcher: Fetcher, workers: ImageWorkers, store: StateStore) -> None:
        self._fetcher = fetcher
        self._workers = workers
        self._store = store
        self._tasks: dict[str, asyncio.Task[ImageAsset]] = {}
        self._lookups: Batcher[str, ImageAsset | None] = Batcher(self._look_up)
        self._unrecorded: list[ImageAsset] = []

    def take_unrecorded(self) -> list[ImageAsset]:
        """Images stored since the last call, for the state store to record with the next poll.

        Finished downloads are forgotten here: from now on the store answers for them, and a
        failed one may be tried again by a later poll (a long-running daemon must not grow).
        """
        taken, self._unrecorded = self._unrecorded, []
        for url in [u for u, task in self._tasks.items() if task.done()]:
            del self._tasks[url]
        return taken

    async def fetch_all(
        self, urls: Sequence[str], referer: str, *, guarded: bool = True
    ) -> tuple[dict[str, ImageAsset], list[str]]:
        """Every URL that could be had, and one message per URL that could not."""
        known = await self._known([u for u in urls if u not in self._tasks])
        for url in urls:
            if url not in self._tasks and url not in known:
                self._tasks[url] = asyncio.ensure_future(self._download(url, referer, guarded))
        assets: dict[str, ImageAsset] = dict(known)
        errors: list[str] = []
        pending = [u for u in urls if u not in known]
        results = await asyncio.gather(*(self._tasks[u] for u in pending), return_exceptions=True)
        for url, result in zip(pending, results, strict=True):
            if isinstance(result, ImageAsset):
                assets[url] = result
            elif isinstance(result, CrawlerError | OSError):
                errors.append(f"image {url}: {result}")
            elif isinstance(result, BaseException):
                raise result
        return assets, errors

    async def _known(self, urls: Sequence[str]) -> dict[str, ImageAsset]:
        """What the store already has, looked up in batches: the URLs every article asks for while
        one query runs go together into the next, instead of one query per article."""
        found = await self._lookups.submit_many(urls)
        return {url: asset for url, asset in zip(urls, found, strict=True) if asset is not None}

    async def _look_up(self, urls: list[str]) -> list[ImageAsset | None]:
        known = await self._store.known_images(urls)
        return [known.get(url) for url in urls]

    async def _download(self, url: str, referer: str, guarded: bool) -> ImageAsset:
        async with self._fetcher.slot(url, Priority.BACKGROUND):
            asset = await self._workers.download(url, referer=referer, guarded=guarded)
        self._unrecorded.append(asset)
        return asset
