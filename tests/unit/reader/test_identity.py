"""Which article an item is, and what counts as a change: the pure parts of revisions and identity."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.archive.revisions import item_hash, plan, text_hash
from crawler.models import FeedEntry, KnownEntry
from crawler.reader.identity import canonical_link, distinct, without_tracking
from crawler.reader.text import visible_text

CANONICAL = {
    "lower-cases-scheme-and-host": ("HTTPS://Example.COM/Path/Case", "https://example.com/Path/Case"),
    "drops-default-port": ("http://example.com:80/a", "http://example.com/a"),
    "keeps-other-port": ("https://example.com:8443/a", "https://example.com:8443/a"),
    "drops-fragment": ("https://example.com/a#comments", "https://example.com/a"),
    "drops-tracking": ("https://example.com/a?utm_source=x&id=7&UTM_Medium=y&fbclid=1&gclid=2&mc_cid=3&mc_eid=4"
                       "&igshid=5&spm=6", "https://example.com/a?id=7"),
    "keeps-order-and-spelling": ("https://example.com/a?b=2&a=%20x", "https://example.com/a?b=2&a=%20x"),
    "empty-path": ("https://example.com", "https://example.com/"),
    "ipv6": ("http://[::1]:80/x", "http://[::1]/x"),
    "malformed-kept": ("http://[::1/x", "http://[::1/x"),
    "nothing": ("", ""),
}


@pytest.mark.parametrize(("link", "canonical"), CANONICAL.values(), ids=CANONICAL.keys())
def test_canonical_links(link: str, canonical: str) -> None:
    assert canonical_link(link) == canonical


def entry(entry_id: str, link: str, title: str = "t", html: str = "<p>x</p>") -> FeedEntry:
    return FeedEntry(entry_id, link, title, None, None, None, html, "")


def test_one_document_names_each_article_once() -> None:
    items = distinct([
        entry("same", "http://a.test/1"), entry("same", "http://a.test/2"),  # one guid, two articles
        entry("g3", "http://a.test/3"), entry("g3-again", "http://A.test/3?utm_source=x"),  # one article, two guids
        entry("g4", "http://a.test/4"), entry("g4", "http://a.test/4#top"),  # repeated
        entry("no-link", ""),
    ])

    assert [(e.id, e.canonical) for e in items] == [
        ("http://a.test/1", "http://a.test/1"), ("http://a.test/2", "http://a.test/2"),
        ("g3", "http://a.test/3"), ("g4", "http://a.test/4"), ("no-link", ""),
    ]


SAME_TEXT = {
    "whitespace": ("<p>One two.</p><p>Three</p>", "<p>One   two.</p>\n\n  <p>Three</p>\n"),
    "attribute-order": ('<a href="http://x.test/a" title="t">l</a>', '<a title="t" href="http://x.test/a">l</a>'),
    "tracking": ('<a href="http://x.test/a">l</a>', '<a href="HTTP://X.test/a?utm_campaign=c#f">l</a>'),
    "image-copy": ('<img src="http://x.test/i.png">', '<img src="../images/ab.png" data-original-src="http://x.test/i.png">'),
    "entities": ("<p>caf&eacute; &amp; co</p>", "<p>café &amp; co</p>"),
}


@pytest.mark.parametrize(("before", "after"), SAME_TEXT.values(), ids=SAME_TEXT.keys())
def test_what_is_not_a_change_hashes_alike(before: str, after: str) -> None:
    assert text_hash("Title", before) == text_hash(" Title ", after)


def test_what_is_a_change_hashes_apart() -> None:
    base = text_hash("Title", '<p>One two.</p><a href="http://x.test/a">l</a>')
    assert text_hash("Title 2", '<p>One two.</p><a href="http://x.test/a">l</a>') != base
    assert text_hash("Title", '<p>One three.</p><a href="http://x.test/a">l</a>') != base
    assert text_hash("Title", '<p>One two.</p><a href="http://x.test/b">l</a>') != base


def test_a_poll_is_sorted_into_new_changed_unchanged_and_baselines() -> None:
    same, edited, old, aliased = (entry("s", "http://a.test/s"), entry("e", "http://a.test/e", html="<p>new</p>"),
                                  entry("o", "http://a.test/o"), entry("new-guid", "http://a.test/s2"))
    known = {
        "s": KnownEntry("s", "s.md", "h", item_hash(same), None),
        "e": KnownEntry("e", "e.md", "h", item_hash(entry("e", "http://a.test/e")), None),
        "o": KnownEntry("o", "o.md", None, None, None),  # archived by 0.1.0
        "new-guid": KnownEntry("s2", "s2.md", "h", item_hash(entry("s2", "http://a.test/s2")), None, by="link"),
    }
    fresh = entry("n", "http://a.test/n")

    sorted_ = plan([same, edited, old, aliased, fresh], known, "revise")

    assert sorted_.new == (fresh,) and [e.id for e, _ in sorted_.changed] == ["e"]
    assert [(n.entry_id, n.text_hash) for n in sorted_.notes] == [("o", None)]
    assert sorted_.aliases == (("new-guid", "s2"),) and sorted_.unchanged == 3
    ignoring = plan([same, edited, old, aliased, fresh], known, "ignore")
    assert ignoring.changed == () and ignoring.notes == () and ignoring.unchanged == 4


def test_the_update_date_is_part_of_the_item() -> None:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    plain = entry("e", "http://a.test/e")
    assert item_hash(plain) != item_hash(FeedEntry("e", "http://a.test/e", "t", None, when, None, "<p>x</p>", ""))


@pytest.mark.parametrize(("title", "shown"), [
    ("<b>Breaking</b>:   markets &amp; <em>bonds</em>\n fall", "Breaking: markets & bonds fall"),
    ("Budget<script>alert(1)</script> vote <style>p {color: red}</style><i>delayed</i>", "Budget vote delayed"),
    ("Fish &amp;amp; chips", "Fish &amp; chips"),
])
def test_html_titles_are_the_text_a_browser_shows(title: str, shown: str) -> None:
    assert visible_text(title) == shown


@pytest.mark.parametrize(("link", "shown"), [
    ("https://e.example/a?utm_source=rss&utm_medium=feed", "https://e.example/a"),
    ("https://e.example/a?id=3&utm_campaign=x&fbclid=y#part", "https://e.example/a?id=3#part"),
    ("HTTPS://E.example:443/a?Id=3", "HTTPS://E.example:443/a?Id=3"),  # only the tracking goes
    ("https://e.example/a", "https://e.example/a"),
    ("", ""),
])
def test_the_link_shown_loses_only_its_tracking_parameters(link: str, shown: str) -> None:
    assert without_tracking(link) == shown


@given(path=st.text(alphabet=st.characters(blacklist_characters="?#&"), max_size=30),
       pairs=st.lists(st.tuples(st.sampled_from(["id", "page", "utm_source", "utm_x", "fbclid", "q"]),
                                st.text(alphabet=st.characters(blacklist_characters="?#&="), max_size=8)),
                      max_size=6))
def test_without_tracking_keeps_every_other_pair_in_order(path: str, pairs: list[tuple[str, str]]) -> None:
    url = f"https://e.example/{path}?" + "&".join(f"{k}={v}" for k, v in pairs)

    shown = without_tracking(url)

    kept = [f"{k}={v}" for k, v in pairs if not k.startswith("utm_") and k != "fbclid"]
    assert shown == f"https://e.example/{path}" + (f"?{'&'.join(kept)}" if kept else "")
    assert canonical_link(shown) == canonical_link(url)
