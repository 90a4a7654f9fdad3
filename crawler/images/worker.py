"""The image worker: a child process that downloads, checks, hashes and stores images.

An image costs about a millisecond of CPU in httpx, hashing and file writes,
and a crawl fetches thousands of them. On the crawl's own event loop that work
queues behind feed parsing, clean-up and writing, one core busy and the other
idle; in a process of its own it runs on the second core (measured: the crawl's
process was at 100% CPU for the whole cold crawl, with images half its work).
The crawl keeps the decisions (which URLs, each once, under its global and
per-host limits); the worker fetches, checks and stores what it is sent.

Workers are forked from the forkserver of `workers`, which has their modules
imported already. The protocol is JSON lines over two pipes: requests
`{"id", "url", "referers", "guarded"}`, answers `{"id", "asset": {...}}` or
`{"id", "error": "..."}` in any order, each with `"requests"`: the status of
every HTTP request the download made (null: no answer), which the parent hands
to its observer, since these requests happen out of its sight. A worker exits when its request pipe
closes, which is also how it learns that the crawl died, even by SIGKILL. It
ignores SIGINT, which a terminal sends to the whole group, so that a crawl
stopping on Ctrl-C can still finish the images it waits for.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import itertools
import json
import logging
import os
import signal
from collections.abc import Sequence
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import IO, Any

from crawler.errors import CrawlerError
from crawler.fetch import Clients, Fetcher
from crawler.images.download import download_image
from crawler.models import HttpSettings, ImageAsset
from crawler.observe import CaptureOpener, Observer, RequestKind
from crawler.runtime import forkserver_context

log = logging.getLogger(__name__)

CLOSE_WAIT_SECONDS = 10.0
_LINE_LIMIT = 1 << 20  # a URL is at most a few KB; a megabyte means the stream is broken


@dataclasses.dataclass
class _Child:
    process: BaseProcess
    requests: asyncio.WriteTransport
    answers: asyncio.StreamReader
    waiting: dict[int, asyncio.Future[ImageAsset]] = dataclasses.field(default_factory=dict)
    alive: bool = True
    reader: asyncio.Task[None] | None = None


class ImageWorkers:
    """The crawl's side: `processes` workers, started on first use (a crawl with no new image
    starts none), each request sent to the least busy one; a worker that dies is restarted, and
    what it was doing fails as a download would.

    >>> workers = ImageWorkers(settings.http, archive_dir / "images", max_body=settings.http.max_body)
    >>> asset = await workers.download(url, referers=(page_url, None), guarded=True)
    >>> await workers.close()
    """

    def __init__(
        self, http: HttpSettings, images_dir: Path, *, max_body: int, processes: int = 1,
        observer: Observer | None = None, capture: CaptureOpener | None = None,
    ) -> None:
        self._args = (http, images_dir, max_body, capture)  # each worker writes WARC files of its own
        self._observer = observer or Observer()
        self._children: list[_Child | None] = [None] * max(1, processes)
        self._starting = asyncio.Lock()
        self._ids = itertools.count()

    async def download(self, url: str, *, referers: Sequence[str | None], guarded: bool) -> ImageAsset:
        """The stored image; raises `CrawlerError` with the reason when it could not be had."""
        child = await self._least_busy()
        if not child.alive:  # died while another was being started: its answers are all given
            raise CrawlerError("the image worker process exited")
        request_id = next(self._ids)
        future: asyncio.Future[ImageAsset] = asyncio.get_running_loop().create_future()
        child.waiting[request_id] = future
        try:
            request = {"id": request_id, "url": url, "referers": list(referers), "guarded": guarded}
            child.requests.write(json.dumps(request).encode() + b"\n")
            return await future
        finally:
            child.waiting.pop(request_id, None)

    async def _least_busy(self) -> _Child:
        if not all(child is not None and child.alive for child in self._children):
            # All at once: a crawl that needs one new image usually needs many.
            async with self._starting:
                for index, child in enumerate(self._children):
                    if child is None or not child.alive:
                        self._children[index] = await self._spawn()
        return min((child for child in self._children if child is not None), key=lambda c: len(c.waiting))

    async def _spawn(self) -> _Child:
        context = forkserver_context()
        requests_out, requests_in = context.Pipe(duplex=False)
        answers_out, answers_in = context.Pipe(duplex=False)
        # The crawl's environment as it is now, as a forked child would have it: the forkserver's
        # is that of whenever it started, and TLS trust (SSL_CERT_FILE, SSL_CERT_DIR) comes from it.
        environ = dict(os.environ)
        process = context.Process(
            target=_worker_main, args=(requests_out, answers_in, environ, *self._args), name="image-worker",
            daemon=True,
        )
        # The first start waits for the forkserver to import the workers' modules: not on the loop.
        await asyncio.to_thread(process.start)
        requests_out.close()
        answers_in.close()
        loop = asyncio.get_running_loop()
        answers = asyncio.StreamReader(limit=_LINE_LIMIT)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(answers), _pipe_file(answers_out, "rb"))
        requests, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, _pipe_file(requests_in, "wb"))
        child = _Child(process, requests, answers)
        child.reader = asyncio.create_task(self._read_answers(child))
        return child

    async def _read_answers(self, child: _Child) -> None:
        try:
            while line := await child.answers.readline():
                answer = json.loads(line)
                for status in answer.get("requests", ()):
                    self._observer.request_done("image", status)
                future = child.waiting.get(answer["id"])
                if future is None or future.done():
                    continue
                if "asset" in answer:
                    asset = ImageAsset(**answer["asset"])
                    self._observer.image_stored(asset)
                    future.set_result(asset)
                else:
                    future.set_exception(CrawlerError(answer["error"]))
        except (ValueError, KeyError, TypeError) as exc:  # a garbled line: the stream can't be trusted
            log.error("image worker sent something unreadable (%s); restarting it", exc)
            child.process.kill()
        finally:
            child.alive = False
            child.requests.close()
            await asyncio.to_thread(child.process.join)
            for future in child.waiting.values():
                if not future.done():
                    future.set_exception(
                        CrawlerError(f"the image worker process exited (code {child.process.exitcode})")
                    )

    async def close(self) -> None:
        """Let the workers finish and exit (each stops when its request pipe closes); kill any that won't."""
        children, self._children = self._children, [None] * len(self._children)
        await asyncio.gather(*(self._close(child) for child in children if child is not None))

    @staticmethod
    async def _close(child: _Child) -> None:
        child.requests.close()
        if child.reader is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(child.reader), CLOSE_WAIT_SECONDS)
        except TimeoutError:
            child.process.kill()
            await child.reader


