"""The errors feed-archiver raises, one tree rooted at `CrawlerError`.

    CrawlerError
    ├── ConfigError          a user mistake in the YAML config (file, line, key)
    ├── FetchError           anything that kept a URL from being downloaded
    │   ├── FetchTimeout     connect or read time limit
    │   │   ├── TotalTimeout the whole request took longer than `total_timeout`
    │   │   └── ConnectTimeout  no connection within `timeout`        (connection level)
    │   ├── ConnectError     reset mid-answer, TLS, a broken protocol
    │   │   └── Unreachable  DNS, refused, no route: no connection made (connection level)
    │   ├── HTTPStatusError  a final non-2xx/304 answer
    │   │   └── RateLimited  429/503 with a Retry-After we do not wait for
    │   ├── TooLarge         the body (after decompression) passed `max_body`
    │   ├── RedirectError    a loop, too many hops, or a non-HTTP target
    │   ├── MalformedURL     a URL that cannot be parsed (`http://[::1`, port 99999, bad IDNA)
    │   ├── Blocked          a URL from a feed that points at a private address
    │   ├── NoInstance       every RSSHub instance of a route failed or is resting
    │   └── BadContent       a body that is not what was asked for (HTML as an image)
    ├── ParseError           a feed that cannot be read
    ├── ExtractError         full-text extraction failed
    ├── ArchiveError         an entry could not be written inside the archive
    └── StateError           the state store failed

The two "connection level" errors (`connection_level` is True) are what our own network
being down looks like; `outage` tells that apart from a host's failure.

Every error carries the URL, feed or path it is about, so that a log line or
a status row can say what went wrong where without a traceback.
"""

from __future__ import annotations


class CrawlerError(Exception):
    """Base of every error feed-archiver raises on purpose."""


class ConfigError(CrawlerError):
    """A config mistake, rendered as one `PATH:LINE: KEY: what is wrong` line."""

    def __init__(self, path: str, line: int | None, key: str, message: str) -> None:
        self.path = path
        self.line = line
        self.key = key
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class FetchError(CrawlerError):
    """A URL could not be downloaded."""

    connection_level = False  # no connection could be made at all (see `outage`)

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        self.message = message
        super().__init__(f"{message} ({url})")


class FetchTimeout(FetchError):
    """A connect, read or total time limit ran out."""


class TotalTimeout(FetchTimeout):
    """The whole request, body included, took longer than `total_timeout`: not retried."""


class ConnectTimeout(FetchTimeout):
    """No connection was made within the time limit."""

    connection_level = True


class ConnectError(FetchError):
    """The connection was broken, or TLS or the protocol failed on it."""


class Unreachable(ConnectError):
    """No connection could be made: the name did not resolve, or was refused or unroutable."""

    connection_level = True


class HTTPStatusError(FetchError):
    """The server's final answer was not a success."""

    def __init__(self, url: str, status: int, message: str | None = None) -> None:
        self.status = status
        super().__init__(url, message or f"HTTP {status}")


class RateLimited(HTTPStatusError):
    """429 or 503 with a Retry-After: come back after `retry_after` seconds."""

    def __init__(self, url: str, status: int, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(url, status, f"HTTP {status}, retry after {retry_after:.0f}s")


class TooLarge(FetchError):
    """The body passed the configured size cap."""


class RedirectError(FetchError):
    """A redirect loop, too many hops, or a redirect to a non-HTTP scheme."""


class MalformedURL(FetchError):
    """A URL (from a feed, a page or a redirect) that cannot be parsed, so never requested."""


class Blocked(FetchError):
    """A page or image URL from a feed resolves to a loopback, private or link-local address."""


class NoInstance(FetchError):
    """No RSSHub instance could serve a route this time: each failed, or rests after a 429/503.

    `connection_level` when every instance asked failed at connection level (see `outage`);
    `retry_after` (seconds) when every instance is resting: until the soonest is back.
    """

    def __init__(
        self, url: str, message: str, *, status: int | None = None, connection_level: bool = False,
        retry_after: float | None = None, resting: bool = False,
    ) -> None:
        self.status = status
        self.resting = resting  # none was asked: each rests after a 429/503 of an earlier poll
        self.connection_level = connection_level
        self.retry_after = retry_after
        super().__init__(url, message)


class BadContent(FetchError):
    """The body is not of the kind that was asked for."""


class ParseError(CrawlerError):
    """A feed that cannot be read."""

    def __init__(self, url: str, message: str) -> None:
        self.url = url
        self.message = message
        super().__init__(f"{message} ({url})")

    def __reduce__(self) -> tuple[type[ParseError], tuple[str, str]]:
        # Raised in a worker process, it comes back pickled: rebuilt from its own arguments.
        return type(self), (self.url, self.message)


class ExtractError(CrawlerError):
    """Full-text extraction of an article page failed."""


class ArchiveError(CrawlerError):
    """An entry could not be written inside the archive."""


class StateError(CrawlerError):
    """The state store failed."""
