"""Sources as they really behave (issue 13): RSSHub instance pools, our own outages,
hotlink-protected images, robots.txt. Every host is a real server on its own loopback
address (127.0.0.0/8 is all loopback on Linux); a loopback port nobody listens on is a
host that refuses connections, which is what an unreachable network looks like.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crawler.fetch.client import parse_retry_after
from crawler.fetch.rsshub import InstancePool
from crawler.models import RobotsCopy
from crawler.store.state import StateStore
from tests import faults
from tests.conftest import Item, archived_files, rss, split_document, write_config
from tests.faults import FaultServer
from tests.ports import refused_url, take_over

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
NEVER_FULL_TEXT = {"full_text": "never", "images": False}


@pytest.fixture
def hosts() -> Iterator[Callable[[str], FaultServer]]:
    """`hosts("127.0.0.2")`: a fault server on that loopback address, closed at the end of the test."""
    started: list[FaultServer] = []

    def make(address: str) -> FaultServer:
        server = FaultServer(address)
        started.append(server)
        return server

    yield make
    for server in started:
        server.close()


def status(cli: Callable[..., object], config: Path) -> dict[str, dict[str, object]]:
    result = cli("status", "--config", str(config), "--json")
    return {row["name"]: row for row in json.loads(result.out)}  # type: ignore[attr-defined]


def etagged(body: bytes, etag: str) -> faults.Fault:
    """A feed that answers 304 to its own ETag."""

    def fault(handler: faults.Handler) -> None:
        if handler.headers.get("If-None-Match") == etag:
            faults.respond(304)(handler)
        else:
            faults.respond(200, body, "application/rss+xml", ETag=etag)(handler)

    return fault


def sent(server: FaultServer, header: str) -> list[str | None]:
    return [headers.get(header) for _, headers in server.requests]


FEED = rss([Item("Harbour reopens", "https://news.example/harbour", "<p>The harbour reopened.</p>")])


# -- RSSHub instance pools ------------------------------------------------------------------------


def test_a_route_fails_over_and_a_rate_limited_instance_rests_across_crawls(tmp_path: Path, cli, hosts) -> None:
    a, b = hosts("127.0.0.2"), hosts("127.0.0.3")
    a.route("/news", faults.respond(429, b"quota exceeded", Retry_After="3600"))
    b.route("/news", faults.respond(200, FEED, "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "news", "route": "/news", **NEVER_FULL_TEXT}],
                          rsshub=[a.url(""), b.url("")])

    first = cli("crawl", "--config", str(config))
    assert first.code == 0, first.err
    assert (a.paths(), b.paths()) == (["/news"], ["/news"])
    assert "rests until" in first.err
    row = status(cli, config)["news"]
    assert row["instance"] == b.url("") and row["consecutive_failures"] == 0

    second = cli("crawl", "--config", str(config))  # a new process: the rest comes from the store
    assert second.code == 0, second.err
    assert a.paths() == ["/news"], "a resting instance is not asked"
    assert b.paths() == ["/news", "/news"]
    assert len(archived_files(tmp_path / "archive")) == 1


def test_validators_belong_to_their_instance_and_one_item_through_two_instances_is_one_entry(
    tmp_path: Path, cli, hosts
) -> None:
    a, b = hosts("127.0.0.2"), hosts("127.0.0.3")
    a_ok, a_broken = etagged(FEED, '"a1"'), faults.respond(500, b"upstream error")
    a.route("/news", faults.sequence(a_ok, a_broken, a_ok, a_broken))
    b.route("/news", etagged(FEED, '"b1"'))  # the same item, through another instance
    config = write_config(tmp_path, [{"name": "news", "route": "/news", **NEVER_FULL_TEXT}],
                          rsshub=[a.url(""), b.url("")])

    instances = []
    for _ in range(4):
        result = cli("crawl", "--config", str(config))
        assert result.code == 0, result.err
        instances.append(status(cli, config)["news"]["instance"])

    assert instances == [a.url(""), b.url(""), a.url(""), b.url("")]
    assert sent(a, "If-None-Match") == [None, '"a1"', '"a1"', '"a1"']
    assert sent(b, "If-None-Match") == [None, '"b1"'], "an ETag of one instance is never sent to another"
    [path] = archived_files(tmp_path / "archive")
    assert split_document(path)[0]["title"] == "Harbour reopens"


def test_every_instance_resting_fails_in_one_line_and_charges_the_feed_once(tmp_path: Path, cli, hosts) -> None:
    a, b = hosts("127.0.0.2"), hosts("127.0.0.3")
    a.route("/news", faults.respond(429, b"", Retry_After="600"))
    b.route("/news", faults.respond(503, b"", Retry_After="300"))
    config = write_config(tmp_path, [{"name": "news", "route": "/news", **NEVER_FULL_TEXT}],
                          rsshub=[a.url(""), b.url("")])

    assert cli("crawl", "--config", str(config)).code == 1
    first = status(cli, config)["news"]
    assert first["consecutive_failures"] == 1
    assert "no RSSHub instance served /news" in str(first["last_error"])

    again = cli("crawl", "--config", str(config))
    assert again.code == 1
    assert (a.paths(), b.paths()) == (["/news"], ["/news"]), "nothing is asked of a resting instance"
    row = status(cli, config)["news"]
    assert row["consecutive_failures"] == 1, "charged once for the whole rest"
    assert str(row["last_error"]).startswith(f"every RSSHub instance is resting; the soonest back is {b.url('')} at ")
    [line] = [line for line in again.err.splitlines() if "failed:" in line]
    assert "every RSSHub instance is resting" in line


async def test_a_rest_is_five_minutes_without_a_retry_after_and_a_day_at_most(tmp_path: Path) -> None:
    store = await StateStore.open(f"sqlite:///{tmp_path}/state.sqlite")
    try:
        now = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
        pool = InstancePool(store)
        past = parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now.timestamp())
        ten_years = parse_retry_after("Mon, 01 Jun 2036 12:00:00 GMT", now.timestamp())
        assert await pool.rest("http://a.example", ten_years, now) == now + timedelta(days=1)
        assert await pool.rest("http://b.example", past, now) == now + timedelta(minutes=5)
        assert await pool.rest("http://c.example", None, now) == now + timedelta(minutes=5)
        ready, soonest = await InstancePool(store).ready(
            ["http://a.example", "http://b.example", "http://d.example"], now + timedelta(minutes=1)
        )
        assert ready == ["http://d.example"]
        assert soonest == ("http://b.example", now + timedelta(minutes=5))
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("rsshub", "problem"),
    [
        pytest.param(["https://rsshub.example", "https://rsshub.example/"], "is listed twice", id="duplicate"),
        pytest.param(["https://rsshub.example", "ftp://mirror.example"], "is not an http:// or https:// URL",
                     id="not http"),
    ],
)
def test_a_bad_rsshub_list_is_a_one_line_config_error(tmp_path: Path, cli, rsshub: list[str], problem: str) -> None:
    config = write_config(tmp_path, [{"name": "news", "route": "/news"}], rsshub=rsshub)
    result = cli("check", "--config", str(config))
    assert result.code == 2
    [message] = result.err.strip().splitlines()
    assert message.startswith(f"{config}:3: rsshub: ") and problem in message


def test_a_single_rsshub_string_still_works_and_url_feeds_have_no_instance(
    tmp_path: Path, cli, hosts
) -> None:
    a = hosts("127.0.0.2")
    a.route("/news", faults.respond(200, FEED, "application/rss+xml"))
    a.route("/plain.xml", faults.respond(200, FEED, "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "news", "route": "/news", **NEVER_FULL_TEXT},
                                     {"name": "plain", "url": a.url("/plain.xml"), **NEVER_FULL_TEXT}],
                          rsshub=a.url("/"))
    assert cli("crawl", "--config", str(config)).code == 0
    rows = status(cli, config)
    assert rows["news"]["instance"] == a.url("") and rows["news"]["url"] == a.url("/news")
    assert rows["plain"]["instance"] is None
    exported = cli("export", "--config", str(config)).out
    assert f'xmlUrl="{a.url("/news")}"' in exported


# -- our outage is not their failure --------------------------------------------------------------


def test_five_unreachable_hosts_charge_nothing_and_the_crawl_says_so_once(tmp_path: Path, cli) -> None:
    feeds = [{"name": f"feed{i}", "url": refused_url(f"127.0.0.{10 + i}")} for i in range(5)]
    config = write_config(tmp_path, feeds, http={"retries": 0})

    for _ in range(2):
        before = datetime.now(UTC)
        result = cli("crawl", "--config", str(config))
        assert result.code == 1
        errors = [line for line in result.err.splitlines() if " ERROR " in line]
        assert errors == [errors[0]] and errors[0].endswith(
            "network unreachable (5 of 5 hosts): this machine could not reach the network; "
            "5 feeds were not charged for it"
        ), result.err
        for row in status(cli, config).values():
            assert row["last_error"] == "network unreachable (5 of 5 hosts)"
            assert row["consecutive_failures"] == 0
            assert row["state"] == "new", "never fetched: polled, but no server has answered yet"
            due = datetime.fromisoformat(str(row["next_due"]))
            assert timedelta(minutes=29) < due - before < timedelta(minutes=31), "polled again at its interval"


def test_a_single_dead_host_among_live_ones_is_charged(tmp_path: Path, cli, hosts) -> None:
    live = [hosts(f"127.0.0.{20 + i}") for i in range(4)]
    feeds = [{"name": f"live{i}", "url": s.route("/feed.xml", faults.respond(200, FEED, "application/rss+xml")),
              **NEVER_FULL_TEXT} for i, s in enumerate(live)]
    feeds.append({"name": "dead", "url": refused_url("127.0.0.25")})
    config = write_config(tmp_path, feeds, http={"retries": 0})

    result = cli("crawl", "--config", str(config))

    assert result.code == 1
    dead = status(cli, config)["dead"]
    assert dead["consecutive_failures"] == 1
    assert str(dead["last_error"]).startswith("connection failed")
    assert "network unreachable" not in result.err


def test_a_daemon_charges_nothing_during_an_outage_and_says_when_it_ends(tmp_path: Path, daemons) -> None:
    from tests.daemons import start
    from tests.daemons import status as daemon_status

    urls = [refused_url(f"127.0.0.{30 + i}") for i in range(5)]
    feeds = [{"name": f"feed{i}", "url": url, "interval": "1s", **NEVER_FULL_TEXT} for i, url in enumerate(urls)]
    config = write_config(tmp_path, feeds, http={"retries": 0})
    daemon = start(daemons, config)

    daemon.wait_for(r"our network looks down: \d of \d hosts unreachable over the last 120s")
    # Every feed polled again since, at its interval, not charged (the first two polls of the outage,
    # made before three hosts had been tried, may have been).
    deadline = time.monotonic() + 30
    while True:
        rows = daemon_status(config)
        if all(row["last_error"] == "network unreachable (5 of 5 hosts)" for row in rows.values()):
            break
        assert time.monotonic() < deadline, rows
        time.sleep(0.2)
    assert all(int(str(row["consecutive_failures"])) <= 2 for row in rows.values())
    assert all(row["state"] != "dead" for row in rows.values())

    host, port = urls[0].removeprefix("http://").split("/")[0].split(":")
    back = FaultServer(host, int(port), sock=take_over(host, int(port)))
    try:
        back.route("/feed.xml", faults.respond(200, FEED, "application/rss+xml"))
        daemon.wait_for(rf"network back: {host}:{port} answered after \d+s unreachable")
        daemon.wait_for(r"feed=feed0 status=200 new=1")
    finally:
        assert daemon.stop() == 0
        back.close()


# -- images that check the Referer ----------------------------------------------------------------


def test_referer_rules_and_the_403_fallbacks(tmp_path: Path, cli, hosts) -> None:
    site, custom, own, bare, default = (hosts(f"127.0.0.{40 + i}") for i in range(5))
    article = site.url("/story.html")
    images = [
        custom.route("/a.png", faults.needs_referer("https://weibo.example/", PNG, "image/png")),
        own.route("/b.png", faults.needs_referer(own.url("/"), PNG, "image/png")),
        bare.route("/c.png", faults.refuses_referer(PNG, "image/png")),
        default.route("/d.png", faults.needs_referer(article, PNG, "image/png")),
    ]
    body = "".join(f'<p>Picture {i}</p><img src="{url}">' for i, url in enumerate(images))
    site.route("/feed.xml", faults.respond(200, rss([Item("Pictures", article, body)]), "application/rss+xml"))
    config = write_config(
        tmp_path, [{"name": "pictures", "url": site.url("/feed.xml"), "full_text": "never"}],
        image_referers={custom.host: "https://weibo.example/"},
    )

    result = cli("crawl", "--config", str(config))

    assert result.code == 0, result.err
    assert sent(custom, "Referer") == ["https://weibo.example/"], "the configured Referer, first time"
    assert sent(own, "Referer") == [article, own.url("/")], "403, then the image's own origin"
    assert sent(bare, "Referer") == [article, bare.url("/"), None], "403 twice, then none"
    assert sent(default, "Referer") == [article], "the article page, as before"
    assert len(list((tmp_path / "archive" / "images").iterdir())) == 1  # the same bytes, one file


def test_an_article_address_in_any_script_goes_out_as_an_ascii_referer(tmp_path: Path, cli, hosts) -> None:
    site, pictures = hosts("127.0.0.45"), hosts("127.0.0.46")
    article = site.url("/新闻/故事.html")  # what a feed gives; a header can only carry it encoded
    wire = site.url("/%E6%96%B0%E9%97%BB/%E6%95%85%E4%BA%8B.html")
    image = pictures.route("/p.png", faults.needs_referer(wire, PNG, "image/png"))
    site.route("/feed.xml", faults.respond(200, rss([Item("新闻", article, f'<p>A picture</p><img src="{image}">')]),
                                           "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "news", "url": site.url("/feed.xml"), "full_text": "never"}])

    result = cli("crawl", "--config", str(config))

    assert result.code == 0, result.err
    assert sent(pictures, "Referer") == [wire]
    assert len(list((tmp_path / "archive" / "images").iterdir())) == 1


def test_image_referers_mistakes_are_config_errors(tmp_path: Path, cli) -> None:
    config = write_config(tmp_path, [{"name": "n", "url": "https://example.com/feed"}],
                          image_referers={"img.example.com:8080": "origin"})
    result = cli("check", "--config", str(config))
    assert result.code == 2
    [message] = result.err.strip().splitlines()
    assert "image_referers" in message and "is not a host name" in message


NOT_A_FEED: dict[str, Callable[[FaultServer], faults.Fault]] = {
    "an HTML error page": lambda a: faults.respond(
        200, b"<!doctype html><html><body><h1>Error</h1><p>upstream failed</p></body></html>", "text/html"),
    "a redirect loop": lambda a: faults.redirect(a.url("/news")),
    "a body over max_body": lambda a: faults.respond(
        200, rss([Item(f"Item {i}", f"https://news.example/{i}", "<p>x</p>" * 200) for i in range(40)]),
        "application/rss+xml"),
    "an empty 200": lambda a: faults.respond(200, b"", "application/rss+xml"),
}


@pytest.mark.parametrize("answer", list(NOT_A_FEED))
def test_anything_but_a_feed_from_one_instance_moves_the_poll_on_and_rests_it(
    tmp_path: Path, cli, hosts, answer: str
) -> None:
    a, b = hosts("127.0.0.2"), hosts("127.0.0.3")
    a.route("/news", NOT_A_FEED[answer](a))
    b.route("/news", faults.respond(200, FEED, "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "news", "route": "/news", **NEVER_FULL_TEXT}],
                          rsshub=[a.url(""), b.url("")], http={"max_body": 20_000, "retries": 0})

    first = cli("crawl", "--config", str(config))

    assert first.code == 0, first.err
    assert b.paths() == ["/news"]
    row = status(cli, config)["news"]
    assert row["instance"] == b.url("") and row["consecutive_failures"] == 0 and row["last_error"] is None
    assert len(archived_files(tmp_path / "archive")) == 1
    assert f"rsshub instance {a.url('')} rests until" in first.err

    asked = len(a.paths())
    second = cli("crawl", "--config", str(config))  # a new process: the rest comes from the store
    assert second.code == 0, second.err
    assert len(a.paths()) == asked, "a resting instance is not asked"
    assert b.paths() == ["/news", "/news"]


def test_when_no_instance_gives_a_feed_the_poll_fails_naming_each_and_none_rests(tmp_path: Path, cli, hosts) -> None:
    a, b = hosts("127.0.0.2"), hosts("127.0.0.3")
    a.route("/news", NOT_A_FEED["an HTML error page"](a))
    b.route("/news", NOT_A_FEED["an empty 200"](b))
    config = write_config(tmp_path, [{"name": "news", "route": "/news", **NEVER_FULL_TEXT}],
                          rsshub=[a.url(""), b.url("")])

    first = cli("crawl", "--config", str(config))

    assert first.code == 1
    error = str(status(cli, config)["news"]["last_error"])
    assert error.startswith("no RSSHub instance served /news")
    assert f"{a.url('')}: an HTML page, not a feed" in error and f"{b.url('')}: empty response" in error
    assert "rests until" not in first.err, "the route's fault, it seems: no instance rests for it"
    assert cli("crawl", "--config", str(config)).code == 1
    assert (a.paths(), b.paths()) == (["/news", "/news"], ["/news", "/news"])


# -- robots.txt -----------------------------------------------------------------------------------

PAGE = ("<html><body><article><h1>Story</h1>"
        + "<p>The full story, as the page tells it, with more detail than the feed.</p>" * 20
        + "</article></body></html>").encode()


def robots_site(server: FaultServer, robots: faults.Fault, pages: list[str]) -> str:
    """A site whose feed gives a short summary of each page (so full text is wanted)."""
    server.route("/robots.txt", robots)
    items = [Item(f"Story {i}", server.url(path), "<p>Short summary.</p>") for i, path in enumerate(pages)]
    for path in pages:
        server.route(path, faults.respond(200, PAGE, "text/html; charset=utf-8"))
    return server.route("/feed.xml", faults.respond(200, rss(items), "application/rss+xml"))


def text(body: str) -> faults.Fault:
    return faults.respond(200, body.encode(), "text/plain")


@pytest.mark.parametrize(
    ("robots", "fetched"),
    [
        pytest.param(text("User-agent: *\nDisallow: /private/\n"), True, id="allowed"),
        pytest.param(text("User-agent: *\nDisallow: /\n"), False, id="disallowed"),
        pytest.param(text("User-agent: TestBot\nDisallow: /\n\nUser-agent: *\nDisallow:\n"), False,
                     id="our user agent's group"),
        pytest.param(faults.respond(401, b"who are you"), True, id="401 means no rules"),
        pytest.param(faults.respond(403, b"forbidden"), True, id="403 means no rules"),
        pytest.param(faults.respond(404, b"none"), True, id="404 means no rules"),
        pytest.param(faults.respond(500, b"oops"), False, id="5xx without a cached copy: all disallowed"),
        pytest.param(faults.respond(200, bytes(range(256)) * 400, "application/octet-stream"), True,
                     id="garbage is no rules"),
        pytest.param(faults.endless(b"\xff\xfe garbage \x00" * 4096), True, id="endless garbage is read to 500 KB"),
        pytest.param(text("User-agent: *\nDisallow: /\n" + "# padding\n" * 1_000_000), False,
                     id="10 MB file: the rule at its start holds"),
    ],
)
def test_robots_cases(tmp_path: Path, cli, hosts, robots: faults.Fault, fetched: bool) -> None:
    site = hosts("127.0.0.50")
    feed = robots_site(site, robots, ["/story.html"])
    config = write_config(tmp_path, [{"name": "site", "url": feed, "images": False}],
                          http={"user_agent": "TestBot/1.0", "retries": 0})

    started = time.monotonic()
    result = cli("crawl", "--config", str(config))

    assert result.code == 0, result.err
    assert time.monotonic() - started < 20
    assert ("/story.html" in site.paths()) is fetched
    [path] = archived_files(tmp_path / "archive")
    body = split_document(path)[1]
    if fetched:
        assert "The full story" in body
    else:
        assert "Short summary." in body and "The full story" not in body
        assert "kept the feed's text: robots.txt of " + site.url("") in result.err


def test_robots_is_fetched_once_per_host_kept_in_the_store_and_never_asked_of_feeds_or_images(
    tmp_path: Path, cli, hosts
) -> None:
    site = hosts("127.0.0.51")
    site.route("/img/p.png", faults.respond(200, PNG, "image/png"))
    robots = text("User-agent: *\nDisallow: /private/\nDisallow: /feed.xml\nDisallow: /img/\n")
    pages = ["/public/1.html", "/private/2.html"]
    feed = robots_site(site, robots, pages)
    site.route("/feed.xml", faults.respond(200, rss([
        Item(f"Story {i}", site.url(path), f'<p>Short summary.</p><img src="{site.url("/img/p.png")}">')
        for i, path in enumerate(pages)
    ]), "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "site", "url": feed}])

    assert cli("crawl", "--config", str(config)).code == 0
    assert sorted(set(site.paths())) == ["/feed.xml", "/img/p.png", "/public/1.html", "/robots.txt"]

    pages.append("/public/3.html")
    site.route("/public/3.html", faults.respond(200, PAGE, "text/html"))
    site.route("/feed.xml", faults.respond(200, rss([Item(f"Story {i}", site.url(p), "<p>Short summary.</p>")
                                                     for i, p in enumerate(pages)]), "application/rss+xml"))
    assert cli("crawl", "--config", str(config)).code == 0
    assert site.paths().count("/robots.txt") == 1, "the store's copy serves the next crawl"
    assert "/public/3.html" in site.paths()


def test_a_failing_robots_txt_falls_back_on_the_cached_copy(tmp_path: Path, cli, hosts) -> None:
    site = hosts("127.0.0.52")
    feed = robots_site(site, text("User-agent: *\nDisallow: /private/\n"), ["/public/1.html"])
    config = write_config(tmp_path, [{"name": "site", "url": feed, "images": False}], http={"retries": 0})
    assert cli("crawl", "--config", str(config)).code == 0

    async def age_the_copy() -> None:  # a day and more has passed since
        store = await StateStore.open(f"sqlite:///{tmp_path}/archive/.state.sqlite")
        try:
            copy = await store.robots_copy(site.url(""))
            assert copy is not None and "Disallow: /private/" in copy.body
            await store.save_robots(RobotsCopy(copy.origin, copy.fetched_at - timedelta(days=2), 200, copy.body))
        finally:
            await store.close()

    asyncio.run(age_the_copy())
    feed = robots_site(site, faults.respond(503, b"down"), ["/public/1.html", "/public/2.html", "/private/3.html"])
    result = cli("crawl", "--config", str(config))

    assert result.code == 0, result.err
    assert site.paths().count("/robots.txt") == 2, "a stale copy is fetched again"
    assert "/public/2.html" in site.paths() and "/private/3.html" not in site.paths()
    assert "the copy of" in result.err and "stands in" in result.err


def test_crawl_delay_spaces_the_page_requests_to_that_host(tmp_path: Path, cli, hosts) -> None:
    site = hosts("127.0.0.53")
    pages = [f"/story/{i}.html" for i in range(3)]
    feed = robots_site(site, text("User-agent: *\nCrawl-delay: 1\n"), pages)
    config = write_config(tmp_path, [{"name": "site", "url": feed, "images": False}])

    assert cli("crawl", "--config", str(config)).code == 0

    times = sorted(t for path, t in site.times if path.startswith("/story/"))
    assert len(times) == 3
    gaps = [later - earlier for earlier, later in zip(times, times[1:], strict=False)]
    assert min(gaps) >= 0.95, gaps


def test_http_robots_false_does_not_ask(tmp_path: Path, cli, hosts) -> None:
    site = hosts("127.0.0.54")
    feed = robots_site(site, text("User-agent: *\nDisallow: /\n"), ["/story.html"])
    config = write_config(tmp_path, [{"name": "site", "url": feed, "images": False}], http={"robots": False})
    assert cli("crawl", "--config", str(config)).code == 0
    assert "/robots.txt" not in site.paths() and "/story.html" in site.paths()


@pytest.mark.parametrize("line", ["Crawl-delay: ²", "Request-rate: ²/5"])
def test_a_robots_txt_line_nobody_can_read_is_ignored_and_every_item_is_archived(
    tmp_path: Path, cli, hosts, line: str
) -> None:
    odd, healthy = hosts("127.0.0.55"), hosts("127.0.0.56")
    odd.route("/robots.txt", text(f"User-agent: *\n{line}\nDisallow: /private/\n"))
    for server in (odd, healthy):
        server.route("/story.html", faults.respond(200, PAGE, "text/html; charset=utf-8"))
    odd.route("/private/a.html", faults.respond(200, PAGE, "text/html; charset=utf-8"))
    items = [Item("On the odd host", odd.url("/story.html"), "<p>Short summary.</p>"),
             Item("Behind its rule", odd.url("/private/a.html"), "<p>Short summary.</p>"),
             Item("On a healthy host", healthy.url("/story.html"), "<p>Short summary.</p>")]
    feed = healthy.route("/feed.xml", faults.respond(200, rss(items), "application/rss+xml"))
    config = write_config(tmp_path, [{"name": "site", "url": feed, "images": False}])

    first = cli("crawl", "--config", str(config))
    assert first.code == 0, first.err
    assert "Traceback" not in first.err and "internal error" not in first.err
    assert len(archived_files(tmp_path / "archive")) == 3
    assert "/story.html" in odd.paths() and "/private/a.html" not in odd.paths(), "the file's other rules hold"
    assert status(cli, config)["site"]["consecutive_failures"] == 0

    healthy.route("/feed.xml", faults.respond(200, rss([*items, Item(
        "Next day", odd.url("/later.html"), "<p>Short summary.</p>")]), "application/rss+xml"))
    odd.route("/later.html", faults.respond(200, PAGE, "text/html; charset=utf-8"))
    again = cli("crawl", "--config", str(config))  # the store's copy is read this time
    assert again.code == 0, again.err
    assert odd.paths().count("/robots.txt") == 1 and "/later.html" in odd.paths()
    assert len(archived_files(tmp_path / "archive")) == 4


@pytest.mark.parametrize(
    ("robots", "blocked"),
    [
        pytest.param("User-agent: *\nDisallow: /*.html\n", "/art/a.html", id="wildcard"),
        pytest.param("User-agent: *\nDisallow: /art/a.html$\n", "/art/a.html", id="end anchor"),
        pytest.param("User-agent: *\nAllow: /\nDisallow: /art/\n", "/art/a.html", id="longest match"),
    ],
)
def test_a_crawl_obeys_rfc_9309_matching(tmp_path: Path, cli, hosts, robots: str, blocked: str) -> None:
    site = hosts("127.0.0.57")
    feed = robots_site(site, text(robots), [blocked, "/other/b"])
    config = write_config(tmp_path, [{"name": "site", "url": feed, "images": False}])

    result = cli("crawl", "--config", str(config))

    assert result.code == 0, result.err
    assert blocked not in site.paths() and "/other/b" in site.paths()
    assert "kept the feed's text: robots.txt of " + site.url("") in result.err
