"""One image from URL to file: download it, check that it is an image, store it under its hash.

Files are content-addressed (`images/<sha256>.<ext>`): the same name is the
same bytes, so a file that exists is never written again. This runs in the
image worker process (`image_worker`); deciding what to download, once per URL,
is `image_store`'s job, and finding references in the HTML is `imagerefs`'.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Sequence
from pathlib import Path

from crawler.archive import atomic_write_in, run_off_loop
from crawler.errors import ArchiveError, BadContent, HTTPStatusError
from crawler.fetch import Fetcher, wire_form
from crawler.models import ImageAsset

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


def _store_file(images_dir: Path, filename: str, body: bytes) -> None:
    images_dir.mkdir(parents=True, exist_ok=True)
    try:  # the folder itself, never through a symlink, even one swapped in after the mkdir
        folder = os.open(images_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise ArchiveError(f"{images_dir} is a symlink; refusing to write through it") from None
        raise
    try:
        try:
            os.stat(filename, dir_fd=folder)
        except FileNotFoundError:  # content-addressed: a name that is there is the same bytes
            atomic_write_in(folder, filename, body)
    finally:
        os.close(folder)


async def download_image(
    fetcher: Fetcher, images_dir: Path, url: str, *, referers: Sequence[str | None], guarded: bool, max_body: int
) -> ImageAsset:
    """Fetch `url` and store it; raises a `FetchError` (or `OSError` from the disk) when it can't be had.

    Hotlink-protected hosts check the Referer: `referers` are tried in turn (None: no Referer)
    while the host answers 403 (`referers.attempts` chooses them)."""
    for attempt, referer in enumerate(referers):
        # An article's address may hold any character; a header holds ASCII.
        referer = wire_form(referer) if referer else None
        try:
            result, sha256 = await fetcher.get(
                url, headers={"Referer": referer} if referer else None, accept="image/*,*/*;q=0.5",
                max_body=max_body, guarded=guarded, kind="image",
            )
            break
        except HTTPStatusError as exc:
            if exc.status != 403 or attempt == len(referers) - 1:
                raise
    else:
        raise BadContent(url, "no Referer to try")
    try:
        ext = sniff_image(result.body, result.content_type)
    except BadContent as exc:
        raise BadContent(url, exc.message) from None
    filename = sha256 + ext
    try:
        await run_off_loop(_store_file, images_dir, filename, result.body)
    except ArchiveError as exc:
        raise BadContent(url, str(exc)) from None
    return ImageAsset(
        url=url, filename=filename, sha256=sha256, size=len(result.body),
        content_type=result.content_type.split(";")[0].strip(),
    )
