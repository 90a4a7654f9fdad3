"""The one hook through which the crawl tells the world what it did.

The fetcher reports every HTTP request it sends (and the image workers report
theirs through the parent, which hears their answers), the pipeline reports
every finished poll, the daemon says which feeds it schedules. `Observer`
itself hears and does nothing: that is the one-off crawl's. The daemon with
`metrics:` passes `crawler.ops.metrics.Metrics`, which turns the same calls into
Prometheus series. Nothing here imports anything heavy, so every stage may
depend on it.

>>> observer = Observer()
>>> observer.request_done("feed", 304)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from crawler.models import FeedReport, FeedState, ImageAsset

RequestKind = Literal["feed", "page", "image", "robots"]


class Observer:
    """Hears each event of a crawl; every method must be cheap and must not raise."""

    def request_done(self, kind: RequestKind, status: int | None) -> None:
        """One HTTP request was answered with `status`, or got no answer at all (None):
        each redirect hop and each retry is a request of its own."""

    def image_stored(self, asset: ImageAsset) -> None:
        """An image was downloaded and is in the image folder."""

    def poll_done(self, report: FeedReport) -> None:
        """A poll ended (whatever its outcome); `report.state` is the feed's state as saved."""

    def feeds_known(self, names: Sequence[str], states: Mapping[str, FeedState]) -> None:
        """These are the feeds being polled (at start and after a reload), with their stored state."""
