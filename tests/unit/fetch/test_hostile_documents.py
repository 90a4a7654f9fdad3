"""Documents from anyone (OPML files, web pages `add` is pointed at): whatever they declare or nest,
reading them returns a result or one `OpmlError` line, never another exception (issue 21, item 10)."""

from __future__ import annotations

import encodings.aliases
import time

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crawler.config.opml import MAX_FOLDERS, OpmlError, read_opml
from crawler.fetch.discover import FeedLink, feed_links

FEED = '<outline text="Feed" xmlUrl="https://x.example/feed"/>'

# Every codec name and alias Python knows (text encodings, binary transforms such as rot13 and
# base64, multi-byte ones such as utf-7, the `undefined` and `idna` codecs), and names it does not.
CODEC_NAMES = sorted(set(encodings.aliases.aliases) | set(encodings.aliases.aliases.values())
                     | {"x-bogus", "utf-7", "rot13", "rot_13", "idna", "undefined", "punycode", "mbcs", "oem",
                        "unicode_escape", "raw_unicode_escape", "uu", "zlib", "bz2", "hex", "base64", "quopri"})
NAMES = st.sampled_from(CODEC_NAMES) | st.text(st.characters(blacklist_characters="\"'<>&",
                                                             blacklist_categories=("Cs",)), max_size=20)


def _opml(declared: str, body: str = FEED) -> bytes:
    return (f'<?xml version="1.0" encoding="{declared}"?>'
            f'<opml version="2.0"><head><title>t</title></head><body>{body}</body></opml>').encode()


@pytest.mark.parametrize(("declared", "why"), [
    ("x-bogus", "unknown encoding"), ("mbcs", "unknown encoding"), ("utf-7", "not a character set"),
    ("rot13", "not a character set"), ("idna", "not a character set"), ("undefined", "not a character set"),
    ("base64", "not a character set"), ("unicode_escape", "not a character set"),
])
def test_an_unreadable_declared_encoding_is_one_opml_error(declared: str, why: str) -> None:
    with pytest.raises(OpmlError) as caught:
        read_opml(_opml(declared))
    assert str(caught.value) == f"cannot read the encoding it declares ({declared!r}): {why}"


@pytest.mark.parametrize("charset", ["gbk", "shift_jis", "big5", "koi8-u", "windows-1251", "iso-8859-1", "UTF-8"])
def test_a_character_set_python_knows_is_read_multibyte_ones_too(charset: str) -> None:
    title = {"gbk": "新闻", "shift_jis": "ニュース", "big5": "新聞", "koi8-u": "Новини", "windows-1251": "Новости",
             "iso-8859-1": "Café", "UTF-8": "Ünïcödé 新闻"}[charset]
    data = _opml(charset, f'<outline text="{title}" xmlUrl="https://x.example/feed"/>').decode().encode(charset)
    assert [f.title for f in read_opml(data).feeds] == [title]


def test_a_file_not_in_the_encoding_it_declares_is_one_opml_error() -> None:
    with pytest.raises(OpmlError, match=r"^not in the encoding it declares \('gbk'\): illegal multibyte sequence"):
        read_opml(_opml("gbk") + b"\xff\xff")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(declared=NAMES, bom=st.booleans(), tail=st.binary(max_size=40))
@example(declared="utf-8", bom=True, tail=b"")
@example(declared="latin-1", bom=False, tail=b"\xff\xfe")
def test_any_declared_encoding_reads_or_is_one_opml_error(declared: str, bom: bool, tail: bytes) -> None:
    data = (b"\xef\xbb\xbf" if bom else b"") + _opml(declared, FEED + "<!--") + tail + b"--></body></opml>"
    try:
        found = read_opml(data)
    except OpmlError as exc:
        assert "\n" not in str(exc)
    else:
        assert [f.xml_url for f in found.feeds] in ([], ["https://x.example/feed"])


def _nested(depth: int, name: str | None = None) -> bytes:
    opening = "".join(f'<outline text="{name or f"f{level}"}">' for level in range(depth))
    return f'<opml version="2.0"><body>{opening}{FEED}{"</outline>" * depth}</body></opml>'.encode()


def test_an_opml_nested_deeper_than_the_stack_is_read_in_linear_time() -> None:
    # 1,200 levels: RecursionError before; 200,000: a 5.6 MB file, the time linear in the depth.
    assert read_opml(_nested(1200, "Same")).feeds[0].categories == ("Same",)
    [refused] = read_opml(_nested(1200)).unusable
    assert refused.why == f"in more than {MAX_FOLDERS} folders (each would be a folder of the archive)"
    started = time.monotonic()
    assert len(read_opml(_nested(200_000)).unusable) == 1
    assert time.monotonic() - started < 10


def test_folders_up_to_the_limit_are_kept_in_order_each_once() -> None:
    names = [f"f{level % (MAX_FOLDERS - 1)}" for level in range(3 * MAX_FOLDERS)] + ["last"]
    opening = "".join(f'<outline text="{name}">' for name in names)
    data = f'<opml version="2.0"><body>{opening}{FEED}{"</outline>" * len(names)}</body></opml>'.encode()
    [feed] = read_opml(data).feeds
    assert feed.categories == (*[f"f{n}" for n in range(MAX_FOLDERS - 1)], "last")


# -- pages that `add` reads for <link rel="alternate"> ----------------------------------------------

RSS_LINK = '<link rel="alternate" type="application/rss+xml" href="{}">'


@pytest.mark.parametrize("bad", ["http://[::1", "http://[::1]:99999/", "https://xn--/feed", "http://a.example:-1/",
                                 "//["])
def test_a_link_that_is_no_url_is_skipped(bad: str) -> None:
    page = (RSS_LINK.format(bad) + RSS_LINK.format("/good.xml")).encode()
    assert feed_links(page, "https://site.example/") == [
        FeedLink("https://site.example/good.xml", "application/rss+xml", "")]


def test_a_base_that_is_no_url_is_ignored() -> None:
    page = ('<base href="http://[::1">' + RSS_LINK.format("feed.xml")).encode()
    assert [link.url for link in feed_links(page, "https://site.example/blog/")] == [
        "https://site.example/blog/feed.xml"]


@pytest.mark.parametrize("charset", ["idna", "undefined", "utf-7", "rot13", "x-bogus", "base64", "utf-8"])
def test_a_charset_that_cannot_decode_the_page_falls_back_to_utf8(charset: str) -> None:
    page = ('<title>Café</title>' + RSS_LINK.format("/feed.xml")).encode()
    assert [link.url for link in feed_links(page, "https://site.example/", charset)] == [
        "https://site.example/feed.xml"]


@settings(max_examples=200, deadline=None)
@given(base=st.text(max_size=30), href=st.text(max_size=30),
       charset=st.sampled_from(CODEC_NAMES) | st.text(max_size=10))
def test_any_base_href_and_charset_give_a_list_of_http_links(base: str, href: str, charset: str) -> None:
    page = f'<base href="{base}"><link rel="alternate" type="application/atom+xml" href="{href}">'
    for link in feed_links(page.encode("utf-8", "surrogatepass"), "https://site.example/", charset):
        assert link.url.startswith(("http://", "https://"))
