"""Several `feed-archiver run` daemons on one PostgreSQL and one archive folder: a cluster.

Real daemons as processes, a real PostgreSQL (tests/pg.py), a local server that notes
when each feed is asked for. What a user would check is asserted: no feed polled more
often than one daemon would, the polls spread, a killed node's feeds taken over, a
paused node's poll refused, every entry archived exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import CliResult, Item, archived_files, rss, write_config
from tests.daemons import EVENT_TIMEOUT, DaemonProcess, start, status
from tests.faults import FaultServer, Handler, respond
from tests.pg import start_server

INTERVAL = 2.0
LEASE = 4.0
ITEMS = 3


class Feeds:
    """Feeds `f0`..`fN` on a FaultServer (plus `slow`, whose first request stalls until released),
    each request's time noted per feed; a condition wakes whoever waits for a count."""

    def __init__(self, server: FaultServer, count: int, *, slow: bool = False) -> None:
        self.server = server
        self.times: dict[str, list[float]] = defaultdict(list)
        self.changed = threading.Condition()
        self.names = [f"f{i}" for i in range(count)] + (["slow"] if slow else [])
        self.slow_seen = threading.Event()
        self.slow_release = threading.Event()
        for name in self.names:
            server.route(f"/{name}.xml", self._feed(name))

    def _feed(self, name: str) -> Callable[[Handler], None]:
        items = [Item(f"{name} story {n}", f"http://news.test/{name}/{n}", f"<p>{name} {n}.</p>" * 40)
                 for n in range(ITEMS)]
        doc, etag = rss(items, title=name), f'"{name}-v1"'

        def fault(handler: Handler) -> None:
            with self.changed:
                self.times[name].append(time.monotonic())
                first = len(self.times[name]) == 1
                self.changed.notify_all()
            if name == "slow" and first:
                self.slow_seen.set()
                self.slow_release.wait(60)
            if handler.headers.get("If-None-Match") == etag:
                respond(304)(handler)
            else:
                respond(200, doc, "application/rss+xml", ETag=etag)(handler)

        return fault

    def wait_until(self, done: Callable[[dict[str, list[float]]], bool], timeout: float = 60.0) -> None:
        with self.changed:
            assert self.changed.wait_for(lambda: done(self.times), timeout), dict(self.times)

    def configs(self, tmp_path: Path, postgres_url: str, nodes: list[str], **top: Any) -> dict[str, Path]:
        """One config per node, the same but for `cluster.node`; one archive folder for all."""
        feeds = [{"name": name, "url": self.server.url(f"/{name}.xml")} for name in self.names]
        paths = {}
        for node in nodes:
            folder = tmp_path / node
            folder.mkdir()
            paths[node] = write_config(
                folder, feeds, archive_dir=str(tmp_path / "archive"), state=postgres_url,
                cluster={"node": node, "lease": f"{LEASE:g}s"},
                defaults={"interval": f"{INTERVAL:g}s", "full_text": "never", "images": False}, **top,
            )
        return paths


def polls_by_node(daemons: dict[str, DaemonProcess]) -> Counter[str]:
    return Counter({node: sum("status=" in line and "feed=" in line for line in d.all_lines())
                    for node, d in daemons.items()})


def assert_archived_exactly_once(tmp_path: Path, feeds: Feeds, config: Path) -> None:
    files = archived_files(tmp_path / "archive")
    titles = Counter(path.name.rsplit("_", 1)[0] for path in files)
    assert len(files) == len(feeds.names) * ITEMS and set(titles.values()) == {1}, titles
    rows = status(config)
    assert {name: rows[name]["entries_archived"] for name in feeds.names} == dict.fromkeys(feeds.names, ITEMS)


