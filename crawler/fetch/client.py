"""HTTP downloads over httpx transports, one connection pool per host (`Clients`).

This module is the only place that catches `httpx` errors: each is translated
into the `crawler.errors.FetchError` branch with the URL it was about. It adds
what a polite, robust crawler needs on top of httpx: global and per-host
concurrency limits, a cap on the decompressed body, a whole-request time limit,
redirects followed by hand (HTTP and HTTPS targets only, loops refused),
conditional GET, and retries with backoff for failures that are worth retrying.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import logging
import ssl
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpcore
import httpx

from crawler.errors import (
    BadContent,
    Blocked,
    ConnectError,
    ConnectTimeout,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    MalformedURL,
    RateLimited,
    RedirectError,
    TooLarge,
    TotalTimeout,
    Unreachable,
)
from crawler.fetch.guard import BlockedAddress, GuardedBackend, is_private_host
from crawler.fetch.netio import AsyncioBackend, HttpcorePool, HttpxPool, Pool, Tap
from crawler.fetch.outage import NetworkHealth
from crawler.fetch.slots import Priority, PrioritySemaphore
from crawler.fetch.urls import absolute, shown
from crawler.models import FetchResult, HttpSettings
from crawler.observe import Capture, Exchange, Observer, RequestKind

log = logging.getLogger(__name__)

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_MAX_RETRY_SLEEP = 10.0


_PRIORITIES: dict[RequestKind, Priority] = {
    "page": Priority.PAGE, "robots": Priority.PAGE, "feed": Priority.FEED, "image": Priority.IMAGE,
}

MAX_IDLE_CLIENTS = 256
# What httpx decodes with the packages we install (brotli comes with httpx[brotli]).
ACCEPT_ENCODING = "gzip, deflate, br"


class Clients:
    """One connection pool (`netio.Pool`) per host and guard setting, sharing one TLS context.

    httpcore's pool does work in proportion to its connections times its waiting requests on
    every request; many small pools cost a fraction of one large one (measured: the single
    pool took a quarter of a crawl's CPU). Requests go straight to the pool: httpx's client
    layer (cookie jar, auth, redirect machinery) cost a tenth of each request's CPU and its
    request object another tenth of an image's, and a news archiver needs none of them
    (redirects are followed by `Fetcher`, no cookie is kept). Idle pools beyond
    `MAX_IDLE_CLIENTS` are closed.

    >>> async with Clients(settings.http) as clients:
    ...     fetcher = Fetcher(clients, settings.http)
    """

    def __init__(self, http: HttpSettings) -> None:
        self._http = http
        self._ssl: ssl.SSLContext | None = None
        self._no_tls: ssl.SSLContext | None = None
        self._pools: OrderedDict[tuple[str, bool], Pool] = OrderedDict()
        self._busy: dict[tuple[str, bool], int] = {}

    async def __aenter__(self) -> Clients:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @asynccontextmanager
    async def use(self, url: str, guarded: bool) -> AsyncIterator[Pool]:
        parts = urlsplit(url)
        key = (f"{parts.scheme}://{parts.hostname}:{parts.port}", guarded)
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = self._create(parts.scheme, guarded)
            await self._evict_idle()
        self._pools.move_to_end(key)
        self._busy[key] = self._busy.get(key, 0) + 1
        try:
            yield pool
        finally:
            self._busy[key] -= 1
            if not self._busy[key]:
                del self._busy[key]

    def _create(self, scheme: str, guarded: bool) -> Pool:
        http = self._http
        limits = httpx.Limits(
            max_connections=http.per_host, max_keepalive_connections=http.per_host, keepalive_expiry=30.0
        )
        tls = self._tls(scheme)
        if http.proxy is not None:  # which connects for us: no guard is possible through it
            return HttpxPool(httpx.AsyncHTTPTransport(
                verify=tls, http2=http.http2, limits=limits, proxy=http.proxy, trust_env=False
            ))
        # httpcore's pool on asyncio's streams (`netio`): anyio's streams cost a fifth of an image's CPU.
        backend = AsyncioBackend()
        return HttpcorePool(limits, http.http2, tls, GuardedBackend(backend) if guarded else backend)

    def _tls(self, scheme: str) -> ssl.SSLContext:
        """The shared verifying TLS context, made when first needed: loading the CA bundle costs
        40 ms, which a crawl of plain-HTTP hosts need not pay. Their pools get a context that
        verifies against no CA at all: never used (no TLS without https or a proxy), and
        refusing every certificate if it ever were."""
        if scheme == "https" or self._http.proxy is not None:
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            return self._ssl
        if self._no_tls is None:  # one for all: a context per plain-HTTP host would cost 0.3 ms each
            self._no_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        return self._no_tls

    async def _evict_idle(self) -> None:
        idle = [key for key in self._pools if key not in self._busy]
        for key in idle[: max(0, len(self._pools) - MAX_IDLE_CLIENTS)]:
            await self._pools.pop(key).aclose()

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), OrderedDict()
        for pool in pools:
            await pool.aclose()


@contextmanager
def translate_httpx_errors(url: str) -> Iterator[None]:
    """Re-raise httpx's errors as ours, naming the URL."""
    try:
        yield
    except BlockedAddress as exc:
        raise Blocked(url, str(exc)) from None
    except (httpx.ConnectTimeout, httpcore.ConnectTimeout) as exc:
        raise ConnectTimeout(url, f"timed out connecting ({type(exc).__name__})") from exc
    except (httpx.TimeoutException, httpcore.TimeoutException) as exc:
        raise FetchTimeout(url, f"timed out ({type(exc).__name__})") from exc
    except (httpx.ConnectError, httpcore.ConnectError) as exc:
        if _tls_failure(exc):  # the host answered; its certificate or handshake is what failed
            raise ConnectError(url, f"connection failed (TLS): {exc or type(exc).__name__}") from exc
        raise Unreachable(url, f"connection failed: {exc or type(exc).__name__}") from exc
    except (httpx.NetworkError, httpx.RemoteProtocolError, httpx.ProxyError,
            httpcore.NetworkError, httpcore.ProtocolError, httpcore.ProxyError) as exc:
        raise ConnectError(url, f"connection failed: {exc or type(exc).__name__}") from exc
    except httpx.DecodingError as exc:
        raise BadContent(url, f"undecodable body: {exc}") from exc
    except (httpx.UnsupportedProtocol, httpcore.UnsupportedProtocol) as exc:
        raise RedirectError(url, f"unsupported URL scheme: {exc}") from exc
    except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError, httpcore.ConnectionNotAvailable) as exc:
        raise FetchError(url, f"{type(exc).__name__}: {exc}") from exc


