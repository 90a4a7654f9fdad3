"""When a feed is due next, from its schedule and how its last poll went. Pure: `now` is an argument."""

from __future__ import annotations

import functools
from dataclasses import replace
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING

from crawler.models import FeedReport, FeedSource, FeedState

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

MAX_BACKOFF = timedelta(hours=6)
DEAD_AFTER_FAILURES = 10
DEAD_AFTER_SPAN = timedelta(hours=24)
DEAD_POLL_INTERVAL = timedelta(days=1)
# What a server or feed says about time (RSS <ttl>, Cache-Control max-age, Retry-After) is a
# hint from a stranger: a week at most, and never a number too large for a timedelta.
MAX_HINT = timedelta(days=7)


def _hint(seconds: float) -> timedelta:
    return MAX_HINT if not seconds < MAX_HINT.total_seconds() else timedelta(seconds=max(seconds, 0.0))


@functools.lru_cache(maxsize=256)
def _cron(expression: str, zone: tzinfo | None) -> CronTrigger:
    """A crontab's trigger, made once (0.1 ms each): a daemon asks for the next fire time of every
    cron feed handed to the pool, and many feeds share an expression."""
    from apscheduler.triggers.cron import CronTrigger

    return CronTrigger.from_crontab(expression, timezone=zone)


def jitter_limit(source: FeedSource) -> float:
    """At most a tenth of the interval and at most a minute, so feeds sharing a schedule spread out."""
    return min(source.interval / 10, 60.0)


def regular_due(source: FeedSource, now: datetime, report: FeedReport | None = None) -> datetime:
    """The next poll after a success: the interval or cron time, no sooner than the server asked
    (RSS <ttl>, Cache-Control max-age, Retry-After)."""
    if source.cron:
        fire: datetime | None = _cron(source.cron, now.tzinfo).get_next_fire_time(None, now)
        due = fire if fire is not None else now + timedelta(seconds=source.interval)
    else:
        due = now + timedelta(seconds=source.interval)
    if report is not None:
        for hint in (report.ttl_seconds, report.retry_after):
            if hint is not None:
                due = max(due, now + _hint(hint))
    return due


def next_state(source: FeedSource, state: FeedState, report: FeedReport, now: datetime) -> FeedState:
    """The feed's state after a poll described by `report`."""
    if report.outage or report.resting:
        # Our network was down, or every RSSHub instance rests (charged once already, by the poll
        # that was told to wait): not the feed's failure. Nothing is charged, nothing backs off
        # or dies; it is polled again at its interval, or once an instance is back.
        due = now + DEAD_POLL_INTERVAL if state.dead else regular_due(source, now, report)
        return replace(state, last_poll=now, last_status=None, last_error=report.error, next_due=due)
    if report.status != "failed":
        return replace(
            state,
            last_poll=now,
            last_status=report.http_status,
            last_error=None,
            consecutive_failures=0,
            first_failure=None,
            dead=False,
            next_due=regular_due(source, now, report),
        )
    failures = state.consecutive_failures + 1
    first_failure = state.first_failure or now
    dead = report.http_status == 410 or (
        failures >= DEAD_AFTER_FAILURES and now - first_failure >= DEAD_AFTER_SPAN
    )
    if dead:
        # Still polled once a day: feeds do come back, and then it revives by itself.
        delay = DEAD_POLL_INTERVAL
    else:
        # In seconds, capped before a timedelta is made: interval * 2**failures may not fit one.
        delay = timedelta(seconds=min(source.interval * 2.0 ** min(failures - 1, 64), MAX_BACKOFF.total_seconds()))
        if report.retry_after is not None:
            delay = max(delay, _hint(report.retry_after))
    return replace(
        state,
        last_poll=now,
        last_status=report.http_status,
        last_error=report.error,
        consecutive_failures=failures,
        first_failure=first_failure,
        dead=dead,
        next_due=now + delay,
    )