# -- the worker process ------------------------------------------------------------------------


_statuses: contextvars.ContextVar[list[int | None]] = contextvars.ContextVar("statuses")


class _StatusLog(Observer):
    """Notes each request's status in the list of the download (task) that made it."""

    def request_done(self, kind: RequestKind, status: int | None) -> None:
        if (statuses := _statuses.get(None)) is not None:
            statuses.append(status)



async def _serve(
    http: HttpSettings, images_dir: Path, max_body: int, opener: CaptureOpener | None, requests: IO[bytes],
    answers: IO[bytes],
) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=_LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), requests)
    out, _ = await loop.connect_write_pipe(asyncio.BaseProtocol, answers)
    running: set[asyncio.Task[None]] = set()

    async def answer(request: dict[str, Any]) -> None:
        reply: dict[str, Any] = {"id": request["id"], "requests": []}
        _statuses.set(reply["requests"])  # this task's own context
        try:
            asset = await download_image(
                fetcher, images_dir, request["url"], referers=request["referers"], guarded=request["guarded"],
                max_body=max_body,
            )
            reply["asset"] = dataclasses.asdict(asset)
        except (CrawlerError, OSError) as exc:
            reply["error"] = str(exc)
        except Exception as exc:  # a bug costs one image, not the worker and every image after it
            log.exception("image worker: %s", request.get("url"))
            reply["error"] = f"internal error: {exc!r}"
        out.write(json.dumps(reply).encode() + b"\n")

    capture = opener.open() if opener is not None else None
    try:
        async with Clients(http) as clients:
            fetcher = Fetcher(clients, http, observer=_StatusLog(), capture=capture)
            while line := await reader.readline():
                task = asyncio.create_task(answer(json.loads(line)))
                running.add(task)
                task.add_done_callback(running.discard)
            # The request pipe closed: the crawl is done with us (then nothing is running) or gone
            # (then nobody waits for the answers). A file being written still completes or is removed whole.
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)
    finally:
        if capture is not None:  # its WARC file closed whole, whoever closed the pipe
            await capture.aclose()
    out.close()


def _worker_main(
    requests: Connection,
    answers: Connection,
    environ: dict[str, str],
    http: HttpSettings,
    images_dir: Path,
    max_body: int,
    capture: CaptureOpener | None = None,
) -> None:
    os.environ.clear()
    os.environ.update(environ)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    asyncio.run(_serve(http, images_dir, max_body, capture, _pipe_file(requests, "rb"), _pipe_file(answers, "wb")))


def _pipe_file(connection: Connection, mode: str) -> IO[bytes]:
    """The connection's pipe as an unbuffered file for asyncio (which needs only its fileno);
    the JSON lines on it are ours, not multiprocessing's framing."""
    fd = os.dup(connection.fileno())
    connection.close()
    return os.fdopen(fd, mode, buffering=0)
