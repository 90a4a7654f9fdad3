"""A crawl with feeds it has never polled starts the workers' forkserver before the first page needs it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from crawler import app
from crawler.app import crawl_all, open_deps, run_once
from crawler.config.settings import load_settings
from crawler.pipeline import poll_feed
from crawler.runtime.workers import CpuPool
from tests import faults
from tests.conftest import Item, rss, write_config
from tests.faults import FaultServer


def test_warm_up_starts_the_forkserver_and_returns_at_once() -> None:
    # In a fresh interpreter: this one's forkserver may be running already for other tests.
    check = (
        "import os, time; from pathlib import Path; from crawler.runtime.workers import CpuPool\n"
        "pool = CpuPool(); t = time.monotonic(); pool.warm_up(); took = time.monotonic() - t\n"
        "def parent(p):\n"
        "    try: return (p / 'stat').read_text().rsplit(')', 1)[1].split()[1]\n"
        "    except OSError: return None  # a process of another test that ended while we looked\n"
        "kids = [p for p in Path('/proc').iterdir() if p.name.isdigit() and parent(p) == str(os.getpid())]\n"
        "print(sum(b'forkserver' in (p / 'cmdline').read_bytes() for p in kids), took < 0.25)"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert done.stdout.split() == ["1", "True"], "one forkserver child, started without waiting for its imports"


class CountingPool(CpuPool):
    warmed = 0

    def warm_up(self) -> None:
        self.warmed += 1
        super().warm_up()


def test_only_a_crawl_with_a_never_polled_feed_warms_the_workers(tmp_path: Path, server: FaultServer) -> None:
    feed = server.route("/feed", faults.respond(200, rss([Item("A", server.url("/a"), "<p>" + "word " * 200 + "</p>")]),
                                                "application/rss+xml"))
    settings = load_settings(write_config(tmp_path, [{"name": "a", "url": feed, "full_text": "never"}]))

    async def crawl() -> int:
        async with open_deps(settings) as deps:
            deps.workers = pool = CountingPool()
            [report] = await crawl_all(settings.feeds, deps, lambda: None)
            assert report.ok
            return pool.warmed

    assert asyncio.run(crawl()) == 1, "the first crawl of a feed warms the workers up"
    assert asyncio.run(crawl()) == 0, "a re-poll of known feeds starts no process"


def test_a_crawl_into_a_new_archive_warms_the_workers_before_creating_its_store(
    tmp_path: Path, server: FaultServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed = server.route("/feed", faults.respond(200, rss([Item("A", server.url("/a"), "<p>" + "word " * 200 + "</p>")]),
                                                "application/rss+xml"))
    settings = load_settings(write_config(tmp_path, [{"name": "a", "url": feed, "full_text": "never"}]))
    store = tmp_path / "archive" / ".state.sqlite"
    store_there: list[bool] = []
    start = app.start_forkserver
    monkeypatch.setattr(app, "start_forkserver", lambda: (store_there.append(store.exists()), start()))

    assert asyncio.run(run_once(settings)) == 0
    assert store_there[:1] == [False], "warmed up before the store was created"
    store_there.clear()
    assert asyncio.run(run_once(settings)) == 0
    assert store_there == [], "a re-poll starts no process"


def test_the_crawl_command_starts_the_forkserver_for_a_new_archive_before_its_own_heavy_imports(
    tmp_path: Path, server: FaultServer
) -> None:
    # In a fresh interpreter, so that what it has imported when the warm-up comes is its own doing.
    crawl = _crawl_in_a_fresh_interpreter(
        tmp_path, server,
        "from crawler.runtime import workers\nseen = []\nstart = workers.start_forkserver\n"
        "def warm_up():\n    seen.append('sqlalchemy' in sys.modules or 'httpx' in sys.modules)\n    start()\n"
        "workers.start_forkserver = warm_up\n",
        "seen[:1]",
    )

    assert crawl() == "0 [False]", "warmed up before httpx and SQLAlchemy were imported"
    assert crawl() == "0 []", "a re-poll starts no process"


def test_a_crawl_with_its_workers_running_parses_its_feeds_there(tmp_path: Path, server: FaultServer) -> None:
    # In a fresh interpreter: whether it ever imported the feed parser tells where feeds were read.
    crawl = _crawl_in_a_fresh_interpreter(tmp_path, server, "", "'feedparser' in sys.modules")

    assert crawl() == "0 False", "a new archive's feeds are parsed by the workers"
    assert crawl() == "0 True", "a re-poll that starts no worker parses a changed feed itself"


def _crawl_in_a_fresh_interpreter(tmp_path: Path, server: FaultServer, before: str, shown: str) -> Callable[[], str]:
    """A crawl of one new feed by `cli.main` in a new Python, after the code `before`; the crawl
    prints its exit status and the value of the expression `shown`."""
    feed = server.route("/feed", faults.respond(200, rss([Item("A", server.url("/a"), "<p>" + "word " * 200 + "</p>")]),
                                                "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "a", "url": feed, "full_text": "never"}])
    script = (
        f"import sys\nfrom crawler import cli\n{before}"
        f"status = cli.main(['crawl', '--config', {str(config)!r}])\nprint(status, {shown})\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    def crawl() -> str:
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                              env=env, cwd=tmp_path).stdout.splitlines()[-1]

    return crawl


def test_a_feed_that_fails_to_parse_in_a_worker_fails_as_it_would_here(tmp_path: Path, server: FaultServer) -> None:
    page = server.route("/page", faults.respond(200, b"<!doctype html><html><body>news</body></html>", "text/html"))
    settings = load_settings(write_config(tmp_path, [{"name": "a", "url": page}]))

    async def crawl(warm: bool) -> str | None:
        async with open_deps(settings) as deps:
            if warm:
                deps.workers.warm_up()
            poll = await poll_feed(settings.feeds[0], deps)
            assert deps.workers.warm is warm
            return poll.report.error

    here = asyncio.run(crawl(warm=False))
    assert here == f"an HTML page, not a feed ({page})"
    assert asyncio.run(crawl(warm=True)) == here
