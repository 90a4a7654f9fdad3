"""A crawl with feeds it has never polled starts the workers' forkserver before the first page needs it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.app import crawl_all, open_deps, run_once
from crawler.config import load_settings
from crawler.workers import CpuPool
from tests import faults
from tests.conftest import Item, rss, write_config
from tests.faults import FaultServer


def test_warm_up_starts_the_forkserver_and_returns_at_once() -> None:
    # In a fresh interpreter: this one's forkserver may be running already for other tests.
    check = (
        "import os, time; from pathlib import Path; from crawler.workers import CpuPool\n"
        "t = time.monotonic(); CpuPool.warm_up(); took = time.monotonic() - t\n"
        "kids = [p for p in Path('/proc').iterdir() if p.name.isdigit() and (p / 'stat').read_text()"
        ".rsplit(')', 1)[1].split()[1] == str(os.getpid())]\n"
        "print(sum(b'forkserver' in (p / 'cmdline').read_bytes() for p in kids), took < 0.25)"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert done.stdout.split() == ["1", "True"], "one forkserver child, started without waiting for its imports"


class CountingPool(CpuPool):
    warmed = 0

    def warm_up(self) -> None:  # type: ignore[override]
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
    warm_up = CpuPool.warm_up
    monkeypatch.setattr(CpuPool, "warm_up", staticmethod(lambda: (store_there.append(store.exists()), warm_up())))

    assert asyncio.run(run_once(settings)) == 0
    assert store_there[:1] == [False], "warmed up before the store was created"
    store_there.clear()
    assert asyncio.run(run_once(settings)) == 0
    assert store_there == [], "a re-poll starts no process"


def test_the_crawl_command_starts_the_forkserver_for_a_new_archive_before_its_own_heavy_imports(
    tmp_path: Path, server: FaultServer
) -> None:
    feed = server.route("/feed", faults.respond(200, rss([Item("A", server.url("/a"), "<p>" + "word " * 200 + "</p>")]),
                                                "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "a", "url": feed, "full_text": "never"}])
    # In a fresh interpreter, so that what it has imported when the warm-up comes is its own doing.
    script = (
        "import sys\nfrom crawler import cli, workers\nseen = []\nstart = workers.CpuPool.warm_up\n"
        "def warm_up():\n    seen.append('sqlalchemy' in sys.modules or 'httpx' in sys.modules)\n    start()\n"
        "workers.CpuPool.warm_up = staticmethod(warm_up)\n"
        f"status = cli.main(['crawl', '--config', {str(config)!r}])\nprint(status, seen[:1])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    def crawl() -> str:
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                              env=env, cwd=tmp_path).stdout.splitlines()[-1]

    assert crawl() == "0 [False]", "warmed up before httpx and SQLAlchemy were imported"
    assert crawl() == "0 []", "a re-poll starts no process"
