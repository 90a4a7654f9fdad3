"""Image files: check that a body is an image, and download each distinct one once.

`ImageStore` does the network and disk work: content-addressed files
(`images/<sha256>.<ext>`), one download per URL per process even when many
articles ask at once, and a URL -> file map in the state store so that a later
crawl downloads nothing it already has. Finding and rewriting references in
the HTML is `imagerefs`' job.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from pathlib import Path

from crawler.errors import ArchiveError, BadContent, CrawlerError
from crawler.fetch import Fetcher
from crawler.models import ImageAsset
from crawler.state import StateStore
from crawler.storage import atomic_write_bytes_sync, run_off_loop

log = logging.getLogger(__name__)

# -- content sniffing --------------------------------------------------------------------------

_MAGIC: Sequence[tuple[bytes, int, str]] = (
    (b"\xff\xd8\xff", 0, ".jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, ".png"),
    (b"GIF87a", 0, ".gif"),
    (b"GIF89a", 0, ".gif"),
    (b"WEBP", 8, ".webp"),
    (b"ftypavif", 4, ".avif"),
    (b"BM", 0, ".bmp"),
    (b"\x00\x00\x01\x00", 0, ".ico"),
)
_SVG_DANGER = re.compile(rb"<script|\son[a-z]+\s*=|javascript:|<foreignobject", re.IGNORECASE)


def sniff_image(body: bytes, content_type: str) -> str:
    """The file extension for an image body; raises `BadContent` for anything that is not one."""
    for magic, offset, ext in _MAGIC:
        if body[offset : offset + len(magic)] == magic:
            if ext == ".webp" and body[:4] != b"RIFF":
                continue
            if ext == ".jpg" and b"\xff\xd9" not in body[-64:]:
                raise BadContent("", "truncated JPEG (no end-of-image marker)")
            return ext
    head = body[:1024].lstrip().lower()
    if head.startswith((b"<svg", b"<?xml")) and b"<svg" in head:
        if _SVG_DANGER.search(body):
            raise BadContent("", "SVG with script or event handlers")
        return ".svg"
    kind = content_type.split(";")[0].strip() or "no content type"
    raise BadContent("", f"not an image ({kind})")


class ImageStore:
    """Downloads images once each, under `<archive_dir>/images/`."""

    def __init__(self, fetcher: Fetcher, archive_dir: Path, store: StateStore, *, max_body: int) -> None:
        self._fetcher = fetcher
        self._dir = archive_dir / "images"
        self._store = store
        self._max_body = max_body
        self._tasks: dict[str, asyncio.Task[ImageAsset]] = {}
        self._lookups: dict[str, asyncio.Future[ImageAsset | None]] = {}
        self._lookup_task: asyncio.Task[None] | None = None
        self._unrecorded: list[ImageAsset] = []
        self._dir_ready = False

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
        loop = asyncio.get_running_loop()
        wanted = {}
        for url in urls:
            if url not in self._lookups:
                self._lookups[url] = loop.create_future()
            wanted[url] = self._lookups[url]
        if wanted and self._lookup_task is None:
            self._lookup_task = asyncio.create_task(self._run_lookups())
        found = await asyncio.gather(*wanted.values())
        return {url: asset for url, asset in zip(wanted, found, strict=True) if asset is not None}

    async def _run_lookups(self) -> None:
        try:
            while pending := {u: f for u, f in self._lookups.items() if not f.done()}:
                try:
                    known = await self._store.known_images(list(pending))
                except Exception as exc:  # every waiter gets the store's error
                    for future in pending.values():
                        future.set_exception(exc)
                else:
                    for url, future in pending.items():
                        future.set_result(known.get(url))
                for url in pending:
                    self._lookups.pop(url, None)
        finally:
            self._lookup_task = None

    def _store_file(self, filename: str, body: bytes) -> None:
        if not self._dir_ready:
            self._dir.mkdir(parents=True, exist_ok=True)
            if self._dir.is_symlink():
                raise ArchiveError(f"{self._dir} is a symlink; refusing to write through it")
            self._dir_ready = True
        path = self._dir / filename
        if not path.exists():  # content-addressed: the same name is the same bytes
            atomic_write_bytes_sync(path, body)

    async def _download(self, url: str, referer: str, guarded: bool) -> ImageAsset:
        # Hotlink-protected hosts want the article page as Referer, as a browser would send it.
        result, sha256 = await self._fetcher.get(
            url, headers={"Referer": referer}, accept="image/*,*/*;q=0.5", max_body=self._max_body,
            guarded=guarded,
        )
        try:
            ext = sniff_image(result.body, result.content_type)
        except BadContent as exc:
            raise BadContent(url, exc.message) from None
        filename = sha256 + ext
        try:
            await run_off_loop(self._store_file, filename, result.body)
        except ArchiveError as exc:
            raise BadContent(url, str(exc)) from None
        asset = ImageAsset(
            url=url, filename=filename, sha256=sha256, size=len(result.body),
            content_type=result.content_type.split(";")[0].strip(),
        )
        self._unrecorded.append(asset)
        return asset
