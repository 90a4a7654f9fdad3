"""The daemon's one scheduler job: a wake that re-arms it while its own instance still counts as
running must not lose the feeds due then (APScheduler skips such a run and waits a whole interval)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from crawler.daemon import Schedule
from crawler.models import FeedSource


async def test_a_feed_made_due_while_a_wake_runs_is_handed_over_at_once() -> None:
    sources = {name: FeedSource(name=name, url=f"https://{name}.example/feed", interval=3600)
               for name in ("first", "second")}
    handed: list[str] = []
    second_handed = asyncio.Event()
    schedule: Schedule

    def submit(name: str) -> None:
        handed.append(name)
        if name == "first":  # a poll finishing during the wake sets another feed due now
            schedule.set("second", datetime.now(UTC))
        else:
            second_handed.set()

    schedule = Schedule(submit, sources.get)
    schedule.start([(datetime.now(UTC).timestamp(), "first")])
    try:
        await asyncio.wait_for(second_handed.wait(), timeout=5)  # not the job's 60 s interval
    finally:
        schedule.shutdown()
    assert handed == ["first", "second"]
