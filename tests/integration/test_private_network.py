"""URLs found inside feeds stay off private addresses unless the config allows it."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from crawler.guard import is_public
from tests.conftest import Item, archived_files, rss, split_document, write_config

JPEG = b"\xff\xd8\xff\xe0" + b"1" * 200 + b"\xff\xd9"


def serve(httpserver: HTTPServer) -> None:
    paragraphs = "<p>Full page text that is long enough to be the article.</p>" * 40
    page = f'<html><body><article>{paragraphs}<img src="/img.jpg" alt="photo">{paragraphs}</article></body></html>'
    httpserver.expect_request("/page.html").respond_with_data(page, content_type="text/html")
    httpserver.expect_request("/img.jpg").respond_with_data(JPEG, content_type="image/jpeg")
    item = Item("Local", httpserver.url_for("/page.html"),
                f'<p>Teaser…</p><img src="{httpserver.url_for("/img.jpg")}">')
    httpserver.expect_request("/feed.xml").respond_with_data(rss([item]), content_type="application/rss+xml")


@pytest.mark.parametrize(
    ("setting", "blocked"),
    [(None, False), (True, False), (False, True)],
    ids=["default-follows-the-feed-address", "allowed", "explicitly-blocked"],
)
def test_pages_and_images_on_private_addresses(
    tmp_path: Path, httpserver: HTTPServer, cli, setting: bool | None, blocked: bool
) -> None:
    serve(httpserver)
    feed = {"name": "lan", "url": httpserver.url_for("/feed.xml")}
    if setting is not None:
        feed["allow_private_network"] = setting
    config = write_config(tmp_path, [feed])

    result = cli("crawl", "--config", str(config))

    assert result.code == 0
    [path] = archived_files(tmp_path / "archive")
    front, body = split_document(path)
    if blocked:
        assert "Teaser…" in body and "Full page text" not in body
        assert front["headimg"] == httpserver.url_for("/img.jpg")
        assert "private or local address" in result.err
        assert [r.path for r, _ in httpserver.log] == ["/feed.xml"]
    else:
        assert "Full page text" in body
        assert front["headimg"].startswith("images/")  # no categories: the file sits at the archive root


def test_blocking_holds_in_defaults_too(tmp_path: Path, httpserver: HTTPServer, cli) -> None:
    serve(httpserver)
    config = write_config(tmp_path, [{"name": "lan", "url": httpserver.url_for("/feed.xml")}],
                          defaults={"allow_private_network": False})
    cli("crawl", "--config", str(config))
    assert [r.path for r, _ in httpserver.log] == ["/feed.xml"]


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
        ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("::1", False),
        ("fe80::1", False), ("fc00::1", False), ("::ffff:127.0.0.1", False), ("224.0.0.1", False),
        ("93.184.216.34", True), ("2606:2800:220:1::1", True), ("::ffff:93.184.216.34", True),
    ],
)
def test_address_classes(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public
