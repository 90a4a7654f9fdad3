from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crawler.config.settings import FeedSource
from crawler.models import FeedReport, FeedState
from crawler.reader.content import better_of, looks_truncated, wants_full_text
from crawler.runtime.schedule import next_state

NOW = datetime(2024, 1, 1, tzinfo=UTC)
SOURCE = FeedSource(name="f", url="http://x/", interval=600)


def failed(status: int | None = 500, retry_after: float | None = None) -> FeedReport:
    return FeedReport("f", "http://x/", status="failed", http_status=status, error="boom", retry_after=retry_after)


def test_failures_back_off_exponentially_up_to_six_hours() -> None:
    state = FeedState("f")
    delays = []
    for _ in range(8):
        state = next_state(SOURCE, state, failed(), NOW)
        delays.append(state.next_due - NOW)
    assert delays[:4] == [timedelta(minutes=10), timedelta(minutes=20), timedelta(minutes=40), timedelta(minutes=80)]
    assert max(delays) == timedelta(hours=6)
    recovered = next_state(SOURCE, state, FeedReport("f", "http://x/", http_status=200), NOW)
    assert recovered.consecutive_failures == 0 and recovered.next_due == NOW + timedelta(minutes=10)


def test_retry_after_and_ttl_are_lower_bounds() -> None:
    assert next_state(SOURCE, FeedState("f"), failed(429, 3600), NOW).next_due == NOW + timedelta(hours=1)
    ok = FeedReport("f", "http://x/", http_status=200, ttl_seconds=7200)
    assert next_state(SOURCE, FeedState("f"), ok, NOW).next_due == NOW + timedelta(hours=2)


def test_410_or_long_failure_marks_dead_but_still_polled_daily() -> None:
    assert next_state(SOURCE, FeedState("f"), failed(410), NOW).dead
    state = FeedState("f", consecutive_failures=9, first_failure=NOW - timedelta(hours=25))
    dead = next_state(SOURCE, state, failed(), NOW)
    assert dead.dead and dead.next_due == NOW + timedelta(days=1)
    young = FeedState("f", consecutive_failures=9, first_failure=NOW - timedelta(hours=2))
    assert not next_state(SOURCE, young, failed(), NOW).dead


@pytest.mark.parametrize(
    ("html", "mode", "expected"),
    [
        ("<p>short</p>", "auto", True),
        ("<p>" + "long text " * 100 + "</p>", "auto", False),
        ("<p>" + "long text " * 100 + "… Read more</p>", "auto", True),
        ("<p>" + "长文本" * 300 + "阅读全文</p>", "auto", True),
        ("<p>short</p>", "never", False),
        ("<p>" + "long text " * 100 + "</p>", "always", True),
    ],
)
def test_wants_full_text(html: str, mode: str, expected: bool) -> None:
    assert wants_full_text(html, "http://x/a", mode, 500) is expected  # type: ignore[arg-type]


def test_looks_truncated_and_better_of() -> None:
    assert looks_truncated("and then...") and not looks_truncated("The end.")
    assert better_of("<p>a</p>", "<p>a b c</p>") == "<p>a b c</p>"
    assert better_of("<p>a b c</p>", "<p>a</p>") is None
    assert better_of("<p>a</p>", None) is None


def test_cron_feeds_are_due_at_their_next_cron_time() -> None:
    cron = FeedSource(name="c", url="http://x/", cron="0 * * * *")
    ok = FeedReport("c", "http://x/", http_status=200)
    assert next_state(cron, FeedState("c"), ok, NOW.replace(minute=10)).next_due == NOW.replace(hour=1)
