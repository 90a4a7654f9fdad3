"""`feed-archiver crawl` against real local HTTP servers: what a user sees in the archive."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests import faults
from tests.conftest import FIXTURES, Item, archived_files, json_feed, rss, snapshot, split_document, write_config
from tests.faults import FaultServer
from tests.ports import refused_port

ARTICLE_PARAGRAPHS = [
    "The harbour authority confirmed on Tuesday that the new quay will open in the spring, ending years of delay.",
    "Engineers said the foundations had to be redesigned twice after surveys found softer clay than expected.",
    "Local fishermen welcomed the news but asked for berths to be reserved for the smaller boats of the fleet.",
    "The project cost rose from forty to sixty-five million over the decade, according to the council's figures.",
]
NAVIGATION = "Home Sections Weather Subscribe Sign in"
COMMENT = "Totally agree, this quay is a disgrace and the council should resign immediately"


def article_page(title: str) -> str:
    paragraphs = "\n".join(f"<p>{p}</p>" for p in ARTICLE_PARAGRAPHS)
    return f"""<!DOCTYPE html><html><head><title>{title}</title></head><body>
<header><nav><ul>{''.join(f'<li><a href="/{w}">{w}</a></li>' for w in NAVIGATION.split())}</ul></nav></header>
<main><article><h1>{title}</h1>
<p class="byline">By A. Reporter</p>
{paragraphs}
<h2>What comes next</h2>
<p>Work on the access road starts next month and should take about eight weeks, the authority said.</p>
</article></main>
<aside><h3>Most read</h3><ul><li><a href="/x">Unrelated story about football results</a></li></ul></aside>
<section id="comments" class="comments"><h3>Comments</h3>
<div class="comment"><p>{COMMENT}</p></div></section>
<footer><p>Copyright 2024 Harbour Gazette. All rights reserved.</p></footer>
</body></html>"""


def test_summary_only_feed_gets_full_text_without_navigation_or_comments(
    tmp_path: Path, httpserver: HTTPServer, cli
) -> None:
    link = httpserver.url_for("/2024/quay-opens.html")
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss([Item("New quay opens in spring", link, "<p>The harbour authority confirmed the date…</p>")]),
        content_type="application/rss+xml",
    )
    httpserver.expect_request("/2024/quay-opens.html").respond_with_data(
        article_page("New quay opens in spring"), content_type="text/html; charset=utf-8"
    )
    config = write_config(tmp_path, [{"name": "gazette", "url": httpserver.url_for("/feed.xml")}])

    assert cli("crawl", "--config", str(config)).code == 0

    [path] = archived_files(tmp_path / "archive")
    _, body = split_document(path)
    for paragraph in ARTICLE_PARAGRAPHS:
        assert paragraph in body
    assert "Subscribe" not in body and "Sign in" not in body
    assert COMMENT not in body
    assert "Copyright" not in body


def test_page_that_cannot_be_fetched_keeps_the_feed_text(tmp_path: Path, httpserver: HTTPServer, cli) -> None:
    link = httpserver.url_for("/gone.html")
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss([Item("Short one", link, "<p>Only a teaser…</p>")]), content_type="application/rss+xml"
    )
    httpserver.expect_request("/gone.html").respond_with_data("nope", status=404)
    config = write_config(tmp_path, [{"name": "teasers", "url": httpserver.url_for("/feed.xml")}])

    result = cli("crawl", "--config", str(config))

    assert result.code == 0, "a page that cannot be fetched is a warning, not a failed feed"
    [path] = archived_files(tmp_path / "archive")
    assert "Only a teaser…" in split_document(path)[1]
    assert "full text unavailable" in result.err


HOSTILE_TITLES = {
    "single-quotes": "It's the 'best' day",
    "double-quotes": 'He said "no" and left',
    "colon-space": "Breaking: markets fall: again",
    "hash": "#1 story # of the day",
    "newlines": "first line\nsecond line\r\nthird",
    "path-climb": "../../../etc/passwd",
    "slashes": "a/b\\c:d*e?f\"g<h>i|j",
    "cjk-300": "拜登和普京的通话" * 37 + "就乌克兰",
    "empty": "",
    "yaml-ish": "- [a, b]: {c: d} & *alias !tag | > %",
    "emoji-and-controls": "🔥 hot \x07 take \u2028 here\ufeff",
    "leading-dot": ".hidden",
    "device-name": "CON",
    "template": "{{ site.title }} {% raw %}",
}


@pytest.mark.parametrize("title", HOSTILE_TITLES.values(), ids=HOSTILE_TITLES.keys())
def test_hostile_titles_round_trip_and_stay_inside_the_archive(
    tmp_path: Path, httpserver: HTTPServer, cli, title: str
) -> None:
    item = {"id": "1", "url": httpserver.url_for("/a"), "title": title, "content_html": "<p>x</p>" * 200,
            "date_published": "2024-05-06T07:08:09+02:00"}
    httpserver.expect_request("/feed.json").respond_with_data(json_feed([item]), content_type="application/feed+json")
    config = write_config(
        tmp_path, [{"name": "hostile", "url": httpserver.url_for("/feed.json"), "categories": ["../up", "a/b"]}]
    )

    assert cli("crawl", "--config", str(config)).code == 0

    archive = (tmp_path / "archive").resolve()
    [path] = archived_files(archive)
    assert path.resolve().is_relative_to(archive)
    assert len(path.name.encode()) <= 200
    front, _ = split_document(path)
    assert front["title"] == title.strip()
    assert front["categories"] == ["../up", "a/b"]
    assert front["date"] == "Mon, 06 May 2024 05:08:09 GMT"
    assert {p.name for p in tmp_path.iterdir()} == {"feeds.yaml", "archive"}


@pytest.mark.parametrize(
    ("fixture", "content_type", "title", "text"),
    [
        ("atom.xml", "application/atom+xml", "Atom entry — “quoted” & more", "Atom body paragraph"),
        ("rss10.rdf", "application/rdf+xml", "RDF item one", "RDF description text"),
        ("latin1-undeclared.xml", "text/xml", "Café crème à la française", "Évidemment déjà vu"),
        ("wrong-declared-encoding.xml", "application/rss+xml", "Ça coûte très cher", "Numéro spécial"),
    ],
    ids=["atom", "rss-1.0", "latin1-no-declaration", "declared-utf8-but-latin1"],
)
def test_other_formats_and_bad_encodings(
    tmp_path: Path, httpserver: HTTPServer, cli, fixture: str, content_type: str, title: str, text: str
) -> None:
    body = (FIXTURES / fixture).read_bytes().replace(b"http://example.org", httpserver.url_for("").rstrip("/").encode())
    httpserver.expect_request("/feed").respond_with_data(body, content_type=content_type)
    config = write_config(tmp_path, [{"name": "f", "url": httpserver.url_for("/feed"), "full_text": "never"}])

    assert cli("crawl", "--config", str(config)).code == 0

    files = archived_files(tmp_path / "archive")
    titles = {split_document(p)[0]["title"]: split_document(p)[1] for p in files}
    assert title in titles
    assert text in titles[title]


def test_second_crawl_changes_no_byte_and_a_new_item_adds_one_file(
    tmp_path: Path, httpserver: HTTPServer, cli
) -> None:
    items = [Item(f"Story {i}", httpserver.url_for(f"/s{i}"), "<p>Long enough body.</p>" * 60) for i in range(5)]
    state = {"feed": rss(items)}

    def feed(request: Request) -> Response:
        return Response(state["feed"], content_type="application/rss+xml")

    httpserver.expect_request("/feed.xml").respond_with_handler(feed)
    config = write_config(tmp_path, [{"name": "news", "url": httpserver.url_for("/feed.xml")}])
    assert cli("crawl", "--config", str(config)).code == 0
    before = snapshot(tmp_path / "archive")
    assert len(archived_files(tmp_path / "archive")) == 5

    second = cli("crawl", "--config", str(config))

    assert second.code == 0
    assert snapshot(tmp_path / "archive") == before
    state["feed"] = rss([Item("Story new", httpserver.url_for("/new"), "<p>Fresh.</p>" * 60), *reversed(items)])
    assert cli("crawl", "--config", str(config)).code == 0
    after = archived_files(tmp_path / "archive")
    assert len(after) == 6
    assert {k: v for k, v in snapshot(tmp_path / "archive").items() if k in before} == before


def test_conditional_get_answers_304_without_parsing(tmp_path: Path, httpserver: HTTPServer, cli) -> None:
    seen_headers: list[dict[str, str]] = []
    body = rss([Item("One", httpserver.url_for("/1"), "<p>text</p>" * 100)])

    def feed(request: Request) -> Response:
        seen_headers.append(dict(request.headers))
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304)
        return Response(body, content_type="application/rss+xml", headers={"ETag": '"v1"'})

    httpserver.expect_request("/feed.xml").respond_with_handler(feed)
    config = write_config(tmp_path, [{"name": "cond", "url": httpserver.url_for("/feed.xml")}])

    assert cli("crawl", "--config", str(config)).code == 0
    second = cli("crawl", "--config", str(config))

    assert second.code == 0
    assert seen_headers[1].get("If-None-Match") == '"v1"'
    assert "unchanged (304)" in second.out


def test_a_validator_sent_in_utf8_goes_back_as_it_came(tmp_path: Path, server: FaultServer, cli) -> None:
    etag = '"ü-1"'.encode().decode("latin-1")  # the server's UTF-8 bytes, as http.server writes and reads them
    body = rss([Item("One", server.url("/1"), "<p>text</p>" * 100)])
    feed = server.route("/feed.xml", faults.sequence(faults.respond(200, body, "application/rss+xml", ETag=etag),
                                                     faults.respond(304, ETag=etag)))
    config = write_config(tmp_path, [{"name": "cond", "url": feed, "full_text": "never"}])

    assert cli("crawl", "--config", str(config)).code == 0
    second = cli("crawl", "--config", str(config))

    assert second.code == 0, second.err
    assert server.requests[1][1].get("If-None-Match") == etag
    assert "unchanged (304)" in second.out


def test_dead_feed_does_not_stop_the_others_and_sets_exit_status_1(
    tmp_path: Path, httpserver: HTTPServer, cli
) -> None:
    httpserver.expect_request("/ok.xml").respond_with_data(
        rss([Item("Alive", httpserver.url_for("/alive"), "<p>ok</p>" * 100)]), content_type="application/rss+xml"
    )
    httpserver.expect_request("/html").respond_with_data("<html><body>Not a feed</body></html>",
                                                         content_type="text/html")
    feeds = [
        {"name": "dead", "url": f"http://127.0.0.1:{refused_port()}/feed.xml"},
        {"name": "html-page", "url": httpserver.url_for("/html")},
        {"name": "alive", "url": httpserver.url_for("/ok.xml")},
    ]
    config = write_config(tmp_path, feeds, http={"retries": 0})

    result = cli("crawl", "--config", str(config))

    assert result.code == 1
    [path] = archived_files(tmp_path / "archive")
    assert split_document(path)[0]["title"] == "Alive"
    assert "connection failed" in result.out + result.err
    assert "HTML page, not a feed" in result.out + result.err
    status = cli("status", "--config", str(config), "--json")
    rows = {row["name"]: row for row in json.loads(status.out)}
    assert rows["dead"]["state"] == "failing" and rows["dead"]["consecutive_failures"] == 1
    assert rows["alive"]["state"] == "ok" and rows["alive"]["entries_archived"] == 1


def test_crawl_of_one_named_feed(tmp_path: Path, httpserver: HTTPServer, cli) -> None:
    for name in ("a", "b"):
        httpserver.expect_request(f"/{name}.xml").respond_with_data(
            rss([Item(f"Item {name}", httpserver.url_for(f"/{name}"), "<p>x</p>" * 100)]),
            content_type="application/rss+xml",
        )
    config = write_config(tmp_path, [{"name": n, "url": httpserver.url_for(f"/{n}.xml")} for n in ("a", "b")])

    assert cli("crawl", "--config", str(config), "--feed", "b").code == 0

    [path] = archived_files(tmp_path / "archive")
    assert split_document(path)[0]["title"] == "Item b"
    unknown = cli("crawl", "--config", str(config), "--feed", "zzz")
    assert unknown.code == 2 and "no feed named 'zzz'" in unknown.err


def test_json_log_lines_for_collectors(tmp_path: Path, httpserver: HTTPServer) -> None:
    import subprocess
    import sys

    httpserver.expect_request("/feed.xml").respond_with_data(
        rss([Item("Logged", httpserver.url_for("/l"), "<p>x</p>" * 100)]), content_type="application/rss+xml"
    )
    config = write_config(tmp_path, [{"name": "logged", "url": httpserver.url_for("/feed.xml")},
                                     {"name": "broken", "url": f"http://127.0.0.1:{refused_port()}/"}],
                          http={"retries": 0})

    result = subprocess.run([sys.executable, "-m", "crawler", "--log-format", "json", "crawl", "--config", str(config)],
                            capture_output=True, text=True, timeout=60)

    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert {"time", "level", "logger", "message"} <= set(records[0])
    polls = [r["message"] for r in records if r["logger"] == "crawler.pipeline"]
    assert any(m.startswith("feed=logged status=200 new=1 ") for m in polls)
    assert any(m.startswith("feed=broken ") and "connection failed" in m for m in polls)
    assert "Traceback" not in result.stderr


def test_image_url_prefix_and_per_feed_headers(tmp_path: Path, httpserver: HTTPServer, cli) -> None:
    jpeg = b"\xff\xd8\xff\xe0" + b"9" * 100 + b"\xff\xd9"
    httpserver.expect_request("/pic.jpg").respond_with_data(jpeg, content_type="image/jpeg")
    body = "<p>text</p>" * 100 + f'<img src="{httpserver.url_for("/pic.jpg")}">'
    httpserver.expect_request("/feed.xml", headers={"X-Token": "s3cret"}).respond_with_data(
        rss([Item("Prefixed", httpserver.url_for("/p"), body)]), content_type="application/rss+xml"
    )
    config = write_config(
        tmp_path, [{"name": "p", "url": httpserver.url_for("/feed.xml"), "headers": {"X-Token": "s3cret"},
                    "categories": ["A", "B"]}],
        image_url_prefix="/images/",
    )

    assert cli("crawl", "--config", str(config)).code == 0

    [path] = archived_files(tmp_path / "archive")
    front, body_out = split_document(path)
    assert front["headimg"].startswith("/images/") and front["headimg"].endswith(".jpg")
    assert (tmp_path / "archive" / front["headimg"].lstrip("/")).read_bytes() == jpeg
    assert f'src="{front["headimg"]}"' in body_out


def test_what_a_reader_sees_of_an_entry_author_link_headline_and_captions(
    tmp_path: Path, server: FaultServer, cli
) -> None:
    title = "New quay opens in spring"
    caption = "The new quay at dawn, seen from the old lighthouse on the north pier."
    page = article_page(title).replace(
        "<h2>What comes next</h2>",
        f'<figure><img src="/quay.jpg" alt="quay"><figcaption>{caption}</figcaption></figure><h2>What comes next</h2>',
    )
    server.route("/2024/quay.html", faults.respond(200, page.encode(), "text/html; charset=utf-8"))
    link = server.url("/2024/quay.html") + "?id=7&utm_source=rss&utm_medium=feed&fbclid=abc"
    feed = (f"<?xml version='1.0'?><rss version='2.0'><channel><title>Gazette</title><item><title>{title}</title>"
            f"<link>{link.replace('&', '&amp;')}</link><author>editor@example.org (Ed Itor)</author>"
            "<description>Teaser.</description></item></channel></rss>").encode()
    config = write_config(tmp_path, [{"name": "gazette", "url": server.route("/feed.xml", faults.respond(
        200, feed, "application/rss+xml")), "images": False}])

    result = cli("crawl", "--config", str(config))

    assert result.code == 0, result.err
    [path] = archived_files(tmp_path / "archive")
    front, body = split_document(path)
    assert front["author"] == "Ed Itor"
    assert front["link"] == server.url("/2024/quay.html") + "?id=7"
    assert f"<p>{caption}</p>" in body
    assert title not in body, "the page's headline repeats the title above the body"
    assert "What comes next" in body
    assert any(p == "/2024/quay.html?id=7&utm_source=rss&utm_medium=feed&fbclid=abc" for p in server.paths()), \
        "the page itself is fetched at the link as given"
