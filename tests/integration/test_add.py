"""`feed-archiver add`, against feeds and pages served on 127.0.0.1."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from pytest_httpserver import HTTPServer

from crawler.config.settings import load_settings
from tests.conftest import Item, json_feed, rss

CONFIG = """\
# Hand-written; this comment must stay.
archive_dir: archive
rsshub: {rsshub}
feeds:
  - name: existing   # an old friend
    url: https://old.example/feed
"""


@pytest.fixture
def config(tmp_path: Path, httpserver: HTTPServer) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(CONFIG.format(rsshub=httpserver.url_for("/hub")), encoding="utf-8")
    return path


def feeds_of(config: Path) -> list[dict[str, object]]:
    return yaml.safe_load(config.read_text(encoding="utf-8"))["feeds"]


def page(*links: str) -> str:
    return ("<!doctype html><html><head><title>A site</title>" + "".join(links)
            + "</head><body><p>Hello</p></body></html>")


def test_a_feed_url_is_added_after_it_parsed(config: Path, httpserver: HTTPServer, cli) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss([Item("One", "http://example.com/1")], title="Example News", link="https://example.com/"),
        content_type="application/rss+xml")
    before = config.read_text(encoding="utf-8")
    result = cli("add", httpserver.url_for("/feed.xml"), "--category", "News", "--category", "Local",
                 "--config", str(config))
    assert result.code == 0, result.err
    assert result.out == f"added 'example-news': {httpserver.url_for('/feed.xml')} (Example News, 1 entry)\n"
    text = config.read_text(encoding="utf-8")
    assert text.startswith(before)
    assert feeds_of(config)[1] == {"name": "example-news", "url": httpserver.url_for("/feed.xml"),
                                   "categories": ["News", "Local"], "site": "https://example.com/",
                                   "title": "Example News"}
    assert load_settings(config).feeds[1].categories == ("News", "Local")


def test_a_page_that_only_links_its_feed(config: Path, httpserver: HTTPServer, cli) -> None:
    """Relative hrefs are resolved; the first feed in page order is taken, the others are printed."""
    httpserver.expect_request("/blog/").respond_with_data(page(
        '<link rel="stylesheet" href="/style.css">',
        '<link rel="alternate" hreflang="fr" href="/fr/">',
        '<link rel="alternate" type="application/atom+xml" title="Posts" href="atom.xml">',
        '<link rel="alternate" type="application/feed+json" title="Posts (JSON)" href="/blog/feed.json">',
        '<link rel="alternate" type="application/rss+xml" title="Comments" href="comments.rss">',
    ), content_type="text/html; charset=utf-8")
    atom = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            '<title>A Blog</title><link href="http://blog.example/"/><id>urn:x</id><updated>2024-01-01T00:00:00Z</updated>'
            "<entry><title>Post</title><id>urn:1</id><link href='http://blog.example/1'/>"
            "<updated>2024-01-01T00:00:00Z</updated></entry></feed>")
    httpserver.expect_request("/blog/atom.xml").respond_with_data(atom, content_type="application/atom+xml")
    result = cli("add", httpserver.url_for("/blog/"), "--config", str(config))
    print(result.out, end="")
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        f"added 'a-blog': {httpserver.url_for('/blog/atom.xml')} (A Blog, 1 entry)",
        f"also on the page: {httpserver.url_for('/blog/feed.json')} (application/feed+json, Posts (JSON))",
        f"also on the page: {httpserver.url_for('/blog/comments.rss')} (application/rss+xml, Comments)",
    ]
    assert feeds_of(config)[1] == {"name": "a-blog", "url": httpserver.url_for("/blog/atom.xml"),
                                   "site": "http://blog.example/", "title": "A Blog"}


def test_a_page_whose_first_feed_is_broken_gives_the_next(config: Path, httpserver: HTTPServer, cli) -> None:
    httpserver.expect_request("/").respond_with_data(page(
        '<base href="/sub/">',
        '<link rel="alternate" type="application/rss+xml" href="gone.xml">',
        '<link rel="alternate" type="application/json" href="feed.json">',
    ), content_type="text/html")
    httpserver.expect_request("/sub/gone.xml").respond_with_data("gone", status=404)
    httpserver.expect_request("/sub/feed.json").respond_with_data(
        json_feed([{"id": "1", "url": "http://x/1", "content_html": "<p>x</p>"}], title="JSON Only"),
        content_type="application/json")
    result = cli("add", httpserver.url_for("/"), "--name", "mine", "--config", str(config))
    assert result.code == 0, result.err
    assert result.out.splitlines()[0] == f"added 'mine': {httpserver.url_for('/sub/feed.json')} (JSON Only, 1 entry)"
    assert feeds_of(config)[1] == {"name": "mine", "url": httpserver.url_for("/sub/feed.json"), "title": "JSON Only"}


def test_a_page_with_no_feed_is_one_line_and_exit_1(config: Path, httpserver: HTTPServer, cli) -> None:
    httpserver.expect_request("/plain").respond_with_data(page('<link rel="icon" href="/favicon.ico">'),
                                                          content_type="text/html")
    before = config.read_bytes()
    result = cli("add", httpserver.url_for("/plain"), "--config", str(config))
    assert result.code == 1
    assert result.out == ""
    lines = [line for line in result.err.splitlines() if "werkzeug" not in line]  # the test server's log
    assert lines == [f"{httpserver.url_for('/plain')}: no feed found: an HTML page, not a feed, and it has no "
                     '<link rel="alternate"> to a feed']
    assert config.read_bytes() == before


def test_a_url_that_cannot_be_fetched_is_one_line_and_exit_1(config: Path, httpserver: HTTPServer, cli) -> None:
    httpserver.expect_request("/missing").respond_with_data("no", status=404)
    before = config.read_bytes()
    result = cli("add", httpserver.url_for("/missing"), "--config", str(config))
    assert result.code == 1
    lines = [line for line in result.err.splitlines() if "werkzeug" not in line]
    assert lines == [f"{httpserver.url_for('/missing')}: cannot fetch it: HTTP 404 ({httpserver.url_for('/missing')})"]
    assert config.read_bytes() == before


def test_an_rsshub_route(config: Path, httpserver: HTTPServer, cli) -> None:
    httpserver.expect_request("/hub/aljazeera/news").respond_with_data(
        rss([Item("一", "http://example.com/1")], title="半岛电视台 - 新闻"), content_type="application/rss+xml")
    result = cli("add", "rsshub:/aljazeera/news", "--category", "新闻", "--config", str(config))
    assert result.code == 0, result.err
    assert result.out.startswith("added '半岛电视台-新闻': route /aljazeera/news (")
    assert feeds_of(config)[1] == {"name": "半岛电视台-新闻", "route": "/aljazeera/news", "categories": ["新闻"],
                                   "site": "http://example.com/", "title": "半岛电视台 - 新闻"}
    assert load_settings(config).feeds[1].url == httpserver.url_for("/hub/aljazeera/news")


def test_a_feed_already_there_changes_nothing(config: Path, cli) -> None:
    before = config.read_bytes()
    result = cli("add", "https://OLD.example:443/feed", "--config", str(config))
    assert result.code == 0
    assert result.out == "https://OLD.example:443/feed is already in the config as 'existing'; nothing changed\n"
    assert config.read_bytes() == before


@pytest.mark.parametrize(("args", "message"), [
    (["ftp://x.example/feed"], "ftp://x.example/feed: not an http:// or https:// URL (or rsshub:/route)\n"),
    (["http://[::1"], "http://[::1: not an http:// or https:// URL (or rsshub:/route)\n"),
    (["http://x.example:99999/"], "http://x.example:99999/: not an http:// or https:// URL (or rsshub:/route)\n"),
    (["rsshub:aljazeera"], "rsshub:aljazeera: write an RSSHub route as rsshub:/path (e.g. rsshub:/aljazeera/news)\n"),
    (["https://x.example/feed", "--name", "existing"], "--name: a feed named 'existing' is already in the config\n"),
])
def test_usage_mistakes_exit_2_before_any_request(config: Path, cli, args: list[str], message: str) -> None:
    before = config.read_bytes()
    result = cli("add", *args, "--config", str(config))
    assert (result.code, result.err) == (2, message)
    assert config.read_bytes() == before


# -- issue 21: what a hostile page can make of `add` ------------------------------------------------

FEED_XML = rss([Item("One", "http://example.com/1")], title="Good Feed")


def _err_lines(result) -> list[str]:  # noqa: ANN001
    return [line for line in result.err.splitlines() if "werkzeug" not in line]  # the test server's log


@pytest.mark.parametrize("head", [
    '<link rel="alternate" type="application/rss+xml" href="http://[::1"><link rel="alternate" '
    'type="application/rss+xml" href="/good.xml">',
    '<base href="http://[::1"><link rel="alternate" type="application/rss+xml" href="good.xml">',
    '<link rel="alternate" type="application/rss+xml" href="http://127.0.0.1:99999/x">'
    '<link rel="alternate" type="application/rss+xml" href="/good.xml">',
], ids=["broken-ipv6-link", "broken-ipv6-base", "port-out-of-range"])
def test_a_link_or_base_that_is_no_url_is_passed_over(config: Path, httpserver: HTTPServer, cli, head: str) -> None:
    httpserver.expect_request("/").respond_with_data(page(head), content_type="text/html")
    httpserver.expect_request("/good.xml").respond_with_data(FEED_XML, content_type="application/rss+xml")
    result = cli("add", httpserver.url_for("/"), "--config", str(config))
    assert result.code == 0, result.err
    assert result.out.splitlines() == [f"added 'good-feed': {httpserver.url_for('/good.xml')} (Good Feed, 1 entry)"]
    assert "Traceback" not in result.err


@pytest.mark.parametrize("charset", ["idna", "undefined", "x-bogus", "rot13", "utf-7"])
def test_a_page_in_a_charset_that_reads_nothing_is_read_as_utf8(
    config: Path, httpserver: HTTPServer, cli, charset: str
) -> None:
    httpserver.expect_request("/").respond_with_data(
        page('<link rel="alternate" type="application/rss+xml" title="Café" href="/good.xml">'),
        content_type=f"text/html; charset={charset}")
    httpserver.expect_request("/good.xml").respond_with_data(FEED_XML, content_type="application/rss+xml")
    result = cli("add", httpserver.url_for("/"), "--config", str(config))
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    assert feeds_of(config)[1]["url"] == httpserver.url_for("/good.xml")


def test_a_feed_in_a_charset_that_reads_nothing_is_added_as_the_crawl_reads_it(
    config: Path, httpserver: HTTPServer, cli
) -> None:
    """`add` proves the feed with the crawl's own parse, which reads a feed whose header names a charset that
    decodes nothing from its own declaration (issue 21, item 3)."""
    httpserver.expect_request("/feed.xml").respond_with_data(
        FEED_XML, content_type="application/rss+xml; charset=undefined")
    result = cli("add", httpserver.url_for("/feed.xml"), "--config", str(config))
    assert result.code == 0, result.err
    assert "Traceback" not in result.err
    assert feeds_of(config)[1]["url"] == httpserver.url_for("/feed.xml")


def test_only_the_first_few_feed_links_are_tried_the_rest_listed(
    config: Path, httpserver: HTTPServer, cli
) -> None:
    """50,000 links took 99 s, one fetch each; now a bounded few are tried, in page order."""
    links = [f'<link rel="alternate" type="application/rss+xml" title="F{n}" href="/f{n}.xml">' for n in range(50_000)]
    httpserver.expect_request("/").respond_with_data(page(*links), content_type="text/html")
    before = config.read_bytes()
    started = time.monotonic()
    result = cli("add", httpserver.url_for("/"), "--config", str(config))
    assert time.monotonic() - started < 20
    assert result.code == 1
    tried = [request.path for request, _ in httpserver.log if request.path != "/"]
    assert tried == [f"/f{n}.xml" for n in range(len(tried))] and 1 <= len(tried) <= 10
    assert _err_lines(result) == [
        f"{httpserver.url_for('/')}: no feed found: the page names 50000 feeds; the first {len(tried)} could not "
        f"be read (first: HTTP 404 ({httpserver.url_for('/f0.xml')})); not tried: {50_000 - len(tried)} "
        "(listed on stdout)"]
    listed = result.out.splitlines()
    assert listed[0] == f"not tried: {httpserver.url_for(f'/f{len(tried)}.xml')} (application/rss+xml, F{len(tried)})"
    assert listed[-1] == f"... and {50_000 - len(tried) - len(listed) + 1} more"
    assert config.read_bytes() == before


def test_the_feed_among_the_first_few_is_added_and_the_others_listed(
    config: Path, httpserver: HTTPServer, cli
) -> None:
    links = [f'<link rel="alternate" type="application/rss+xml" href="/f{n}.xml">' for n in range(1000)]
    httpserver.expect_request("/").respond_with_data(page(*links), content_type="text/html")
    httpserver.expect_request("/f2.xml").respond_with_data(FEED_XML, content_type="application/rss+xml")
    result = cli("add", httpserver.url_for("/"), "--config", str(config))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0] == f"added 'good-feed': {httpserver.url_for('/f2.xml')} (Good Feed, 1 entry)"
    assert lines[1] == f"also on the page: {httpserver.url_for('/f0.xml')} (application/rss+xml)"
    assert lines[-1].startswith("... and ") and len(lines) < 50
    assert [r.path for r, _ in httpserver.log] == ["/", "/f0.xml", "/f1.xml", "/f2.xml"]


def test_a_feed_link_to_a_private_address_is_refused_when_private_networks_are(
    tmp_path: Path, httpserver: HTTPServer, cli
) -> None:
    """The page is the user's (fetched as a config feed is); the link on it is the page's, and
    `allow_private_network: false` keeps it off private addresses, as for any URL found in a feed.
    (The tests run on 127.0.0.1: `false` is how the suite makes the page's side "public".)"""
    config = tmp_path / "feeds.yaml"
    config.write_text(CONFIG.format(rsshub=httpserver.url_for("/hub"))
                      .replace("feeds:", "defaults:\n  allow_private_network: false\nfeeds:"), encoding="utf-8")
    httpserver.expect_request("/").respond_with_data(
        page('<link rel="alternate" type="application/rss+xml" href="http://127.0.0.1:9/admin/feed">',
             f'<link rel="alternate" type="application/rss+xml" href="{httpserver.url_for("/feed.xml")}">'),
        content_type="text/html")
    httpserver.expect_request("/feed.xml").respond_with_data(FEED_XML, content_type="application/rss+xml")
    before = config.read_bytes()
    result = cli("add", httpserver.url_for("/"), "--config", str(config))
    assert result.code == 1
    [line] = _err_lines(result)
    assert line.startswith(f"{httpserver.url_for('/')}: no feed found: the page names 2 feeds; none could be read")
    assert "private or local address" in line
    assert [r.path for r, _ in httpserver.log] == ["/"], "the private feed was never fetched"
    assert config.read_bytes() == before
    # The page itself is the user's to name: a feed URL given directly is added, as in the config.
    assert cli("add", httpserver.url_for("/feed.xml"), "--config", str(config)).code == 0


def test_an_address_without_a_scheme_is_tried_as_https_then_http(config: Path, httpserver: HTTPServer, cli) -> None:
    """`add example.com/blog`, as people write addresses: https first, as a browser would; this server
    speaks plain http, so the feed is added at its http:// URL (issue 27)."""
    httpserver.expect_request("/feed.xml").respond_with_data(FEED_XML, content_type="application/rss+xml")
    bare = httpserver.url_for("/feed.xml").removeprefix("http://")

    result = cli("add", bare, "--config", str(config))

    assert result.code == 0, result.err
    assert feeds_of(config)[1]["url"] == httpserver.url_for("/feed.xml")
