"""A route feed fetched from a pool of RSSHub instances.

Public RSSHub instances answer 429 when their quota runs out and fail now and then; the
same route is served by each of them. A route is asked of the first instance that is not
resting; a 429, a 5xx, a timeout or a failed connection moves the same poll on to the
next, and so does any answer that is not a feed (an HTML error page, an empty 200, a
redirect loop, a body over `max_body`): the body is parsed before an instance counts as
having served it. An instance that said 429 or 503 rests for its Retry-After (else
`DEFAULT_REST`, never more than `MAX_REST`: a date ten years away is a server's mistake);
one that gave something other than a feed where a later instance gave one rests for
`DEFAULT_REST` (when none gives a feed, the route seems at fault, and none rests for it).
Rests are written to the state store, so that the next one-off crawl, or another node,
honours them. Only a 4xx other than 429 is the route's own answer, raised at once.

Validators belong to the instance that gave them: an ETag is only sent back to it. The
feed's own state holds those of the instance that served its last poll (so a re-poll of
an unchanged feed costs what a `url:` feed's does); the others' are looked up only when
the poll goes elsewhere.

>>> pool = InstancePool(store)
>>> answer, parsed = await fetch_route(source, state, fetcher, pool, store, now, accept=FEED_ACCEPT, parse=parse)
>>> answer.instance, answer.result.status   # parsed: None for a 304
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from crawler.errors import ConnectError, FetchError, FetchTimeout, HTTPStatusError, NoInstance, ParseError, RateLimited
from crawler.fetch import Fetcher
from crawler.models import FeedAnswer, FeedSource, FeedState, FetchResult, ParsedFeed
from crawler.store import StateStore

log = logging.getLogger(__name__)

DEFAULT_REST = timedelta(minutes=5)
MAX_REST = timedelta(days=1)
RESTING_STATUSES = frozenset({429, 503})


class InstancePool:
    """Which RSSHub instances rest until when: read from the store on first use, written to it
    at each new rest; one per process, shared by every route feed."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._rests: dict[str, datetime] | None = None

    async def ready(self, instances: Sequence[str], now: datetime) -> tuple[list[str], tuple[str, datetime] | None]:
        """The instances not resting at `now`, in order; and the one resting that is back soonest."""
        if self._rests is None:
            self._rests = await self._store.instance_rests()
        rests = self._rests
        ready = [i for i in instances if rests.get(i) is None or rests[i] <= now]
        resting = sorted((rests[i], i) for i in instances if i not in ready)
        return ready, (resting[0][1], resting[0][0]) if resting else None

    async def rest(self, instance: str, retry_after: float | None, now: datetime) -> datetime:
        """`instance` said 429 or 503: rest it for `retry_after` seconds (if a sensible number)."""
        seconds = retry_after if retry_after is not None and retry_after > 0 else DEFAULT_REST.total_seconds()
        until = now + min(timedelta(seconds=min(seconds, MAX_REST.total_seconds())), MAX_REST)
        if self._rests is None:
            self._rests = await self._store.instance_rests()
        self._rests[instance] = until
        await self._store.rest_instance(instance, until)
        log.warning("rsshub instance %s rests until %s", instance, until.isoformat(timespec="seconds"))
        return until


async def fetch_route(
    source: FeedSource,
    state: FeedState,
    fetcher: Fetcher,
    pool: InstancePool,
    store: StateStore,
    now: datetime,
    *,
    accept: str,
    parse: Callable[[FetchResult], Awaitable[ParsedFeed]],
) -> tuple[FeedAnswer, ParsedFeed | None]:
    """GET `source.route` from the first instance that serves it a feed (`parse` reads it; a 304
    needs no reading: None); raises `NoInstance` when none did (or a `FetchError` that is the
    route's own, like a 404, at once)."""
    assert source.route is not None
    ready, soonest = await pool.ready(source.instances, now)
    failures: list[FetchError | ParseError] = []
    no_feed: list[str] = []  # instances that answered with something other than a feed
    for index, instance in enumerate(ready):
        url = instance + source.route
        if instance == state.instance:
            etag, last_modified = state.etag, state.last_modified
        else:
            etag, last_modified = await store.instance_validators(source.name, instance)
        last = index == len(ready) - 1
        try:
            result, _ = await fetcher.get(
                url, etag=etag, last_modified=last_modified, headers=source.headers, accept=accept,
                retries=None if last else 0,  # another instance beats a retry of this one
            )
            parsed = None if result.not_modified else await parse(result)
        except (HTTPStatusError, FetchTimeout, ConnectError) as exc:
            status = exc.status if isinstance(exc, HTTPStatusError) else None
            if status is not None and status != 429 and status < 500:
                raise  # the route's fault, not the instance's
            if status in RESTING_STATUSES:
                back = await pool.rest(instance, exc.retry_after if isinstance(exc, RateLimited) else None, now)
                if soonest is None or back < soonest[1]:
                    soonest = (instance, back)
            failures.append(exc)
        except (FetchError, ParseError) as exc:  # a redirect loop, a body too large, not a feed
            no_feed.append(instance)
            failures.append(exc)
        else:
            for odd in no_feed:  # another instance gave a feed: the odd answer was the instance's fault
                await pool.rest(odd, None, now)
            return FeedAnswer(instance, result, etag, last_modified), parsed
        if not last:
            log.info("feed=%s rsshub instance %s failed (%s); trying the next", source.name, instance,
                     failures[-1].message)
    raise _none_served(source, ready, failures, soonest, now)


def _none_served(
    source: FeedSource,
    asked: Sequence[str],
    failures: Sequence[FetchError | ParseError],
    soonest: tuple[str, datetime] | None,
    now: datetime,
) -> NoInstance:
    resting = soonest is not None and len(failures) == len(asked) and all(
        isinstance(f, HTTPStatusError) and f.status in RESTING_STATUSES for f in failures
    )
    back = ""
    retry_after = None
    if soonest is not None:
        back = f"; the soonest back is {soonest[0]} at {soonest[1].isoformat(timespec='seconds')}"
        if resting or not asked:
            retry_after = max(0.0, (soonest[1] - now).total_seconds())
    if not asked:
        message = f"every RSSHub instance is resting{back}"
    else:
        tried = "; ".join(f"{i}: {f.message}" for i, f in zip(asked, failures, strict=True))
        message = f"no RSSHub instance served {source.route} ({tried}){back}"
    status = getattr(failures[-1], "status", None) if failures else None
    connection_level = bool(failures) and all(isinstance(f, FetchError) and f.connection_level for f in failures)
    return NoInstance(source.url, message, status=status, connection_level=connection_level, retry_after=retry_after,
                      resting=not asked)
