"""Full text: the main content of an article page as HTML, by trafilatura, off the event loop.

`extract_main_html` is pure and CPU-bound; `Extractor` runs it in a process
pool sized to the cores, so extraction neither blocks the fetcher nor fights it
for the GIL.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import re
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from crawler.errors import ExtractError

log = logging.getLogger(__name__)

_WRAPPER = re.compile(r"^\s*<html>\s*<body>\s*|\s*</body>\s*</html>\s*$")


def extract_main_html(page: bytes | str, url: str) -> str | None:
    """The article's main content (headings, paragraphs, images, links, tables), without navigation
    or comments; None when trafilatura finds no article."""
    import trafilatura

    result = trafilatura.extract(
        page,
        url=url,
        output_format="html",
        include_images=True,
        include_links=True,
        include_tables=True,
        include_formatting=True,
        include_comments=False,
    )
    if not result:
        return None
    return _WRAPPER.sub("", result)


def _warm_up() -> None:
    import trafilatura  # noqa: F401  (pay the import once per worker, before the first page)


class Extractor:
    """Runs extractions in worker processes, created on first use (a re-poll never starts them)."""

    def __init__(self, workers: int | None = None) -> None:
        self._workers = workers or max(1, os.cpu_count() or 1)
        self._pool: ProcessPoolExecutor | None = None

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # forkserver: children do not inherit the event loop's threads and locks.
            context = multiprocessing.get_context("forkserver")
            self._pool = ProcessPoolExecutor(self._workers, mp_context=context, initializer=_warm_up)
        return self._pool

    async def extract(self, page: bytes, url: str) -> str | None:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._ensure_pool(), extract_main_html, page, url)
        except BrokenProcessPool as exc:
            self._pool = None
            raise ExtractError(f"extraction worker died on {url}") from exc
        except Exception as exc:  # trafilatura/lxml failures on hostile pages
            raise ExtractError(f"extraction failed on {url}: {exc}") from exc

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
