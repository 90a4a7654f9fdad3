"""The outage judge (crawler/outage.py) with an injected clock, and what `next_state` makes of its verdict."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest

from crawler.fetch.outage import NetworkHealth, Outage, PassBarrier
from crawler.models import FeedReport, FeedSource, FeedState
from crawler.runtime.schedule import next_state


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def judge(window: float = 120.0) -> tuple[NetworkHealth, Clock]:
    clock = Clock()
    return NetworkHealth(window, clock=clock), clock


def unreachable(health: NetworkHealth, *hosts: str) -> None:
    for host in hosts:
        health.heard(host, answered=False, unreachable=True)


def test_every_host_unreachable_is_an_outage() -> None:
    health, _ = judge()
    unreachable(health, "a:80", "b:80", "c:443", "d:443", "e:80")
    assert health.outage() == Outage(5, 5)
    assert str(health.outage()) == "network unreachable (5 of 5 hosts)"


@pytest.mark.parametrize(
    ("unreachable_hosts", "other_hosts", "down"),
    [
        pytest.param(2, 0, False, id="two hosts are too few to judge"),
        pytest.param(3, 0, True, id="three is enough"),
        pytest.param(4, 1, True, id="80 percent unreachable, one read timeout"),
        pytest.param(3, 1, False, id="75 percent is not enough"),
    ],
)
def test_the_share_and_the_minimum(unreachable_hosts: int, other_hosts: int, down: bool) -> None:
    health, _ = judge()
    unreachable(health, *(f"u{i}:80" for i in range(unreachable_hosts)))
    for i in range(other_hosts):  # tried, no answer, but a connection was made (a read timeout)
        health.heard(f"t{i}:80", answered=False, unreachable=False)
    assert (health.outage() is not None) is down


def test_one_host_answering_even_an_error_means_the_network_is_up() -> None:
    health, _ = judge()
    unreachable(health, *(f"u{i}:80" for i in range(9)))
    health.heard("up:80", answered=True, unreachable=False)  # a 500 is an answer
    assert health.outage() is None


def test_only_the_window_counts() -> None:
    health, clock = judge(window=120.0)
    health.heard("up:80", answered=True, unreachable=False)
    clock.now += 60
    unreachable(health, "a:80", "b:80", "c:80")
    assert health.outage() is None  # the answer 60 s ago is within the two minutes
    clock.now += 61
    assert health.outage() == Outage(3, 3)  # now it is not; the failures are
    clock.now += 120
    assert health.outage() is None  # and then they are forgotten too


def test_the_daemon_hears_of_the_outage_once_and_of_its_end(caplog: pytest.LogCaptureFixture) -> None:
    health, clock = judge()
    caplog.set_level(logging.WARNING, "crawler.fetch.outage")
    unreachable(health, "a:80", "b:80", "c:80")
    for _ in range(3):
        assert health.outage() is not None
    clock.now += 90
    health.heard("a:80", answered=True, unreachable=False)
    assert health.outage() is None
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2
    assert lines[0].startswith("our network looks down: 3 of 3 hosts unreachable over the last 120s")
    assert lines[1] == "network back: a:80 answered after 90s unreachable"


def test_a_one_off_crawl_judges_quietly() -> None:
    health = NetworkHealth(announce=False)
    unreachable(health, "a:80", "b:80", "c:80")
    assert health.outage() is not None


async def test_the_pass_barrier_opens_when_every_feed_was_tried() -> None:
    barrier = PassBarrier(["a", "b"])
    barrier.tried("a")
    barrier.tried("a")
    waiting = asyncio.ensure_future(barrier.all_tried())
    await asyncio.sleep(0)  # one turn of the loop (no time): the waiter is now waiting
    assert not waiting.done(), "b has not been tried yet"
    barrier.tried("b")
    await asyncio.wait_for(waiting, timeout=5)  # a barrier that never opens fails here, not hangs CI


NOW = datetime(2026, 1, 1, tzinfo=UTC)
SOURCE = FeedSource("f", "http://f.example/", interval=600.0)


def test_an_outage_poll_is_not_charged_and_is_polled_at_its_interval() -> None:
    failing = FeedState("f", consecutive_failures=3, first_failure=NOW - timedelta(hours=30), etag='"e"')
    report = FeedReport("f", SOURCE.url, status="failed", error="network unreachable (5 of 5 hosts)",
                        unreachable=True, outage=True)
    state = next_state(SOURCE, failing, report, NOW)
    assert state.consecutive_failures == 3 and not state.dead and state.etag == '"e"'
    assert state.next_due == NOW + timedelta(seconds=600)
    assert state.last_error == "network unreachable (5 of 5 hosts)"
    charged = next_state(SOURCE, failing, FeedReport("f", SOURCE.url, status="failed", unreachable=True), NOW)
    assert charged.consecutive_failures == 4 and charged.next_due is not None and charged.next_due > state.next_due