def _tls_failure(exc: BaseException) -> bool:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def cache_max_age(headers: Mapping[str, str]) -> float | None:
    """`Cache-Control: max-age=N` in seconds, if the server set one."""
    for directive in headers.get("cache-control", "").split(","):
        name, _, value = directive.strip().partition("=")
        if name.lower() == "max-age" and value.strip().isdigit():
            return float(value.strip())
    return None


@dataclass(frozen=True)
class Body:
    """A body read under the size cap, hashed while it arrived."""

    data: bytes
    sha256: str


@dataclass
class _Answer:
    status: int | None = None  # the server's, once it gave one (the body may still fail after it)
    cut: str | None = None  # why the body was not read to its end (a WARC-Truncated reason)


def _cut_by(exc: BaseException) -> str:
    """The WARC-Truncated reason for a body whose reading ended with `exc`."""
    if isinstance(exc, TooLarge):
        return "length"
    if isinstance(exc, TimeoutError | asyncio.CancelledError | httpx.TimeoutException | httpcore.TimeoutException):
        return "time"
    if isinstance(exc, httpx.TransportError | httpcore.NetworkError | httpcore.ProtocolError):
        return "disconnect"
    return "unspecified"


async def _read_capped(response: httpx.Response, url: str, max_body: int, truncate: bool = False) -> Body:
    """The body, at most `max_body` bytes of it: past that, `TooLarge`, or with `truncate` the
    first `max_body` bytes (robots.txt: the rest is ignored, as RFC 9309 allows)."""
    declared = response.headers.get("content-length")
    over = declared and declared.isdigit() and "content-encoding" not in response.headers and int(declared) > max_body
    if over and not truncate:
        raise TooLarge(url, f"body of {int(declared)} bytes is over the {max_body}-byte cap")
    digest = hashlib.sha256()
    chunks: list[bytes] = []
    size = 0
    # aiter_bytes yields decompressed bytes, so the cap holds against gzip bombs.
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_body:
            if truncate:
                chunk = chunk[: len(chunk) - (size - max_body)]
                digest.update(chunk)
                chunks.append(chunk)
                break
            raise TooLarge(url, f"body is over the {max_body}-byte cap")
        digest.update(chunk)
        chunks.append(chunk)
    return Body(b"".join(chunks), digest.hexdigest())


