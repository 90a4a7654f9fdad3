"""The daemon's Prometheus series, fed by the crawl's `Observer` calls.

Label sets stay small at 10,000 feeds: outcomes, results, request kinds and
status classes are fixed lists, and only two series are per feed (the last
successful poll's time and the consecutive failures), which is what an alert on
one feed needs. Every label value is created at start, so that `rate()` and
`increase()` see a zero before the first event instead of nothing.

Updates come from the event loop, scrapes from the endpoint's thread:
prometheus-client's values take their own locks; the per-feed series are arrays
of their own (`_PerFeed`), so that 100,000 feeds cost a few MB, not 150.
"""

from __future__ import annotations

import time
from array import array
from collections.abc import Iterator, Mapping, Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Metric, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

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
        self._per_feed = _PerFeed()
        registry.register(self._per_feed)
        for outcome in POLL_OUTCOMES:
            self._polls.labels(outcome)
        for result in ENTRY_RESULTS:
            self._entries.labels(result)
        for kind in REQUEST_KINDS:
            for cls in STATUS_CLASSES:
                self._requests.labels(kind, cls)
        for state in FEED_STATES:
            self._feeds.labels(state)

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
        if report.state is None or report.state.name not in self._per_feed:
            return  # a feed that a reload removed while it was polled: no series for it again
        state = report.state
        success = None
        if report.status != "failed":
            success = state.last_poll.timestamp() if state.last_poll else time.time()
        old, label = self._per_feed.update(state.name, state.consecutive_failures, success, feed_state_label(state))
        if old != label:
            self._feeds.labels(old).dec()
            self._feeds.labels(label).inc()

    def feeds_known(self, names: Sequence[str], states: Mapping[str, FeedState]) -> None:
        per_feed = self._per_feed
        per_feed.keep_only(names)
        for name in names:
            if name not in per_feed:  # one known already keeps what its polls said
                state = states.get(name)
                success = None
                if state is not None and state.last_poll is not None and not state.consecutive_failures:
                    success = state.last_poll.timestamp()
                per_feed.add(name, state.consecutive_failures if state else 0, success, feed_state_label(state))
        for label, count in per_feed.count_states().items():
            self._feeds.labels(label).set(count)


class _PerFeed(Collector):
    """The two per-feed series, and each feed's state, in arrays: 100,000 feeds as gauge children
    took 150 MB and 9 s to set up; here they take a slot each in three arrays and a dict entry.

    Written from the event loop, read by scrapes on the endpoint's thread: a scrape copies the
    index first (one C call under the GIL), and a slot is only reused after a reload."""

    def __init__(self) -> None:
        self._slot: dict[str, int] = {}
        self._failures = array("q")
        self._success = array("d")  # NaN: never polled successfully (no sample)
        self._state = bytearray()  # index into FEED_STATES
        self._free: list[int] = []

    def __contains__(self, name: object) -> bool:
        return name in self._slot

    def add(self, name: str, failures: int, success: float | None, label: str) -> None:
        slot = self._free.pop() if self._free else len(self._failures)
        if slot == len(self._failures):
            self._failures.append(0)
            self._success.append(_NAN)
            self._state.append(0)
        self._failures[slot] = failures
        self._success[slot] = _NAN if success is None else success
        self._state[slot] = _STATE_CODE[label]
        self._slot[name] = slot

    def update(self, name: str, failures: int, success: float | None, label: str) -> tuple[str, str]:
        """(old state, new state) of a known feed after a poll."""
        slot = self._slot[name]
        self._failures[slot] = failures
        if success is not None:
            self._success[slot] = success
        old = FEED_STATES[self._state[slot]]
        self._state[slot] = _STATE_CODE[label]
        return old, label

    def keep_only(self, names: Sequence[str]) -> None:
        keep = set(names)
        for gone in [name for name in self._slot if name not in keep]:
            self._free.append(self._slot.pop(gone))

    def count_states(self) -> dict[str, int]:
        counts = dict.fromkeys(FEED_STATES, 0)
        for slot in self._slot.values():
            counts[FEED_STATES[self._state[slot]]] += 1
        return counts

    def collect(self) -> Iterator[Metric]:
        slots = list(self._slot.items())
        success = GaugeMetricFamily(
            "feed_archiver_feed_last_success_timestamp_seconds",
            "When the feed was last polled successfully (Unix time; absent until it has been).", labels=["feed"],
        )
        failures = GaugeMetricFamily(
            "feed_archiver_feed_consecutive_failures", "Polls of the feed that failed in a row.", labels=["feed"],
        )
        for name, slot in slots:
            when = self._success[slot]
            if when == when:  # not NaN
                success.add_metric([name], when)
            failures.add_metric([name], self._failures[slot])
        yield success
        yield failures


_NAN = float("nan")
_STATE_CODE = {label: code for code, label in enumerate(FEED_STATES)}
