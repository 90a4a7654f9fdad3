"""`import FILE.opml` and `export`, through the real command line, on OPML shaped like real readers' exports.

The fixtures in tests/fixtures/opml/ are written by hand after each reader's documented export:
Miniflux (2.0, one level of categories, title and text), FreshRSS (its own namespace, an
XPath-scraped source with no xmlUrl), Feedly (1.0, a blank line before the root, the same feed
in two folders), Inoreader (a BOM, character references, a file:// feed, an outline with empty
title and text), NetNewsWire (a comment, tabs, feeds outside any folder, `&apos;`, an empty
folder), and a generic 2.0 file with folders three deep, `category` attributes and ISO-8859-1.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import yaml

from crawler.config.settings import load_settings
from tests.conftest import FIXTURES

OPML = FIXTURES / "opml"

CONFIG = """\
# My feeds. This comment, the blank lines and the flow lists below must survive an import.
archive_dir: archive   # next to this file
state: sqlite:///archive/.state.sqlite
rsshub: https://rsshub.example

defaults:
  interval: 30m

feeds:
  - name: nasa           # kept as is
    url: https://www.nasa.gov/news-release/feed/
    categories: [Science]

  - name: the-verge
    url: https://www.theverge.com/rss/index.xml
"""

# name -> (url or route, categories, site), for each reader's file imported into CONFIG.
EXPECTED = {
    "miniflux": {
        "ars-technica": ("https://feeds.arstechnica.com/arstechnica/index", ["All"], "https://arstechnica.com"),
        "hacker-news-front-page": ("https://hnrss.org/frontpage", ["All"], "https://news.ycombinator.com/"),
        "quanta-magazine": ("https://www.quantamagazine.org/feed/", ["Science"], "https://www.quantamagazine.org"),
    },
    "freshrss": {
        "freshrss-releases": ("https://github.com/FreshRSS/FreshRSS/releases.atom", ["Uncategorized"],
                              "https://github.com/FreshRSS/FreshRSS/"),
        "lwn-net": ("https://lwn.net/headlines/rss", ["Tech & Science"], "https://lwn.net"),
    },
    "feedly": {
        "hacker-news": ("https://news.ycombinator.com/rss", ["Tech"], "https://news.ycombinator.com/"),
        "daring-fireball": ("https://daringfireball.net/feeds/main", ["Must Read"], "https://daringfireball.net/"),
    },
    "inoreader": {
        "bbc-news-world": ("http://feeds.bbci.co.uk/news/world/rss.xml", ["News"],
                           "https://www.bbc.co.uk/news/world"),
        "le-monde-fr-actualités-et-infos-en-france-et-dans-le-monde": (
            "https://www.lemonde.fr/rss/une.xml", ["News"], "https://www.lemonde.fr/"),
        "半岛电视台": ("https://rsshub.app/aljazeera/chinese/news", ["News"], "https://chinese.aljazeera.net/"),
        "feeds-example-org": ("https://feeds.example.org/untitled.xml", ["Podcasts"], None),
    },
    "netnewswire": {
        "daring-fireball": ("https://daringfireball.net/feeds/json", [], "https://daringfireball.net/"),
        "six-colors": ("https://feedpress.me/sixcolors?type=xml", [], "https://sixcolors.com/"),
        "swift-org-blog": ("https://www.swift.org/atom.xml", ["Swift"], "https://www.swift.org/"),
        "swift-by-sundell-s-articles": ("https://www.swiftbysundell.com/rss", ["Swift"],
                                        "https://www.swiftbysundell.com"),
    },
    "nested": {
        "deutsche-welle": ("https://rss.dw.com/rdf/rss-en-all", ["News", "World", "Europe", "Public broadcasters"],
                           None),
        "café-babel": ("https://cafebabel.example/feed", ["News"], None),
        "weather": ("https://weather.example/rss", ["Boston", "Weather", "Local"], None),
    },
}
SUMMARIES = {
    "miniflux": (3, 1, 0), "freshrss": (2, 0, 1), "feedly": (2, 2, 0), "inoreader": (4, 0, 1),
    "netnewswire": (4, 0, 1), "nested": (3, 0, 1),
}
OTHER_LINES = {
    "miniflux": ["skipped https://www.nasa.gov/news-release/feed/: already in the config as 'nasa'"],
    "freshrss": ["unusable 'Example via XPath': no xmlUrl"],
    "feedly": ["skipped https://www.theverge.com/rss/index.xml: already in the config as 'the-verge'"] * 2,
    "inoreader": ["unusable 'Local file': xmlUrl is not an http(s) URL: file:///home/me/feed.xml"],
    "netnewswire": ["unusable 'Empty folder': no xmlUrl"],
    "nested": ["unusable 'Notes without a feed': no xmlUrl"],
}


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "feeds.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def added_feeds(path: Path) -> dict[str, tuple[str, list[str], str | None]]:
    feeds = yaml.safe_load(path.read_text(encoding="utf-8"))["feeds"][2:]
    return {f["name"]: (f.get("url") or f["route"], f.get("categories", []), f.get("site")) for f in feeds}


@pytest.mark.parametrize("reader", sorted(EXPECTED))
def test_import_of_each_readers_export(reader: str, config: Path, cli) -> None:
    """Every usable outline is added with a readable name, its folders as categories and its site;
    every other one gets a line; the old text of the config is kept byte for byte."""
    result = cli("import", str(OPML / f"{reader}.opml"), "--config", str(config))
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    added, skipped, unusable = SUMMARIES[reader]
    assert re.fullmatch(rf".*{reader}\.opml: {added} added, {skipped} skipped, {unusable} unusable \(\d+\.\d\ds\)",
                        lines[-1])
    assert lines[:-1] == OTHER_LINES[reader]
    text = config.read_text(encoding="utf-8")
    assert text.startswith(CONFIG)  # comments, blank lines, flow lists: all as they were
    expected = {
        name: (url.replace("https://rsshub.app", "https://rsshub.app"), categories, site)
        for name, (url, categories, site) in EXPECTED[reader].items()
    }
    assert added_feeds(config) == expected
    settings = load_settings(config)  # valid as the program reads it
    assert len(settings.feeds) == 2 + added


def test_a_url_on_the_configs_rsshub_instance_comes_in_as_a_route(config: Path, cli) -> None:
    opml = config.parent / "routes.opml"
    opml.write_text(
        '<opml version="2.0"><body>'
        '<outline text="Al Jazeera" xmlUrl="https://rsshub.example/aljazeera/news"/>'
        '<outline text="Elsewhere" xmlUrl="https://rsshub.app/aljazeera/news"/>'
        "</body></opml>", encoding="utf-8")
    assert cli("import", str(opml), "--config", str(config)).code == 0
    feeds = yaml.safe_load(config.read_text(encoding="utf-8"))["feeds"]
    assert feeds[2] == {"name": "al-jazeera", "route": "/aljazeera/news", "title": "Al Jazeera"}
    assert feeds[3] == {"name": "elsewhere", "url": "https://rsshub.app/aljazeera/news", "title": "Elsewhere"}



def test_names_that_clash_get_numbered_suffixes(config: Path, cli) -> None:
    opml = config.parent / "clash.opml"
    opml.write_text(
        '<opml version="2.0"><body>'
        '<outline text="NASA" xmlUrl="https://a.example/feed"/>'
        '<outline text="nasa!" xmlUrl="https://b.example/feed"/>'
        '<outline text="The Verge" xmlUrl="https://c.example/feed"/>'
        "</body></opml>", encoding="utf-8")
    assert cli("import", str(opml), "--config", str(config)).code == 0
    assert list(added_feeds(config)) == ["nasa-2", "nasa-3", "the-verge-2"]


def test_export_then_import_into_the_same_config_adds_nothing(config: Path, cli) -> None:
    """Routes are exported at their URL on the rsshub instance and recognised as those routes again."""
    config.write_text(CONFIG + "\n  - name: aljazeera\n    route: /aljazeera/news\n"
                      "    categories: [新媒体, Aljazeera 半岛网, 新闻]\n    site: https://chinese.aljazeera.net/\n",
                      encoding="utf-8")
    before = config.read_bytes()
    exported = cli("export", "--config", str(config))
    assert exported.code == 0
    assert exported.out.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0">')
    assert ('<outline type="rss" text="aljazeera" title="aljazeera" xmlUrl="https://rsshub.example/aljazeera/news"'
            ' htmlUrl="https://chinese.aljazeera.net/" />') in exported.out
    opml = config.parent / "export.opml"
    opml.write_text(exported.out, encoding="utf-8")

    again = cli("import", str(opml), "--config", str(config))
    assert again.code == 0
    assert again.out.splitlines()[-1].startswith(f"{opml}: 0 added, 3 skipped, 0 unusable")
    assert config.read_bytes() == before

    # Into an empty config, the export brings back the same feeds: categories (nested folders),
    # routes, sites.
    fresh = config.parent / "fresh" / "feeds.yaml"
    fresh.parent.mkdir()
    fresh.write_text("rsshub: https://rsshub.example\nfeeds:\n  - name: placeholder\n    url: https://x.example/\n",
                     encoding="utf-8")
    assert cli("import", str(opml), "--config", str(fresh)).code == 0
    assert yaml.safe_load(fresh.read_text(encoding="utf-8"))["feeds"][1:] == [
        {"name": "nasa", "url": "https://www.nasa.gov/news-release/feed/", "categories": ["Science"]},
        {"name": "the-verge", "url": "https://www.theverge.com/rss/index.xml"},
        {"name": "aljazeera", "route": "/aljazeera/news", "categories": ["新媒体", "Aljazeera 半岛网", "新闻"],
         "site": "https://chinese.aljazeera.net/"},
    ]


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE opml [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<opml version="2.0"><body><outline text="&lol9;" xmlUrl="https://x.example/feed"/></body></opml>
"""
EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE opml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<opml version="2.0"><body><outline text="&secret;" xmlUrl="https://x.example/feed"/></body></opml>
"""


@pytest.mark.parametrize(("content", "message"), [
    pytest.param(b"this is not xml", r"not XML: syntax error: line 1, column 0", id="not-xml"),
    pytest.param(b"", r"not XML: no element found: line 1, column 0", id="empty"),
    pytest.param(b"<rss version='2.0'><channel/></rss>", r"not OPML: the root element is <rss>, not <opml>",
                 id="wrong-root"),
    pytest.param(b"<opml version='2.0'><head/></opml>", r"not OPML: no <body>", id="no-body"),
    pytest.param(BILLION_LAUGHS.encode(), r"refused: the file declares entities \(EntitiesForbidden\); OPML needs none",
                 id="billion-laughs"),
    pytest.param(EXTERNAL.encode(), r"refused: the file declares entities \(EntitiesForbidden\); OPML needs none",
                 id="external-entity"),
    pytest.param(None, r"larger than the 20,000,000-byte limit for an OPML file", id="100MB"),
    *(pytest.param(f'<?xml version="1.0" encoding="{name}"?><opml version="2.0"><body><outline text="x" '
                   'xmlUrl="https://x.example/feed"/></body></opml>'.encode(),
                   rf"cannot read the encoding it declares \('{name}'\): {why}", id=f"encoding-{name}")
      for name, why in (("x-bogus", "unknown encoding"), ("utf-7", "not a character set"),
                        ("rot13", "not a character set"))),
])
def test_bad_opml_is_one_line_exit_2_and_the_config_untouched(
    content: bytes | None, message: str, config: Path, cli
) -> None:
    opml = config.parent / "bad.opml"
    if content is None:
        with opml.open("wb") as big:  # 100 MB of outlines' worth
            line = b'<outline text="x" xmlUrl="https://x.example/feed"/>\n'
            big.write(b'<opml version="2.0"><body>\n' + line * (100_000_000 // len(line)) + b"</body></opml>\n")
    else:
        opml.write_bytes(content)
    before = config.read_bytes()
    started = time.monotonic()
    result = cli("import", str(opml), "--config", str(config))
    assert result.code == 2
    assert re.fullmatch(rf"{re.escape(str(opml))}: {message}\n", result.err), result.err
    assert result.out == ""
    assert config.read_bytes() == before
    assert time.monotonic() - started < 10
    assert [p.name for p in config.parent.iterdir() if "fa-tmp" in p.name] == []


def test_a_missing_opml_file_is_one_line_exit_2(config: Path, cli) -> None:
    result = cli("import", str(config.parent / "nope.opml"), "--config", str(config))
    assert result.code == 2
    assert result.err == f"{config.parent / 'nope.opml'}: cannot read: No such file or directory\n"


def test_an_invalid_config_is_reported_as_check_does_and_nothing_is_written(config: Path, cli) -> None:
    config.write_text(CONFIG.replace("interval: 30m", "intervall: 30m"), encoding="utf-8")
    before = config.read_bytes()
    checked = cli("check", "--config", str(config))
    imported = cli("import", str(OPML / "miniflux.opml"), "--config", str(config))
    added = cli("add", "https://x.example/feed", "--config", str(config))
    assert checked.code == imported.code == added.code == 2
    assert imported.err == added.err == checked.err
    assert checked.err.count("\n") == 1 and "defaults.intervall: unknown key" in checked.err
    assert config.read_bytes() == before


def test_a_generated_5000_outline_file_imports_whole(config: Path, cli) -> None:
    """5,000 feeds in 50 folders of 100, some titles shared: all added, valid, and in reasonable time."""
    outlines = []
    for folder in range(50):
        outlines.append(f'<outline text="Folder {folder}" title="Folder {folder}">')
        for n in range(100):
            index = folder * 100 + n
            title = f"Site {index % 4000} &amp; friends"  # 1,000 titles appear twice
            outlines.append(f'  <outline type="rss" text="{title}" title="{title}" '
                            f'xmlUrl="https://site{index}.example/feed.xml" htmlUrl="https://site{index}.example/"/>')
        outlines.append("</outline>")
    opml = config.parent / "big.opml"
    opml.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<opml version="2.0"><head><title>big</title></head>'
                    "<body>\n" + "\n".join(outlines) + "\n</body></opml>\n", encoding="utf-8")

    started = time.monotonic()
    result = cli("import", str(opml), "--config", str(config))
    seconds = time.monotonic() - started
    print(f"\n5,000-outline import: {result.out.splitlines()[-1]}; {seconds:.2f} s wall")
    assert result.code == 0
    assert re.fullmatch(r".*big\.opml: 5000 added, 0 skipped, 0 unusable \(\d+\.\d\ds\)", result.out.strip())
    settings = load_settings(config)
    assert len(settings.feeds) == 5002
    names = [f.name for f in settings.feeds]
    assert "site-5-friends" in names and "site-5-friends-2" in names
    assert seconds < 60


def test_an_opml_nested_1200_deep_imports_what_it_can_in_one_line_each(config: Path, cli) -> None:
    """A RecursionError before (issue 21, item 10). Folders of one name are one category; a feed
    in more distinct folders than an archive path could hold is listed as unusable."""
    def nested(names: list[str], title: str) -> str:
        opening = "".join(f'<outline text="{name}">' for name in names)
        feed = f'<outline text="{title}" xmlUrl="https://{title}.example/feed"/>'
        return opening + feed + "</outline>" * len(names)

    opml = config.parent / "deep.opml"
    opml.write_text('<opml version="2.0"><body>' + nested(["Same"] * 1200, "same")
                    + nested([f"F{n}" for n in range(1200)], "distinct") + "</body></opml>", encoding="utf-8")
    result = cli("import", str(opml), "--config", str(config))
    assert result.code == 0, result.err
    assert result.err == ""
    lines = result.out.splitlines()
    assert lines[0] == "unusable 'distinct': in more than 32 folders (each would be a folder of the archive)"
    assert lines[1].startswith(f"{opml}: 1 added, 0 skipped, 1 unusable (")
    added = yaml.safe_load(config.read_text(encoding="utf-8"))["feeds"][-1]
    assert (added["url"], added["categories"]) == ("https://same.example/feed", ["Same"])


def test_export_shows_each_feed_by_the_title_import_found_and_the_round_trip_keeps_it(config: Path, cli) -> None:
    """The OPML text is what a reader shows: the feed's title, not the name made from it (issue 27)."""
    opml = config.parent / "titled.opml"
    opml.write_text('<opml version="2.0"><body><outline text="News">'
                    '<outline text="Ed&apos;s Blog: News &amp; Views" xmlUrl="https://ed.example/feed"/>'
                    '<outline text="plain" xmlUrl="https://plain.example/feed"/>'
                    "</outline></body></opml>", encoding="utf-8")
    assert cli("import", str(opml), "--config", str(config)).code == 0
    feeds = {f.name: f for f in load_settings(config).feeds}
    assert feeds["ed-s-blog-news-views"].title == "Ed's Blog: News & Views"
    assert feeds["plain"].title is None, "a title equal to the name is not written twice"
    assert all(f.title is None for name, f in feeds.items() if name not in ("ed-s-blog-news-views", "plain"))

    exported = cli("export", "--config", str(config))
    assert exported.code == 0
    assert ('<outline type="rss" text="Ed\'s Blog: News &amp; Views" title="Ed\'s Blog: News &amp; Views" '
            'xmlUrl="https://ed.example/feed" />') in exported.out
    assert '<outline type="rss" text="plain" title="plain" xmlUrl="https://plain.example/feed" />' in exported.out
    assert 'text="nasa"' in exported.out, "a feed with no title is shown by its name"

    fresh = config.parent / "fresh.yaml"
    fresh.write_text("feeds:\n  - name: other\n    url: https://other.example/feed\n", encoding="utf-8")
    back = config.parent / "back.opml"
    back.write_text(exported.out, encoding="utf-8")
    assert cli("import", str(back), "--config", str(fresh)).code == 0
    titles = {f.name: f.title for f in load_settings(fresh).feeds}
    assert titles["ed-s-blog-news-views"] == "Ed's Blog: News & Views" and titles["plain"] is None
