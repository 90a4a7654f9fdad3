"""The image worker processes: real forkserver children downloading from a real local server."""

from __future__ import annotations

import asyncio
import hashlib
import multiprocessing
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crawler.config.settings import HttpSettings
from crawler.errors import CrawlerError
from crawler.images.worker import ImageWorkers
from tests import faults
from tests.faults import FaultServer

JPEG = b"\xff\xd8\xff\xe0" + b"3" * 400 + b"\xff\xd9"
HTTP = HttpSettings(
    user_agent="feed-archiver-tests", timeout=5, total_timeout=20, max_body=100_000, max_redirects=3,
    concurrency=4, per_host=2, retries=0, proxy=None, http2=False,
)


@pytest.fixture
async def workers(tmp_path: Path) -> AsyncIterator[ImageWorkers]:
    pool = ImageWorkers(HTTP, tmp_path / "images", max_body=HTTP.max_body)
    yield pool
    await pool.close()


def _image_workers() -> list[multiprocessing.process.BaseProcess]:
    return [p for p in multiprocessing.active_children() if p.name == "image-worker"]


async def test_an_image_is_stored_under_its_hash_with_its_own_bytes(
    server: FaultServer, workers: ImageWorkers, tmp_path: Path
) -> None:
    url = server.route("/a.jpg", faults.respond(200, JPEG, "image/jpeg"))

    asset = await workers.download(url, referers=("https://news.example/story",), guarded=False)

    assert asset.filename == hashlib.sha256(JPEG).hexdigest() + ".jpg"
    assert (tmp_path / "images" / asset.filename).read_bytes() == JPEG
    assert server.requests[0][1]["Referer"] == "https://news.example/story"


async def test_what_is_not_an_image_comes_back_as_the_reason(server: FaultServer, workers: ImageWorkers) -> None:
    url = server.route("/a.jpg", faults.respond(200, b"<html>login</html>", "text/html"))
    with pytest.raises(CrawlerError, match=r"not an image \(text/html\)"):
        await workers.download(url, referers=(url,), guarded=False)


@pytest.mark.parametrize("url", ["https://xn--/x.png", "http://xn--ls8h.la/x.png", "http://[::1"])
async def test_a_url_that_is_not_valid_idna_is_reported_as_malformed_not_as_an_internal_error(
    workers: ImageWorkers, url: str
) -> None:
    with pytest.raises(CrawlerError, match=r"^malformed URL "):
        await workers.download(url, referers=("https://news.example/story",), guarded=False)


async def test_a_worker_that_dies_fails_what_it_was_doing_and_is_replaced(
    server: FaultServer, workers: ImageWorkers
) -> None:
    asked = threading.Event()

    def hang(handler: faults.Handler) -> None:
        asked.set()
        faults.stall(server)(handler)

    slow = server.route("/slow.jpg", hang)
    fine = server.route("/fine.jpg", faults.respond(200, JPEG, "image/jpeg"))
    pending = asyncio.create_task(workers.download(slow, referers=(slow,), guarded=False))
    assert await asyncio.to_thread(asked.wait, 20)
    [worker] = _image_workers()

    worker.kill()

    with pytest.raises(CrawlerError, match="image worker process exited"):
        await pending
    asset = await workers.download(fine, referers=(fine,), guarded=False)
    assert asset.size == len(JPEG)
    assert [p.pid for p in _image_workers()] != [worker.pid]


async def test_close_lets_the_workers_exit(server: FaultServer, tmp_path: Path) -> None:
    pool = ImageWorkers(HTTP, tmp_path / "images", max_body=HTTP.max_body, processes=2)
    urls = [server.route(f"/{i}.jpg", faults.respond(200, JPEG + bytes([i]) + b"\xff\xd9", "image/jpeg"))
            for i in range(6)]
    assets = await asyncio.gather(*(pool.download(u, referers=(u,), guarded=False) for u in urls))
    assert len({a.filename for a in assets}) == 6
    started = _image_workers()
    assert len(started) == 2, "concurrent downloads should have spread over both workers"

    await pool.close()

    assert all(p.exitcode == 0 for p in started)