def test_three_nodes_share_the_polls_and_no_feed_is_polled_more_often_than_one_daemon_would(
    tmp_path: Path, server: FaultServer, postgres_url: str, daemons: list[DaemonProcess]
) -> None:
    feeds = Feeds(server, 9)
    configs = feeds.configs(tmp_path, postgres_url, ["n1", "n2", "n3"])
    nodes = {node: start(daemons, path) for node, path in configs.items()}
    began = time.monotonic()

    feeds.wait_until(lambda times: all(len(times[name]) >= 6 for name in feeds.names), timeout=90)
    assert all(d.stop() == 0 for d in nodes.values())
    elapsed = time.monotonic() - began

    for name in feeds.names:
        stamps = feeds.times[name]
        gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
        # One daemon polls a feed once an interval; the cluster must not do more. (The server's
        # clock sees each poll a little after it starts: allow a quarter of an interval for that.)
        assert min(gaps) >= INTERVAL * 0.75, (name, gaps)
        assert len(stamps) <= elapsed / INTERVAL + 1, (name, len(stamps), elapsed)
    counts = polls_by_node(nodes)
    total = sum(counts.values())
    assert total >= len(feeds.names) * 6
    assert max(counts.values()) <= 0.6 * total, counts
    assert len(+counts) == 3, counts
    assert_archived_exactly_once(tmp_path, feeds, configs["n1"])


def test_a_killed_node_s_feeds_are_polled_by_the_others_within_a_lease_and_an_interval(
    tmp_path: Path, server: FaultServer, postgres_url: str, daemons: list[DaemonProcess]
) -> None:
    feeds = Feeds(server, 4, slow=True)
    configs = feeds.configs(tmp_path, postgres_url, ["n1", "n2", "n3"])
    nodes = {node: start(daemons, path) for node, path in configs.items()}
    assert feeds.slow_seen.wait(EVENT_TIMEOUT)
    holder = status(configs["n1"])["slow"]["leased_by"]
    assert holder in nodes, "the node polling `slow` holds its lease, and status says which"

    nodes[holder].proc.send_signal(signal.SIGKILL)
    nodes[holder].proc.wait()
    killed = time.monotonic()
    feeds.slow_release.set()

    feeds.wait_until(lambda times: len(times["slow"]) >= 2, timeout=LEASE + INTERVAL + 20)
    taken_over = feeds.times["slow"][1] - killed
    print(f"killed {holder} mid-poll; `slow` polled again {taken_over:.1f}s later (lease {LEASE:g}s, interval "
          f"{INTERVAL:g}s)")
    assert taken_over <= LEASE + INTERVAL + 1.0, taken_over
    survivors = [d for node, d in nodes.items() if node != holder]
    assert all(d.stop() == 0 for d in survivors)  # a stop lets the polls in flight finish
    rows = status(configs["n1"])
    assert rows["slow"]["node"] != holder and rows["slow"]["leased_by"] is None
    assert_archived_exactly_once(tmp_path, feeds, configs["n1"])


def test_a_node_paused_past_its_lease_records_nothing_when_it_wakes(
    tmp_path: Path, server: FaultServer, postgres_url: str, daemons: list[DaemonProcess]
) -> None:
    feeds = Feeds(server, 0, slow=True)
    configs = feeds.configs(tmp_path, postgres_url, ["n1", "n2"])
    first = start(daemons, configs["n1"])
    assert feeds.slow_seen.wait(EVENT_TIMEOUT)
    assert status(configs["n1"])["slow"]["leased_by"] == "n1"
    first.signal(signal.SIGSTOP)  # paused mid-poll, as by a long GC pause or a frozen VM

    second = start(daemons, configs["n2"])
    second.wait_for(r"feed=slow status=200 new=3 ", timeout=LEASE + INTERVAL + 20)
    recorded = status(configs["n2"])["slow"]
    assert recorded["node"] == "n2" and recorded["entries_archived"] == ITEMS
    assert second.stop() == 0

    feeds.slow_release.set()
    first.signal(signal.SIGCONT)
    first.wait_for(r"feed=slow .*not recorded: lease lost")
    assert first.stop() == 0
    after = status(configs["n1"])["slow"]
    assert after == recorded, "the woken node wrote nothing to the store"
    assert_archived_exactly_once(tmp_path, feeds, configs["n1"])


