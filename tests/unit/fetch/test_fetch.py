"""The fetcher against a real local server: conditional GET, caps, retries, redirects, error mapping."""

from __future__ import annotations

import asyncio
import gzip
import ssl
from collections.abc import AsyncIterator

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from crawler.config.settings import HttpSettings
from crawler.errors import (
    ConnectError,
    FetchError,
    FetchTimeout,
    HTTPStatusError,
    RateLimited,
    RedirectError,
    TooLarge,
)
from crawler.fetch.client import Clients, Fetcher, cache_max_age, parse_retry_after, translate_httpx_errors
from tests.faults import FaultServer, redirect, respond

HTTP = HttpSettings(
    user_agent="feed-archiver-tests", timeout=5, total_timeout=10, max_body=10_000, max_redirects=3,
    concurrency=4, per_host=2, retries=2, proxy=None, http2=False,
)


@pytest.fixture
async def fetcher() -> AsyncIterator[Fetcher]:
    async with Clients(HTTP) as clients:
        yield Fetcher(clients, HTTP, backoff=0.01)


async def test_conditional_get_sends_validators_and_returns_not_modified(httpserver: HTTPServer, fetcher) -> None:
    httpserver.expect_request(
        "/feed", headers={"If-None-Match": '"abc"', "If-Modified-Since": "Wed, 01 May 2024 00:00:00 GMT"}
    ).respond_with_data("", status=304)

    result, _ = await fetcher.get(
        httpserver.url_for("/feed"), etag='"abc"', last_modified="Wed, 01 May 2024 00:00:00 GMT"
    )

    assert result.not_modified and result.body == b""


async def test_body_is_hashed_and_validators_returned(httpserver: HTTPServer, fetcher) -> None:
    httpserver.expect_request("/x").respond_with_data(
        b"hello", headers={"ETag": '"v2"', "Last-Modified": "Thu, 02 May 2024 00:00:00 GMT"}
    )
    result, sha = await fetcher.get(httpserver.url_for("/x"))
    assert (result.body, result.etag, result.last_modified) == (b"hello", '"v2"', "Thu, 02 May 2024 00:00:00 GMT")
    assert sha == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"


async def test_size_cap_applies_to_the_inflated_body(httpserver: HTTPServer, fetcher) -> None:
    bomb = gzip.compress(b"\0" * 1_000_000)
    assert len(bomb) < HTTP.max_body
    httpserver.expect_request("/bomb").respond_with_data(bomb, headers={"Content-Encoding": "gzip"})
    with pytest.raises(TooLarge):
        await fetcher.get(httpserver.url_for("/bomb"))


async def test_declared_oversize_is_refused_before_reading(httpserver: HTTPServer, fetcher) -> None:
    httpserver.expect_request("/big").respond_with_data(b"x" * 20_000)
    with pytest.raises(TooLarge):
        await fetcher.get(httpserver.url_for("/big"))


async def test_5xx_is_retried_then_succeeds(httpserver: HTTPServer, fetcher) -> None:
    answers = iter([Response("busy", status=502), Response("busy", status=500), Response("ok")])
    httpserver.expect_request("/flaky").respond_with_handler(lambda request: next(answers))
    result, _ = await fetcher.get(httpserver.url_for("/flaky"))
    assert result.body == b"ok"


async def test_5xx_gives_up_after_the_configured_retries(httpserver: HTTPServer, fetcher) -> None:
    calls: list[int] = []

    def handler(request: Request) -> Response:
        calls.append(1)
        return Response("down", status=503)

    httpserver.expect_request("/down").respond_with_handler(handler)
    with pytest.raises(HTTPStatusError) as exc:
        await fetcher.get(httpserver.url_for("/down"))
    assert exc.value.status == 503 and len(calls) == HTTP.retries + 1


async def test_404_is_not_retried(httpserver: HTTPServer, fetcher) -> None:
    httpserver.expect_oneshot_request("/missing").respond_with_data("no", status=404)
    with pytest.raises(HTTPStatusError) as exc:
        await fetcher.get(httpserver.url_for("/missing"))
    assert exc.value.status == 404


async def test_retry_after_is_reported_not_slept_on(httpserver: HTTPServer, fetcher) -> None:
    httpserver.expect_oneshot_request("/limited").respond_with_data("slow down", status=429,
                                                                    headers={"Retry-After": "120"})
    with pytest.raises(RateLimited) as exc:
        await fetcher.get(httpserver.url_for("/limited"))
    assert exc.value.retry_after == 120


async def test_redirects_are_followed(httpserver: HTTPServer, fetcher) -> None:
    httpserver.expect_request("/old").respond_with_data("", status=301, headers={"Location": "/new"})
    httpserver.expect_request("/new").respond_with_data("moved here")
    result, _ = await fetcher.get(httpserver.url_for("/old"))
    assert result.body == b"moved here" and result.url == httpserver.url_for("/new")


@pytest.mark.parametrize(
    ("location", "message"),
    [("/loop", "redirect loop"), ("ftp://127.0.0.1/x", "non-HTTP"), ("javascript:alert(1)", "non-HTTP URL")],
    ids=["loop", "ftp", "javascript"],
)
async def test_bad_redirects_are_refused(httpserver: HTTPServer, fetcher, location: str, message: str) -> None:
    httpserver.expect_request("/loop").respond_with_data("", status=302, headers={"Location": location})
    with pytest.raises(RedirectError, match=message):
        await fetcher.get(httpserver.url_for("/loop"))


