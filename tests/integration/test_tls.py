"""Feeds, pages and images over HTTPS, from a local server whose certificate a local CA signed."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from pytest_httpserver import HTTPServer

from tests.conftest import Item, archived_files, rss, split_document, write_config

JPEG = b"\xff\xd8\xff\xe0" + b"9" * 100 + b"\xff\xd9"


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def https_server(ca: trustme.CA) -> Iterator[HTTPServer]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


def serve_feed(server: HTTPServer) -> str:
    body = "<p>The whole article, in the feed.</p>" * 50 + f'<img src="{server.url_for("/pic.jpg")}">'
    server.expect_request("/feed.xml").respond_with_data(
        rss([Item("Over TLS", server.url_for("/a.html"), body)]), content_type="application/rss+xml"
    )
    server.expect_request("/pic.jpg").respond_with_data(JPEG, content_type="image/jpeg")
    return server.url_for("/feed.xml")


def test_an_https_feed_and_its_images_are_archived_over_verified_tls(
    tmp_path: Path, https_server: HTTPServer, ca: trustme.CA, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = serve_feed(https_server)
    assert url.startswith("https://")
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    # The standard way to trust a private CA (httpx reads it); it makes this server's certificate valid.
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    config = write_config(tmp_path, [{"name": "secure", "url": url}])

    result = cli("crawl", "--config", str(config))

    assert result.code == 0, result.out + result.err
    [path] = archived_files(tmp_path / "archive")
    front, _ = split_document(path)
    assert front["title"] == "Over TLS"
    assert (tmp_path / "archive" / front["headimg"].lstrip("/")).read_bytes() == JPEG


def test_a_certificate_no_trusted_ca_signed_fails_the_feed_clearly(
    tmp_path: Path, https_server: HTTPServer, cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    config = write_config(tmp_path, [{"name": "secure", "url": serve_feed(https_server)}])

    result = cli("crawl", "--config", str(config))

    assert result.code == 1
    assert "CERTIFICATE_VERIFY_FAILED" in result.out + result.err
    assert archived_files(tmp_path / "archive") == []


async def test_http2_is_negotiated_over_tls_when_configured(
    tmp_path: Path, ca: trustme.CA, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`http2: true`: the pools (httpcore on asyncio's streams, `crawler.fetch.netio`) offer h2 by ALPN."""
    import asyncio
    import socket

    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    from crawler.fetch.client import Clients, Fetcher
    from crawler.models import HttpSettings

    async def app(scope: dict[str, object], receive: object, send: object) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200,  # type: ignore[operator]
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "http.response.body", "body": f"HTTP/{scope['http_version']}".encode()})  # type: ignore[operator]

    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    listening = socket.create_server(("127.0.0.1", 0))  # listening before the server task runs
    port = listening.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{listening.detach()}"]  # the server's to close
    config.certfile, config.keyfile = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    stop = asyncio.Event()
    server = asyncio.create_task(serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
    http = HttpSettings(user_agent="feed-archiver-tests", timeout=5, total_timeout=10, max_body=10_000,
                        max_redirects=3, concurrency=4, per_host=2, retries=0, proxy=None, http2=True)
    try:
        async with Clients(http) as clients:
            url = f"https://127.0.0.1:{port}/"
            result, _ = await Fetcher(clients, http).get(url)
    finally:
        stop.set()
        await server
    assert result.body == b"HTTP/2"
