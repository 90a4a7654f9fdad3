"""Issue 23: cluster nodes claim due feeds from the feeds table, which each node's start and reload
sync from its config. Real daemons as processes on a real PostgreSQL (tests/pg.py), feeds on a
local server that notes each request's time (tests/integration/test_cluster.py's `Feeds`)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

from tests.conftest import write_config
from tests.daemons import DaemonProcess, start
from tests.faults import FaultServer
from tests.integration.test_cluster import INTERVAL, LEASE, Feeds, assert_archived_exactly_once, polls_by_node
from tests.pg import PostgresServer


def node_config(tmp_path: Path, feeds: Feeds, postgres_url: str, node: str, names: list[str] | None = None,
                settings: dict[str, dict[str, Any]] | None = None) -> Path:
    """`node`'s config: `names` (default: all) of `feeds`, with per-feed `settings`; one archive for all.
    Written again in place for a reload."""
    folder = tmp_path / node
    folder.mkdir(exist_ok=True)
    entries = [{"name": name, "url": feeds.server.url(f"/{name}.xml"), **(settings or {}).get(name, {})}
               for name in (names if names is not None else feeds.names)]
    return write_config(folder, entries, archive_dir=str(tmp_path / "archive"), state=postgres_url,
                        cluster={"node": node, "lease": f"{LEASE:g}s"},
                        defaults={"interval": f"{INTERVAL:g}s", "full_text": "never", "images": False})


def database(postgres_url: str) -> str:
    return postgres_url.rsplit("/", 1)[1]


def gaps(stamps: list[float]) -> list[float]:
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


def test_a_feed_removed_from_the_config_is_retired_and_no_node_polls_it_after_the_reload(
    tmp_path: Path, server: FaultServer, postgres_server: PostgresServer, postgres_url: str,
    daemons: list[DaemonProcess],
) -> None:
    feeds = Feeds(server, 4)
    n1 = start(daemons, node_config(tmp_path, feeds, postgres_url, "n1"))
    n2 = start(daemons, node_config(tmp_path, feeds, postgres_url, "n2"))  # keeps its config all along
    feeds.wait_until(lambda times: all(len(times[name]) >= 2 for name in feeds.names))

    node_config(tmp_path, feeds, postgres_url, "n1", names=["f0", "f1", "f2"])
    n1.signal(signal.SIGHUP)
    n1.wait_for(r"feeds synced into the store: 3 feeds \(0 added, 0 revived, 0 changed, 1 retired\)")
    reloaded = time.monotonic()
    polled_before = len(feeds.times["f3"])
    feeds.wait_until(lambda times: all(len([t for t in times[n] if t > reloaded]) >= 3 for n in ("f0", "f1", "f2")))

    # A poll of f3 claimed just before the sync may still reach the server; none after it.
    late = [t - reloaded for t in feeds.times["f3"] if t > reloaded + 1.0]
    assert late == [], f"f3 polled {late} s after it was retired ({polled_before} polls before)"
    assert postgres_server.sql("SELECT retired IS NOT NULL FROM feeds WHERE name = 'f3'",
                               database(postgres_url)).strip() == "t"

    node_config(tmp_path, feeds, postgres_url, "n1")  # f3 back: revived, polled again, its history kept
    n1.signal(signal.SIGHUP)
    n1.wait_for(r"feeds synced into the store: 4 feeds \(0 added, 1 revived, 0 changed, 0 retired\)")
    feeds.wait_until(lambda times: len(times["f3"]) >= polled_before + 1)
    assert n1.stop() == 0 and n2.stop() == 0
    assert_archived_exactly_once(tmp_path, feeds, node_config(tmp_path, feeds, postgres_url, "n1"))


def test_a_node_joining_and_leaving_mid_run_misses_no_due_poll_and_duplicates_none(
    tmp_path: Path, server: FaultServer, postgres_url: str, daemons: list[DaemonProcess],
) -> None:
    feeds = Feeds(server, 6)
    configs = {node: node_config(tmp_path, feeds, postgres_url, node) for node in ("n1", "n2", "n3")}
    nodes = {"n1": start(daemons, configs["n1"])}

    def rounds(count: int) -> None:
        floor = {name: len(feeds.times[name]) for name in feeds.names}
        feeds.wait_until(lambda times: all(len(times[n]) >= floor[n] + count for n in feeds.names))

    rounds(2)
    nodes["n2"] = start(daemons, configs["n2"])  # joins
    nodes["n2"].wait_for(r"daemon started")
    rounds(3)
    assert nodes["n1"].stop() == 0  # leaves: its polls in flight finish and are recorded
    nodes["n3"] = start(daemons, configs["n3"])  # joins
    rounds(3)
    assert nodes["n2"].stop() == 0 and nodes["n3"].stop() == 0

    for name in feeds.names:
        between = gaps(feeds.times[name])
        # No duplicate: never two polls of a feed within an interval (less the server clock's
        # slack); no missed poll: never two intervals without one.
        assert min(between) >= INTERVAL * 0.75, (name, between)
        assert max(between) < INTERVAL * 2, (name, between)
    counts = polls_by_node(nodes)
    assert all(counts[node] > 0 for node in nodes), counts
    assert_archived_exactly_once(tmp_path, feeds, configs["n1"])


def test_two_nodes_with_different_configs_warn_and_keep_polling(
    tmp_path: Path, server: FaultServer, postgres_url: str, daemons: list[DaemonProcess],
) -> None:
    feeds = Feeds(server, 4)
    first = start(daemons, node_config(tmp_path, feeds, postgres_url, "n1", names=["f0", "f1", "f2"]))
    first.wait_for(r"feeds synced into the store: 3 feeds \(3 added")
    # n2: one more feed, and f0 with a setting of its own.
    second = start(daemons, node_config(tmp_path, feeds, postgres_url, "n2", settings={"f0": {"max_items": 7}}))

    warning = second.wait_for(r"WARNING .*this node's config hash ([0-9a-f]{16}) differs from the store's "
                              r"([0-9a-f]{16}) \(synced by node n1\)")
    assert warning[1] != warning[2]
    second.wait_for(r"feeds synced into the store: 4 feeds \(1 added, 0 revived, 1 changed, 0 retired\)")
    began = time.monotonic()
    feeds.wait_until(lambda times: all(len([t for t in times[n] if t > began]) >= 4 for n in feeds.names))
    assert first.stop() == 0 and second.stop() == 0

    counts = polls_by_node({"n1": first, "n2": second})
    assert counts["n1"] > 0 and counts["n2"] > 0, counts
    log = "".join(first.all_lines() + second.all_lines())
    assert log.count("this node's config hash") == 1 and "Traceback" not in log
    # f3 is n2's alone: n1 leaves it to n2 when it claims it (at most one line saying so).
    assert log.count("feed=f3 is in the store but not in this node's config") <= 1
    for name in feeds.names:
        assert min(gaps(feeds.times[name])) >= INTERVAL * 0.75, name


def test_three_nodes_starting_together_sync_once(
    tmp_path: Path, server: FaultServer, postgres_url: str, daemons: list[DaemonProcess],
) -> None:
    feeds = Feeds(server, 5)
    nodes = [start(daemons, node_config(tmp_path, feeds, postgres_url, node)) for node in ("n1", "n2", "n3")]
    for daemon in nodes:
        daemon.wait_for(r"daemon started")
    feeds.wait_until(lambda times: all(len(times[name]) >= 2 for name in feeds.names))
    assert all(d.stop() == 0 for d in nodes)

    log = "".join(line for d in nodes for line in d.all_lines())
    assert log.count("feeds synced into the store: 5 feeds (5 added") == 1, log
    assert log.count("feeds table: in sync with this config (5 feeds") == 2, log
    assert "differs from the store's" not in log
    for name in feeds.names:
        assert min(gaps(feeds.times[name])) >= INTERVAL * 0.75, name


def test_a_hand_edited_feeds_table_is_one_line_each_and_the_node_carries_on(
    tmp_path: Path, server: FaultServer, postgres_server: PostgresServer, postgres_url: str,
    daemons: list[DaemonProcess],
) -> None:
    feeds = Feeds(server, 4)
    config = node_config(tmp_path, feeds, postgres_url, "n1")
    first = start(daemons, config)
    feeds.wait_until(lambda times: all(len(times[name]) >= 1 for name in feeds.names))
    assert first.stop() == 0
    db = database(postgres_url)
    # By hand: a feed with no settings hash and none of next due time, and leases of a node that is
    # gone: one held an hour ahead (no node takes leases that long), one that runs out in a second.
    postgres_server.sql("UPDATE feeds SET settings_hash = NULL WHERE name = 'f0'", db)
    postgres_server.sql("UPDATE feeds SET next_due = NULL WHERE name = 'f3'", db)
    postgres_server.sql("INSERT INTO leases VALUES ('f1', 'ghost', 7, now() + interval '1 hour'), "
                        "('f2', 'ghost', 8, now() + interval '1 second') "
                        "ON CONFLICT (feed) DO UPDATE SET node = EXCLUDED.node, token = EXCLUDED.token, "
                        "expires_at = EXCLUDED.expires_at", db)
    polled = {name: len(feeds.times[name]) for name in feeds.names}

    again = start(daemons, config)
    feeds.wait_until(lambda times: all(len(times[name]) >= polled[name] + 2 for name in feeds.names),
                     timeout=LEASE + INTERVAL * 3 + 30)
    assert again.stop() == 0

    lines = again.all_lines()
    said = {
        "no settings hash": [line for line in lines if "1 feeds had no settings hash" in line],
        "no next due": [line for line in lines if "1 feeds had no next due time" in line],
        "lease far ahead": [line for line in lines if "leases: 1 held further ahead" in line and "ghost" in line],
    }
    assert {what: len(found) for what, found in said.items()} == dict.fromkeys(said, 1), "".join(lines)
    # Both of ghost's leases ran out (one cut short first) and were taken over, in one claim or two.
    assert 1 <= sum("whose leases had expired (held by ghost)" in line for line in lines) <= 2, "".join(lines)
    assert "Traceback" not in "".join(lines)
    assert postgres_server.sql("SELECT count(*) FROM feeds WHERE settings_hash IS NULL OR next_due IS NULL",
                               db).strip() == "0"


def test_an_idle_node_wakes_on_notify_not_at_its_next_look(
    tmp_path: Path, server: FaultServer, postgres_server: PostgresServer, postgres_url: str,
    daemons: list[DaemonProcess],
) -> None:
    feeds = Feeds(server, 2)
    config = node_config(tmp_path, feeds, postgres_url, "n1")
    config.write_text(config.read_text(encoding="utf-8").replace(f"interval: {INTERVAL:g}s", "interval: 1h"),
                      encoding="utf-8")
    node = start(daemons, config)
    feeds.wait_until(lambda times: all(len(times[name]) == 1 for name in feeds.names))
    time.sleep(1.0)  # the node has nothing due for an hour: it sleeps for its longest, 30 s

    # What another node's sync does when it makes a feed due (a feed added, revived, repaired).
    postgres_server.sql("UPDATE feeds SET next_due = now() WHERE name = 'f0'", database(postgres_url))
    told = time.monotonic()
    postgres_server.sql("NOTIFY feed_archiver_feeds", database(postgres_url))

    feeds.wait_until(lambda times: len(times["f0"]) == 2, timeout=30)
    assert feeds.times["f0"][1] - told < 5.0, "woken by the NOTIFY, not by its 30 s look"
    assert node.stop() == 0
