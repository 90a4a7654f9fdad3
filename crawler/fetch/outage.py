"""Our network, not theirs: telling a machine that lost its connection from hosts that failed.

When the home server's line drops, every feed fails to connect at once, and charging each
feed for it would back them all off for hours and, after a day, call them dead. So the
fetcher tells `NetworkHealth` how each request went, by host; while, over the last
`window` seconds, at least `share` of the distinct hosts tried (at least `min_hosts`)
could not be reached at all (DNS, refused, no route, connect timeout) and none answered,
the network is judged down and such a poll is not charged to its feed (see
`schedule.next_state`). An HTTP error is an answer: a host that says 500 is reachable.

Recording a request is one dict update; the judgement is made only for a poll that failed
at connection level, so a re-poll of unchanged feeds pays nothing for it.

>>> health = NetworkHealth()
>>> health.heard("example.com:443", answered=False, unreachable=True)
>>> health.outage()  # None until enough hosts fail the same way
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import NamedTuple

log = logging.getLogger(__name__)

WINDOW_SECONDS = 120.0
MIN_HOSTS = 3
SHARE = 0.8


# The value types here are a NamedTuple and a plain class, not dataclasses: a dataclass costs
# 3.5 M instructions to create at import, and every re-poll imports this module.


class Outage(NamedTuple):
    """The judgement: `unreachable` of the `tried` hosts could not be reached, and none answered."""

    unreachable: int
    tried: int

    def __str__(self) -> str:
        return f"network unreachable ({self.unreachable} of {self.tried} hosts)"


class _Host:
    __slots__ = ("answered", "tried", "unreachable")

    def __init__(self, tried: float) -> None:
        self.tried = tried
        self.answered: float | None = None
        self.unreachable: float | None = None


class NetworkHealth:
    """How the hosts tried lately fared, and whether that means our own network is down.

    `window` and `clock` (monotonic seconds) are parameters so that the judgement can be
    tested without waiting two minutes.
    """

    def __init__(
        self,
        window: float = WINDOW_SECONDS,
        *,
        min_hosts: int = MIN_HOSTS,
        share: float = SHARE,
        clock: Callable[[], float] = time.monotonic,
        announce: bool = True,
    ) -> None:
        self._announce = announce
        self._window = window
        self._min_hosts = min_hosts
        self._share = share
        self._clock = clock
        self._hosts: dict[str, _Host] = {}
        self._down_since: float | None = None

    def heard(self, host: str, *, answered: bool, unreachable: bool) -> None:
        """One request to `host` (HOST:PORT) ended: with an answer (any status), unreachable
        (no connection made), or neither (a read timeout, a reset)."""
        now = self._clock()
        record = self._hosts.get(host)
        if record is None:
            record = self._hosts[host] = _Host(now)
        record.tried = now
        if answered:
            record.answered = now
            if self._down_since is not None:
                if self._announce:
                    log.warning("network back: %s answered after %.0fs unreachable", host, now - self._down_since)
                self._down_since = None
        elif unreachable:
            record.unreachable = now

    def outage(self) -> Outage | None:
        """The network is down now, as the hosts tried over the window tell it; else None."""
        now = self._clock()
        since = now - self._window
        self._forget(since)
        tried = len(self._hosts)
        unreachable = 0
        for record in self._hosts.values():
            if record.answered is not None and record.answered >= since:
                return None
            if record.unreachable is not None and record.unreachable >= since:
                unreachable += 1
        if tried < self._min_hosts or unreachable < self._share * tried:
            return None
        verdict = Outage(unreachable, tried)
        if self._down_since is None:
            self._down_since = now
            if self._announce:
                log.warning(
                    "our network looks down: %d of %d hosts unreachable over the last %.0fs and none answered; "
                    "connection failures are not charged to feeds until a host answers",
                    unreachable, tried, self._window,
                )
        return verdict

    def _forget(self, since: float) -> None:
        for host in [h for h, record in self._hosts.items() if record.tried < since]:
            del self._hosts[host]


class PassBarrier:
    """A one-off crawl judges its connection failures once every feed of the pass has been
    tried: a poll that could not connect waits here before anything is charged.

    >>> barrier = PassBarrier(["a", "b"])
    >>> barrier.tried("a"); barrier.tried("b")
    >>> await barrier.all_tried()
    """

    def __init__(self, names: Iterable[str]) -> None:
        self._left = set(names)
        self._done = asyncio.Event()
        if not self._left:
            self._done.set()

    def tried(self, name: str) -> None:
        """`name` has been fetched (or will not be); calling it twice is harmless."""
        self._left.discard(name)
        if not self._left:
            self._done.set()

    async def all_tried(self) -> None:
        await self._done.wait()
