"""robots.txt for article pages: may this page be fetched, and how far apart.

Only article pages are checked: a feed is published for machines to read, and an image
belongs to an article the feed gave. Each host's robots.txt is fetched once and kept a
day, in memory and in the state store (so that a one-off crawl every ten minutes does
not ask again each time), and read with protego (Scrapy's parser) as RFC 9309 and Google
read it: `*` and `$` in paths, the longest match wins, Allow wins a tie, groups of one
agent merged, matched against the product token of the configured user agent (its name
before the first `/`). A line it cannot read is ignored, as the RFC says (section 2.2):
an odd `Crawl-delay: ²` costs that line, never the feed. What a failure means follows
RFC 9309 (section 2.3.1):

- a 4xx answer (401 and 403 included): no rules, everything allowed;
- a 5xx answer or a network error: everything disallowed for now, unless a copy cached
  earlier stands in; asked again after `RETRY_SECONDS`;
- only the first `MAX_BYTES` are read (Google's 500 KiB), so a 10 MB file costs no more
  than that, and whatever garbage it holds is just lines that match no rule.

`Crawl-delay` (capped at `MAX_CRAWL_DELAY`; a negative or non-finite one ignored) spaces the
page requests to that host.

>>> robots = Robots(fetcher, store, user_agent, clock)
>>> refusal = await robots.refusal(page_url)   # None: allowed
>>> await robots.wait_turn(page_url)
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from crawler.errors import Blocked, FetchError, HTTPStatusError, MalformedURL, RedirectError
from crawler.fetch.client import Fetcher
from crawler.models import RobotsCopy
from crawler.store import StateStore

if TYPE_CHECKING:
    from protego import Protego

log = logging.getLogger(__name__)

MAX_BYTES = 500 * 1024
CACHE_FOR = timedelta(days=1)
RETRY_SECONDS = 600.0
MAX_CRAWL_DELAY = 30.0


class _Rules:
    """One host's rules as this process holds them (a plain class: cheaper to import than a dataclass)."""

    __slots__ = ("delay", "disallow_all", "parser", "until", "why")

    def __init__(self, parser: Protego | None, disallow_all: bool, delay: float, until: float, why: str) -> None:
        self.parser = parser  # None: everything allowed
        self.disallow_all = disallow_all
        self.delay = delay
        self.until = until  # monotonic time after which the rules are looked up again
        self.why = why  # for a refusal: which robots.txt said so


class Robots:
    """Each host's robots.txt for one process; see the module docstring for the rules."""

    def __init__(
        self,
        fetcher: Fetcher,
        store: StateStore,
        user_agent: str,
        clock: Callable[[], datetime],
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetcher = fetcher
        self._store = store
        self._agent = _product_token(user_agent)
        self._clock = clock
        self._sleep = sleep
        self._monotonic = monotonic
        self._rules: dict[str, _Rules] = {}
        self._loading: dict[str, asyncio.Lock] = {}
        self._next_turn: dict[str, float] = {}

    async def refusal(self, url: str, *, guarded: bool = False) -> str | None:
        """Why robots.txt forbids fetching `url` (a warning's text), or None when it may be fetched."""
        rules = await self._rules_for(_origin(url), guarded)
        if rules.disallow_all:
            return f"{rules.why} disallows every page for now"
        if rules.parser is not None and not rules.parser.can_fetch(url, self._agent):
            return f"{rules.why} disallows it"
        return None

    async def wait_turn(self, url: str) -> None:
        """Wait until `url`'s host may be sent the next page request under its Crawl-delay."""
        origin = _origin(url)
        rules = self._rules.get(origin)
        if rules is None or rules.delay <= 0:
            return
        now = self._monotonic()
        start = max(now, self._next_turn.get(origin, 0.0))
        self._next_turn[origin] = start + rules.delay  # taken now: concurrent pages queue up in turn
        if start > now:
            await self._sleep(start - now)

    async def _rules_for(self, origin: str, guarded: bool) -> _Rules:
        rules = self._rules.get(origin)
        if rules is not None and rules.until > self._monotonic():
            return rules
        lock = self._loading.setdefault(origin, asyncio.Lock())
        async with lock:  # one fetch per host, however many of its pages ask at once
            rules = self._rules.get(origin)
            if rules is None or rules.until <= self._monotonic():
                rules = self._rules[origin] = await self._load(origin, rules is None, guarded)
        return rules

    async def _load(self, origin: str, first: bool, guarded: bool) -> _Rules:
        now = self._clock()
        cached = await self._store.robots_copy(origin)
        if first and cached is not None and now - cached.fetched_at < CACHE_FOR:
            return await self._from_copy(cached, now)
        url = origin + "/robots.txt"
        try:
            result, _ = await self._fetcher.get(
                url, accept="text/plain", max_body=MAX_BYTES, truncate=True, kind="robots", guarded=guarded,
                retries=0,
            )
            copy = RobotsCopy(origin, now, result.status, result.body.decode("utf-8", "replace").replace("\x00", ""))
        except HTTPStatusError as exc:
            if exc.status >= 500:
                return await self._unavailable(origin, url, cached, now, str(exc))
            copy = RobotsCopy(origin, now, exc.status, "")  # 4xx: no rules
        except (RedirectError, Blocked, MalformedURL) as exc:
            # Too many redirects counts as 4xx (RFC 9309); a blocked or malformed URL is the
            # page's to report, which the fetcher refuses the same way.
            log.debug("robots.txt %s: %s; no rules", url, exc)
            copy = RobotsCopy(origin, now, None, "")
        except FetchError as exc:
            return await self._unavailable(origin, url, cached, now, str(exc))
        await self._store.save_robots(copy)
        return await self._from_copy(copy, now)

    async def _from_copy(self, copy: RobotsCopy, now: datetime) -> _Rules:
        remaining = max(0.0, (copy.fetched_at + CACHE_FOR - now).total_seconds())
        until = self._monotonic() + remaining
        why = f"robots.txt of {copy.origin}"
        if not copy.body.strip():
            return _Rules(None, False, 0.0, until, why)
        # Here, not at the top: a re-poll that fetches no page need not import it (6 ms).
        from protego import Protego

        # Off the loop: 500 KB of rules take protego 0.4 s to read.
        parser = await asyncio.to_thread(Protego.parse, copy.body)
        delay = parser.crawl_delay(self._agent) or 0.0
        return _Rules(parser, False, min(delay, MAX_CRAWL_DELAY) if math.isfinite(delay) and delay > 0 else 0.0,
                      until, why)

    async def _unavailable(self, origin: str, url: str, cached: RobotsCopy | None, now: datetime, error: str) -> _Rules:
        until = self._monotonic() + RETRY_SECONDS
        if cached is not None:
            log.info("robots.txt %s unavailable (%s); the copy of %s stands in", url, error, cached.fetched_at)
            rules = await self._from_copy(cached, now)
            return _Rules(rules.parser, False, rules.delay, until, rules.why)
        log.warning("robots.txt %s unavailable (%s): its pages are not fetched until it loads", url, error)
        return _Rules(None, True, 0.0, until, f"robots.txt of {origin} is unavailable ({error}) and")


def _product_token(user_agent: str) -> str:
    """The name robots.txt groups are matched against (RFC 9309, 2.2.1): `FooBot` of
    `FooBot/2.1 (+https://foo.example/bot)`; not the words of the comment after it."""
    token = re.match(r"[A-Za-z0-9_-]+", user_agent.strip())
    return token.group() if token else user_agent


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"