def test_a_crawl_beside_running_daemons_archives_nothing_twice_and_names_the_leases_it_left(
    tmp_path: Path, server: FaultServer, postgres_url: str, daemons: list[DaemonProcess]
) -> None:
    feeds = Feeds(server, 3, slow=True)
    configs = feeds.configs(tmp_path, postgres_url, ["n1", "n2"])
    nodes = [start(daemons, path) for path in configs.values()]
    assert feeds.slow_seen.wait(EVENT_TIMEOUT)
    holder = status(configs["n1"])["slow"]["leased_by"]

    crawl = subprocess.run([sys.executable, "-m", "crawler", "crawl", "--config", str(configs["n1"])],
                           capture_output=True, text=True, timeout=120)

    assert crawl.returncode == 0, crawl.stderr
    assert f"leased by {holder}" in crawl.stdout
    assert {row["node"] for name, row in status(configs["n1"]).items() if name != "slow"} <= {"n1", "n2", "n1/crawl"}
    assert "another feed-archiver" not in crawl.stderr
    feeds.slow_release.set()
    nodes[0 if holder == "n1" else 1].wait_for(r"feed=slow status=200 new=3 ")
    assert all(d.stop() == 0 for d in nodes)
    assert_archived_exactly_once(tmp_path, feeds, configs["n1"])


def test_nodes_starting_together_on_an_empty_database_migrate_it_once(
    tmp_path: Path, server: FaultServer, postgres_url: str
) -> None:
    feeds = Feeds(server, 2)
    configs = feeds.configs(tmp_path, postgres_url, ["n1", "n2", "n3"])
    env = {**os.environ}
    runs = [subprocess.Popen([sys.executable, "-m", "crawler", "--log-level", "info", "crawl", "--config", str(path)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
            for path in configs.values()]
    outputs = [run.communicate(timeout=120) for run in runs]

    assert [run.returncode for run in runs] == [0, 0, 0], [err for _, err in outputs]
    assert sum("state store created at schema" in err for _, err in outputs) == 1
    assert_archived_exactly_once(tmp_path, feeds, configs["n1"])


def test_a_daemon_carries_on_when_postgresql_goes_away_and_comes_back(
    tmp_path: Path, server: FaultServer, daemons: list[DaemonProcess]
) -> None:
    own = start_server()  # a server of its own, to stop and start again
    try:
        feeds = Feeds(server, 2)
        config = feeds.configs(tmp_path, own.url(own.create_database()), ["n1"])["n1"]
        daemon = start(daemons, config)
        for _ in range(2):  # f0 and f1, in either order
            daemon.wait_for(r"feed=f[01] status=200 new=3 ")

        own.stop()
        # One line, no traceback: a poll's, or (nothing in flight) the claim's (issue 23).
        daemon.wait_for(r"(feed=f\d poll failed|cannot claim feeds): .*state store")
        later = rss([Item("f0 after the outage", "http://news.test/f0/9", "<p>x</p>" * 40)])
        server.route("/f0.xml", respond(200, later, "application/rss+xml"))
        own.launch()

        daemon.wait_for(r"feed=f0 status=200 new=1 ")
        assert daemon.stop() == 0
        assert "Traceback" not in "".join(daemon.all_lines())
        files = archived_files(tmp_path / "archive")
        assert len(files) == 7 and len({f.name for f in files}) == 7
        assert status(config)["f0"]["entries_archived"] == 4
    finally:
        own.remove()


def test_a_cluster_block_needs_a_postgresql_store(tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    config = write_config(tmp_path, [{"name": "a", "url": "http://127.0.0.1:9/feed.xml"}],
                          cluster={"node": "n1"})

    result = cli("check", "--config", str(config))

    assert result.code == 2
    assert result.err.strip().endswith("cluster: needs a postgresql:// state store (an SQLite store has one writer)")
    assert len(result.err.strip().splitlines()) == 1