async def _drain(response: httpx.Response, limit: int = 64 * 1024) -> None:
    """Read a body nobody wants (a 304's, a redirect's) so that the connection goes back to the
    pool: closing a response mid-body closes its connection. A re-poll of unchanged feeds
    otherwise opens a new connection for every feed."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read > limit:  # not worth it; let the connection go
            return


class Fetcher:
    """GETs with limits, retries and conditional requests.

    >>> async with Clients(settings.http) as clients:
    ...     result = await Fetcher(clients, settings.http).get(url, etag=state.etag)
    """

    def __init__(
        self,
        clients: Clients,
        http: HttpSettings,
        *,
        backoff: float = 0.5,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        observer: Observer | None = None,
        health: NetworkHealth | None = None,
        capture: Capture | None = None,
    ) -> None:
        self._clients = clients
        self._capture = capture  # every exchange also goes to the WARC files (`crawler.capture`)
        self._health = health
        self._observer = observer or Observer()
        self._private_hosts: dict[str, bool] = {}
        self._http = http
        self._backoff = backoff
        self._sleep = sleep
        self._default_headers = {"User-Agent": http.user_agent, "Accept": "*/*", "Accept-Encoding": ACCEPT_ENCODING}
        self._extensions = {"timeout": httpx.Timeout(http.timeout, pool=None).as_dict()}
        self._global = PrioritySemaphore(http.concurrency)
        self._hosts: dict[str, PrioritySemaphore] = {}

    async def is_private(self, url: str) -> bool:
        """Whether `url`'s host resolves to a private or local address (cached per host); a
        malformed URL has no address at all and is not private."""
        if absolute(url) is None:
            return False
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host not in self._private_hosts:
            self._private_hosts[host] = await is_private_host(host, parts.port or 80)
        return self._private_hosts[host]

    @asynccontextmanager
    async def slot(self, url: str, priority: Priority) -> AsyncIterator[None]:
        """Hold one of `url`'s per-host request slots and one global slot: around each request,
        and around one that another process (the image worker) makes on this fetcher's behalf."""
        # Host first: a global slot is then only held by a request that is ready to go.
        async with self._host_limit(url).hold(priority), self._global.hold(priority):
            yield

    def _host_limit(self, url: str) -> PrioritySemaphore:
        parts = urlsplit(url)
        key = f"{parts.hostname}:{parts.port}"
        if key not in self._hosts:
            self._hosts[key] = PrioritySemaphore(self._http.per_host)
        return self._hosts[key]

    async def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        headers: Mapping[str, str] | None = None,
        max_body: int | None = None,
        accept: str | None = None,
        guarded: bool = False,
        kind: RequestKind = "feed",
        retries: int | None = None,
        truncate: bool = False,
    ) -> tuple[FetchResult, str]:
        """GET `url`; returns the result and the SHA-256 of its body.

        A 304 comes back as a result with `not_modified`; other non-2xx answers
        raise `HTTPStatusError` (or `RateLimited` when the server said when to
        come back). `guarded` requests (URLs found inside feeds) connect only to
        public addresses. `kind` is what the observer is told each request was.
        `retries` overrides the configured number (an RSSHub instance is not retried while
        another can be asked); `truncate` keeps the first `max_body` bytes of a longer body.
        """
        if absolute(url) is None:
            # Checked once here: the pools, slots and the guard all take the URL apart.
            raise MalformedURL(url, f"malformed URL {shown(url)}")
        request_headers = dict(headers or {})
        if accept:
            request_headers["Accept"] = accept
        if etag:
            request_headers["If-None-Match"] = etag
        if last_modified:
            request_headers["If-Modified-Since"] = last_modified
        cap = max_body or self._http.max_body
        retries = self._http.retries if retries is None else retries
        attempt = 0
        while True:
            try:
                return await self._get_once(url, request_headers, cap, guarded, kind, truncate)
            except (RateLimited, TotalTimeout):
                # Told when to come back, or already slow for a whole minute: a retry now won't help.
                raise
            except (ConnectError, FetchTimeout, HTTPStatusError) as exc:
                retryable = not isinstance(exc, HTTPStatusError) or exc.status in RETRY_STATUSES
                if not retryable or attempt >= retries:
                    raise
                delay = min(self._backoff * 2**attempt, _MAX_RETRY_SLEEP)
                attempt += 1
                log.debug("retrying %s in %.2fs after: %s", url, delay, exc)
                await self._sleep(delay)

    async def _get_once(
        self, url: str, headers: dict[str, str], max_body: int, guarded: bool, kind: RequestKind, truncate: bool
    ) -> tuple[FetchResult, str]:
        seen = {url}
        current = url
        for _hop in range(self._http.max_redirects + 1):
            scheme = urlsplit(current).scheme
            if scheme not in ("http", "https"):
                raise RedirectError(url, f"redirect to a non-HTTP URL {current!r}")
            # Slots are taken per hop: holding the global one while waiting for another host's
            # could deadlock against requests that hold that host and wait for a global one.
            async with self.slot(current, _PRIORITIES[kind]), self._clients.use(current, guarded) as pool:
                result = await self._send(pool, current, headers, max_body, kind, truncate)
            if isinstance(result, str):
                target = absolute(result, current)
                if target is None:
                    raise RedirectError(url, f"redirect to a malformed URL {shown(result)}")
                if target in seen:
                    raise RedirectError(url, f"redirect loop at {target}")
                seen.add(target)
                current = target
                continue
            return result
        raise RedirectError(url, f"more than {self._http.max_redirects} redirects")

    async def _send(
        self, pool: Pool, url: str, headers: dict[str, str], max_body: int, kind: RequestKind,
        truncate: bool,
    ) -> tuple[FetchResult, str] | str:
        """One request: a result, or the Location of a redirect; the observer hears of it either way."""
        with self._reported(kind, url) as answer, translate_httpx_errors(url):
            try:
                async with asyncio.timeout(self._http.total_timeout):
                    sent = {**self._default_headers, **headers}
                    started = time.time()
                    response = await pool.get(url, sent, self._extensions)
                    answer.status = response.status_code
                    tap = None if self._capture is None else Tap(response.stream)
                    if tap is not None:
                        response.stream = tap
                    try:
                        status = response.status_code
                        if status in REDIRECT_STATUSES and "location" in response.headers:
                            await _drain(response)
                            return response.headers["location"]
                        if status == 304:
                            await _drain(response)
                            return self._result(url, response, b""), ""
                        if not 200 <= status < 300:
                            if tap is not None:  # the record holds what the server said
                                await _drain(response)
                            retry_after = parse_retry_after(response.headers.get("retry-after"), time.time())
                            if status in (429, 503) and retry_after is not None:
                                raise RateLimited(url, status, retry_after)
                            raise HTTPStatusError(url, status)
                        body = await _read_capped(response, url, max_body, truncate)
                    except BaseException as exc:
                        if tap is not None:
                            answer.cut = _cut_by(exc)
                        raise
                    finally:
                        await response.aclose()
                        if tap is not None:
                            await self._captured(url, kind, started, sent, response, tap, answer.cut)
            except TimeoutError:
                raise TotalTimeout(url, f"took longer than {self._http.total_timeout:.0f}s in all") from None
        return self._result(url, response, body.data), body.sha256

    async def _captured(
        self, url: str, kind: RequestKind, started: float, sent: Mapping[str, str], response: httpx.Response,
        tap: Tap, cut: str | None,
    ) -> None:
        """Hand the exchange to the capture: the request as `netio` sent it, the body as it came."""
        assert self._capture is not None
        sent_as = response.extensions.get("request_line")  # netio's pool says; through a proxy, parse again
        path, host = sent_as if sent_as is not None else (httpx.URL(url).raw_path, httpx.URL(url).netloc)
        peer = None
        stream = response.extensions.get("network_stream")
        if stream is not None:
            address = stream.get_extra_info("server_addr")
            peer = address[0] if isinstance(address, tuple) else None
        await self._capture.exchange(Exchange(
            url, kind, started, path,
            [(b"Host", host), *((k.encode("ascii"), v.encode()) for k, v in sent.items())],
            response.extensions.get("http_version", b"HTTP/1.1"), response.status_code,
            response.extensions.get("reason_phrase", b""), response.headers.raw, b"".join(tap.chunks),
            None if tap.complete else cut or "length", peer,
        ))

    @contextmanager
    def _reported(self, kind: RequestKind, url: str) -> Iterator[_Answer]:
        """Tell the observer, and the network's health, how a request went."""
        answer = _Answer()
        unreachable = False
        try:
            yield answer
        except FetchError as exc:
            unreachable = exc.connection_level
            raise
        finally:
            self._observer.request_done(kind, answer.status)
            if self._health is not None:
                self._health.heard(urlsplit(url).netloc, answered=answer.status is not None, unreachable=unreachable)

    @staticmethod
    def _result(url: str, response: httpx.Response, body: bytes) -> FetchResult:
        headers = {k.lower(): v for k, v in response.headers.items()}
        return FetchResult(
            url=url,
            status=response.status_code,
            body=body,
            headers=headers,
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
        )
