"""Hostile nesting: an article's HTML is cleaned in time linear in its size (issue 21, item 1).

html5ever (nh3's parser) scans the stack of open elements for block start tags and the list of
formatting elements for each new one: `'<div>' * 100_000` took 50 s, 200,000 over 300 s.
"""

from __future__ import annotations

import time

import lxml.html
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.reader import article
from crawler.reader.sanitize import MAX_ATTRIBUTES, MAX_DEPTH, bound_nesting

DEEP = 50_000  # before the fix: 3-5 s for <div>, 60 s for distinct <b>; after: about 0.1 s

PATTERNS = {
    "div": lambda n: "<div>" * n,
    "blockquote": lambda n: "<blockquote>" * n,
    "ul": lambda n: "<ul>" * n,
    "distinct-formatting": lambda n: "".join(f"<b id={i}>" for i in range(n)),
    "li-in-dd": lambda n: "<dd><li>" * (n // 2),
}


def _depth(html: str) -> int:
    """How deep lxml nests the fragment (huge_tree: no depth limit of its own)."""
    parser = lxml.html.HTMLParser(huge_tree=True)
    root = lxml.html.fragment_fromstring(html or "<br>", create_parent="div", parser=parser)
    deepest, stack = 0, [(root, 0)]
    while stack:
        element, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in element)
    return deepest


@pytest.mark.parametrize("pattern", PATTERNS.values(), ids=PATTERNS.keys())
def test_deep_nesting_prepares_and_finishes_in_bounded_time_and_keeps_the_text(pattern) -> None:
    html = pattern(DEEP) + "<p>the words</p><img src='a.jpg'>"
    started = time.monotonic()

    prepared = article.prepare(html, "https://news.example/a")
    body, _ = article.finish(prepared.html, {}, frozenset())

    assert time.monotonic() - started < 2.0
    assert "the words" in body
    assert prepared.image_urls == ("https://news.example/a.jpg",)
    assert any(f"deeper than {MAX_DEPTH}" in w for w in prepared.warnings)
    assert article.heavy(html), "the pipeline keeps such an article off the event loop"


def test_a_usual_article_is_left_as_it_is_and_cleaned_in_place() -> None:
    html = "<p>A paragraph with a <b>word</b> in bold.</p>" * 50
    assert article.prepare(html, "https://news.example/a").html == html
    assert not article.heavy(html)


def test_thousands_of_attributes_on_one_tag_are_cut_to_the_limit() -> None:
    """html5ever and lxml check each attribute against the tag's others: 50,000 took 13 s."""
    html = "<p>t</p><img src='a.jpg'" + "".join(f" a{i}=1" for i in range(50_000)) + ">"
    started = time.monotonic()

    prepared = article.prepare(html, "https://news.example/a")
    body, _ = article.finish(prepared.html, {}, frozenset())

    assert time.monotonic() - started < 2.0
    assert prepared.image_urls == ("https://news.example/a.jpg",)
    assert any(f"more than {MAX_ATTRIBUTES} attributes" in w for w in prepared.warnings)
    assert article.heavy(html)


def test_what_html5ever_takes_long_on_below_the_rewriting_threshold_is_cleaned_off_the_loop() -> None:
    """4,000 distinct formatting tags: 0.4 s of html5ever, not rewritten, but `heavy`."""
    assert article.heavy("".join(f"<b id={i}>" for i in range(1001)))


def test_bounded_html_keeps_the_structure_it_can() -> None:
    html = "<p>a<p>b<ul><li>1<li>2</ul><table><tr><td>x<td>y</table><!-- <div> --><script>if (a<b) {}</script>z"
    assert bound_nesting(html).html == (
        "<p>a</p><p>b</p><ul><li>1</li><li>2</li></ul><table><tr><td>x</td><td>y</td></tr></table>z"
    )
    assert bound_nesting('<a href="x>y" title=\'q\'>t</a><br/><svg><path d="M0"/></svg>')[0] == (
        '<a href="x>y" title="q">t</a><br><svg><path d="M0"></path></svg>'
    )


def test_text_next_to_a_tag_left_out_cannot_open_a_comment_that_hides_the_end_tags() -> None:
    html = ("<<x@>!--" + "<div>" * 300 + "-->") * 5 + "</é>after"

    bounded = bound_nesting(html, 50)

    assert _depth(bounded.html) <= 51
    assert "after" in bounded.html and "<!--" not in bounded.html


TAG_NAMES = st.sampled_from(["div", "p", "li", "ul", "b", "a", "td", "tr", "table", "span", "dd", "svg", "img",
                             "br", "script", "title", "iframe", "x-y", "font"])
TOKENS = st.one_of(
    TAG_NAMES.map(lambda n: f"<{n}>"),
    TAG_NAMES.map(lambda n: f"</{n}>"),
    st.tuples(TAG_NAMES, st.integers(0, 5)).map(lambda t: f"<{t[0]} id={t[1]} title='a>b\"'>"),
    st.sampled_from(["<!--", "-->", "<!doctype html>", "<?x>", "</>", "<", ">", "&amp;", "\"", "'", "<a/>", "<x@>",
                     "!--", "</é>", "<!-->", "--!>"]),
    st.text(alphabet="xyz <>/=\"'!-", max_size=6),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(TOKENS, max_size=400), st.integers(1, 30))
def test_any_tag_soup_comes_out_closed_and_no_deeper_than_the_limit(tokens: list[str], limit: int) -> None:
    html = "".join(tokens)

    bounded = bound_nesting(html, limit).html

    assert _depth(bounded) <= limit + 1  # lxml may add one element of its own (a <p> around text, say)
    assert bound_nesting(bounded, limit) == (bounded, 0, 0), "what comes out is read back the way it was written"
