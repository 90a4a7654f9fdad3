"""The daemon's Prometheus series, fed by the crawl's `Observer` calls.

Label sets stay small at 10,000 feeds: outcomes, results, request kinds and
status classes are fixed lists, and only two series are per feed (the last
successful poll's time and the consecutive failures), which is what an alert on
one feed needs. Every label value is created at start, so that `rate()` and
`increase()` see a zero before the first event instead of nothing.

Updates come from the event loop, scrapes from the endpoint's thread:
prometheus-client's values take their own locks.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from crawler.models import FeedReport, FeedState, ImageAsset, feed_state_label
from crawler.observe import Observer, RequestKind

POLL_OUTCOMES = ("ok", "not_modified", "failed")
ENTRY_RESULTS = ("archived", "updated", "failed")
REQUEST_KINDS: tuple[RequestKind, ...] = ("feed", "page", "image", "robots")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx", "error")
FEED_STATES = ("new", "ok", "failing", "dead")
# A 304 takes milliseconds; a poll that downloads a page and images per entry can take minutes.
POLL_SECONDS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


def status_class(status: int | None) -> str:
    """`2xx` … `5xx` for an answer, `error` for none (refused, reset, timed out, blocked)."""
    if status is None or not 100 <= status < 600:
        return "error"
    return f"{status // 100}xx" if status >= 200 else "error"


class Metrics(Observer):
    """The crawl's events as Prometheus series, in a registry of their own.

    >>> metrics = Metrics()
    >>> async with open_deps(settings, observer=metrics) as deps: ...
    >>> prometheus_client.generate_latest(metrics.registry)
    """

    def __init__(self) -> None:
        # No `_created` series beside each counter: they would double what is scraped, and
        # Prometheus reads a counter's resets without them. (A process-wide switch: the daemon's.)
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry = CollectorRegistry()
        self._polls = Counter("feed_archiver_polls", "Polls of feeds, by outcome.", ["outcome"], registry=registry)
        self._entries = Counter(
            "feed_archiver_entries", "Entries handled by polls, by result.", ["result"], registry=registry
        )
        self._images = Counter("feed_archiver_images", "Images downloaded and stored.", registry=registry)
        self._image_bytes = Counter(
            "feed_archiver_image_bytes", "Bytes of the images downloaded and stored.", registry=registry
        )
        self._requests = Counter(
            "feed_archiver_http_requests", "HTTP requests sent (each redirect hop and retry counts), by kind "
            "and status class (error: no answer).", ["kind", "status_class"], registry=registry,
        )
        self._poll_seconds = Histogram(
            "feed_archiver_poll_duration_seconds", "How long one poll of one feed took, entries and images included.",
            buckets=POLL_SECONDS_BUCKETS, registry=registry,
        )
        self._feeds = Gauge("feed_archiver_feeds", "Feeds polled, by state.", ["state"], registry=registry)
        self._last_success = Gauge(
            "feed_archiver_feed_last_success_timestamp_seconds",
            "When the feed was last polled successfully (Unix time; absent until it has been).", ["feed"],
            registry=registry,
        )
        self._failures = Gauge(
            "feed_archiver_feed_consecutive_failures", "Polls of the feed that failed in a row.", ["feed"],
            registry=registry,
        )
        for outcome in POLL_OUTCOMES:
            self._polls.labels(outcome)
        for result in ENTRY_RESULTS:
            self._entries.labels(result)
        for kind in REQUEST_KINDS:
            for cls in STATUS_CLASSES:
                self._requests.labels(kind, cls)
        for state in FEED_STATES:
            self._feeds.labels(state)
        self._feed_states: dict[str, str] = {}

    def request_done(self, kind: RequestKind, status: int | None) -> None:
        self._requests.labels(kind, status_class(status)).inc()

    def image_stored(self, asset: ImageAsset) -> None:
        self._images.inc()
        self._image_bytes.inc(asset.size)

    def poll_done(self, report: FeedReport) -> None:
        self._polls.labels(report.status).inc()
        self._poll_seconds.observe(report.seconds)
        if report.archived:
            self._entries.labels("archived").inc(report.archived)
        if report.updated:
            self._entries.labels("updated").inc(report.updated)
        if report.failed:
            self._entries.labels("failed").inc(report.failed)
        if report.state is None or report.state.name not in self._feed_states:
            return  # a feed that a reload removed while it was polled: no series for it again
        name = report.state.name
        self._failures.labels(name).set(report.state.consecutive_failures)
        if report.status != "failed":
            last_poll = report.state.last_poll
            self._last_success.labels(name).set(last_poll.timestamp() if last_poll else time.time())
        self._move(name, feed_state_label(report.state))

    def feeds_known(self, names: Sequence[str], states: Mapping[str, FeedState]) -> None:
        for gone in self._feed_states.keys() - set(names):
            del self._feed_states[gone]
            for gauge in (self._failures, self._last_success):
                with contextlib.suppress(KeyError):  # never had a value
                    gauge.remove(gone)
        for name in names:
            state = states.get(name)
            self._feed_states[name] = feed_state_label(state)
            self._failures.labels(name).set(state.consecutive_failures if state else 0)
            if state is not None and state.last_poll is not None and not state.consecutive_failures:
                self._last_success.labels(name).set(state.last_poll.timestamp())
        counts = dict.fromkeys(FEED_STATES, 0)
        for label in self._feed_states.values():
            counts[label] += 1
        for label, count in counts.items():
            self._feeds.labels(label).set(count)

    def _move(self, name: str, label: str) -> None:
        old = self._feed_states[name]
        if old != label:
            self._feed_states[name] = label
            self._feeds.labels(old).dec()
            self._feeds.labels(label).inc()
