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
from typing import TYPE_CHECKING, Literal, Protocol

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


class Exchange:
    """One HTTP request and its answer as they went over the wire, for `Capture` (the WARC files).

    `body` is what arrived, Content-Encoding kept (transfer coding and HTTP/2 framing removed);
    `truncated` says why it is not all there ("length": over a cap or left unread, "disconnect",
    "time"), None when it is. `date` is when the request was sent (seconds since the epoch).
    A plain class: a dataclass would cost the re-poll its import-time work for nothing.
    """

    __slots__ = ("body", "date", "headers", "http_version", "kind", "peer", "reason", "request_headers",
                 "status", "target", "truncated", "url")

    def __init__(
        self, url: str, kind: RequestKind, date: float, target: bytes, request_headers: Sequence[tuple[bytes, bytes]],
        http_version: bytes, status: int, reason: bytes, headers: Sequence[tuple[bytes, bytes]], body: bytes,
        truncated: str | None = None, peer: str | None = None,
    ) -> None:
        self.url = url
        self.kind = kind
        self.date = date
        self.target = target  # the request-target: path and query
        self.request_headers = request_headers  # as sent, Host first
        self.http_version = http_version  # b"HTTP/1.1", b"HTTP/2"...
        self.status = status
        self.reason = reason  # empty over HTTP/2
        self.headers = headers  # the response's, as received
        self.body = body
        self.truncated = truncated
        self.peer = peer  # the server's IP address


class Capture(Protocol):
    """Where the fetcher hands every exchange it makes, when capture is on (`crawler.capture`).
    Defined here, low, so that `fetch` calls it without importing the layer that writes it.
    Each method raises `crawler.errors.ArchiveError` when the record could not be written."""

    async def exchange(self, exchange: Exchange) -> None:
        """Record one request and its answer."""
        ...

    async def metadata(self, url: str, fields: Sequence[tuple[str, str]]) -> None:
        """Record what was made of the capture of `url` (an archived entry: its feed, id, file)."""
        ...

    async def aclose(self) -> None:
        """Finish the open file (renamed to its final name)."""
        ...


class CaptureOpener(Protocol):
    """A capture's settings, picklable, from which each process (the image workers too) opens its own."""

    def open(self) -> Capture: ...
