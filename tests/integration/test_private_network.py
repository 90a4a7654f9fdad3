"""URLs found inside feeds stay off private addresses unless the config allows it."""

from __future__ import annotations

import ipaddress
import threading
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from crawler.fetch.guard import is_public
from tests import faults
from tests.conftest import Item, archived_files, rss, split_document, write_config
from tests.faults import FaultServer

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

    result = cli("crawl", "--config", str(config))

    assert result.code == 0, result.err
    [path] = archived_files(tmp_path / "archive")
    front, body = split_document(path)
    assert "Teaser…" in body and "Full page text" not in body, "archived from the feed, the page not fetched"
    assert front["headimg"] == httpserver.url_for("/img.jpg")
    assert "private or local address" in result.err
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


# -- issue 15, item 3: a guarded feed never reuses what an unguarded one fetched ------------------


def _lan_and_guarded(server: FaultServer, tmp_path: Path, image_fault: faults.Fault) -> tuple[Path, str]:
    image = server.route("/nas.jpg", image_fault)
    for name in ("lan", "outside"):
        item = Item(f"From {name}", server.url(f"/{name}-story"), f'<p>Text.</p><img src="{image}">')
        server.route(f"/{name}", faults.respond(200, rss([item]), "application/rss+xml"))
    config = write_config(tmp_path, [
        {"name": "lan", "url": server.url("/lan"), "full_text": "never", "allow_private_network": True},
        # A feed that must stay off private addresses (as one served from the internet is by default).
        {"name": "outside", "url": server.url("/outside"), "full_text": "never", "allow_private_network": False},
    ])
    return config, image


def _headimgs(archive_dir: Path) -> dict[str, str]:
    return {front["title"]: front["headimg"] for front, _ in map(split_document, archived_files(archive_dir))}


def test_a_guarded_feed_does_not_take_a_private_image_from_the_store(
    tmp_path: Path, server: FaultServer, cli
) -> None:
    config, image = _lan_and_guarded(server, tmp_path, faults.respond(200, JPEG, "image/jpeg"))

    assert cli("crawl", "--config", str(config), "--feed", "lan").code == 0
    result = cli("crawl", "--config", str(config), "--feed", "outside")

    assert result.code == 0
    headimgs = _headimgs(tmp_path / "archive")
    assert headimgs["From lan"].startswith("images/")
    assert headimgs["From outside"] == image, "the copy the LAN feed made is not handed over"
    assert "private or local address" in result.err


def test_a_guarded_feed_does_not_share_an_unguarded_download_in_flight(
    tmp_path: Path, server: FaultServer, cli
) -> None:
    requested, outside_served = threading.Event(), threading.Event()
    waits: list[str] = []  # what a server thread waited for in vain: an assert there would fail nothing

    def image_held_until_the_guarded_feed_is_read(handler: faults.Handler) -> None:
        requested.set()
        if not outside_served.wait(10):
            waits.append("the guarded feed was not read while the LAN image was in flight")
        faults.respond(200, JPEG, "image/jpeg")(handler)

    config, image = _lan_and_guarded(server, tmp_path, image_held_until_the_guarded_feed_is_read)
    outside_feed = server.routes["/outside"]

    def outside_after_the_lan_download_started(handler: faults.Handler) -> None:
        if not requested.wait(10):
            waits.append("the LAN image was never requested")
        outside_feed(handler)
        outside_served.set()

    server.route("/outside", outside_after_the_lan_download_started)

    result = cli("crawl", "--config", str(config))

    assert waits == [], "the two downloads did not overlap: the test proves nothing"
    assert result.code == 0
    headimgs = _headimgs(tmp_path / "archive")
    assert headimgs["From lan"].startswith("images/")
    assert headimgs["From outside"] == image
    assert server.paths().count("/nas.jpg") == 1, "the guarded request never reached the private address"