async def test_too_many_redirects(httpserver: HTTPServer, fetcher) -> None:
    for i in range(6):
        httpserver.expect_request(f"/r{i}").respond_with_data("", status=302, headers={"Location": f"/r{i + 1}"})
    with pytest.raises(RedirectError, match="more than 3 redirects"):
        await fetcher.get(httpserver.url_for("/r0"))


async def test_connection_refused_maps_to_connect_error(fetcher) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectError):
        await fetcher.get(f"http://127.0.0.1:{port}/")


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (httpx.ConnectTimeout("t"), FetchTimeout),
        (httpx.ReadTimeout("t"), FetchTimeout),
        (httpx.PoolTimeout("t"), FetchTimeout),
        (httpx.ConnectError("c"), ConnectError),
        (httpx.ReadError("r"), ConnectError),
        (httpx.WriteError("w"), ConnectError),
        (httpx.RemoteProtocolError("p"), ConnectError),
        (httpx.ProxyError("p"), ConnectError),
        (httpx.DecodingError("d"), FetchError),
        (httpx.UnsupportedProtocol("u"), RedirectError),
        (httpx.TooManyRedirects("m"), FetchError),
        (httpx.InvalidURL("i"), FetchError),
        (httpx.StreamConsumed(), FetchError),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else v.__name__,
)
def test_every_httpx_error_maps_to_ours(raised: Exception, expected: type[FetchError]) -> None:
    with pytest.raises(expected) as exc, translate_httpx_errors("http://x/"):
        raise raised
    assert exc.value.url == "http://x/"


def _tls_refused() -> httpx.ConnectError:
    try:
        try:
            raise ssl.SSLCertVerificationError("certificate verify failed")
        except ssl.SSLError as cause:
            raise httpx.ConnectError("certificate verify failed") from cause
    except httpx.ConnectError as exc:
        return exc


@pytest.mark.parametrize(
    ("raised", "connection_level"),
    [
        pytest.param(httpx.ConnectError("[Errno 111] Connection refused"), True, id="refused or DNS"),
        pytest.param(httpx.ConnectTimeout("t"), True, id="connect timeout"),
        pytest.param(httpx.ReadTimeout("t"), False, id="read timeout"),
        pytest.param(httpx.ReadError("r"), False, id="reset mid-answer"),
        pytest.param(_tls_refused(), False, id="TLS: the host answered"),
    ],
)
def test_connection_level_failures_are_told_apart(raised: Exception, connection_level: bool) -> None:
    """What `outage` counts as our network being down (issue 13)."""
    with pytest.raises(FetchError) as exc, translate_httpx_errors("http://x/"):
        raise raised
    assert exc.value.connection_level is connection_level


def test_parse_retry_after() -> None:
    assert parse_retry_after("30", 0) == 30
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", 1445412400) == 80
    assert parse_retry_after("soon", 0) is None
    assert parse_retry_after(None, 0) is None


async def test_a_request_over_the_total_time_limit_is_not_retried() -> None:
    from tests.faults import FaultServer, trickle

    server = FaultServer()
    try:
        url = server.route("/slow", trickle(server, every=0.05))
        quick = HttpSettings(**{**HTTP.__dict__, "total_timeout": 0.5, "max_body": 2_000_000})
        async with Clients(quick) as clients:
            with pytest.raises(FetchTimeout, match="longer than"):
                await Fetcher(clients, quick, backoff=0.01).get(url)
        assert server.paths() == ["/slow"]
    finally:
        server.close()


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("max-age=600", 600.0), ("public, max-age=60, must-revalidate", 60.0), ("no-cache", None), ("", None),
     ("max-age=soon", None)],
)
def test_cache_control_max_age(header: str, seconds: float | None) -> None:
    assert cache_max_age({"cache-control": header} if header else {}) == seconds


async def test_unchanged_feeds_and_redirects_keep_their_connection(fetcher, server: FaultServer) -> None:
    feed = server.route("/feed", respond(304))
    server.route("/moved", redirect("/feed", 301))
    for _ in range(3):
        result, _ = await fetcher.get(feed, etag='"v1"')
        assert result.not_modified
    await fetcher.get(server.url("/moved"), etag='"v1"')
    # One connection for all five requests: a 304 or a redirect closed half-read would cost a new one each.
    assert (len(server.requests), server.connections) == (5, 1)


async def test_a_waiting_page_is_served_before_a_waiting_feed_and_a_feed_before_an_image(server: FaultServer) -> None:
    """With every slot taken, the requests waiting for one go out pages first (the extraction
    workers wait on them), then feeds, then images, each kind in its order of arrival."""
    from dataclasses import replace

    from crawler.fetch.slots import Priority

    http = replace(HTTP, concurrency=1, per_host=8)  # the global slot is the one they wait for
    for path in ("/image", "/feed", "/page-1", "/page-2"):
        server.route(path, respond(200, b"ok", "text/plain"))
    async with Clients(http) as clients:
        fetcher = Fetcher(clients, http)
        async with fetcher.slot(server.url("/"), Priority.PAGE):  # the one slot, held
            waiting = [asyncio.create_task(fetcher.get(server.url(path), kind=kind)) for path, kind in (
                ("/image", "image"), ("/feed", "feed"), ("/page-1", "page"), ("/page-2", "page"),
            )]
            for _ in range(3):  # each task reaches the slot's queue
                await asyncio.sleep(0)
        await asyncio.gather(*waiting)
    assert [path for path, _ in server.requests] == ["/page-1", "/page-2", "/feed", "/image"]
