"""An article's HTML from what was fetched to what is archived, in two pure steps.

Both are pure CPU work (lxml, trafilatura, nh3). The pipeline runs `prepare` in
a worker process when it has a page to extract (tens of milliseconds each), and
everything else in place (about a millisecond, less than a hand-off costs).

- `prepare`: the feed's HTML, or the page's main text when it says more; links
  made absolute; the images listed.
- `finish`: images pointed at their copies, everything sanitized, braces escaped.

A big article is first rewritten with its nesting and attributes bounded
(`sanitize.bound_nesting`): the parsers' work grows with the tags times the depth.
The pipeline runs a `heavy` article's steps off the event loop.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from crawler.reader import content
from crawler.reader.extract import extract_main_html
from crawler.reader.imagerefs import find_images, rewrite_images
from crawler.reader.sanitize import MAX_ATTRIBUTES, MAX_DEPTH, Sanitizer, bound_nesting, escape_braces, one_html_block

_FIRST_IMG_SRC = re.compile(r"<img\b[^>]*?\ssrc=\"([^\"]*)\"")
# Where the parsers' worst cases (see `sanitize.bound_nesting`) start to cost: an article past
# one of these is cleaned off the event loop (1,000 tags: up to some 25 ms of html5ever) ...
HEAVY_CHARS = 64 * 1024
HEAVY_TAGS = 1000
# ... and one past these is written out again first, nesting and attributes bounded (4,000 tags:
# up to 0.4 s; a tag of 8 KB: thousands of attributes, or an inline data: image).
REWRITE_CHARS = 128 * 1024
REWRITE_TAGS = 4000
_LONG_TAG = re.compile(r"<[^<>]{8192}")


def heavy(html: str) -> bool:
    """Whether preparing or finishing `html` is work to keep off the event loop."""
    return len(html) > HEAVY_CHARS or html.count("<") > HEAVY_TAGS or _LONG_TAG.search(html) is not None


def _bounded(html: str, warnings: list[str] | None = None) -> str:
    if len(html) <= REWRITE_CHARS and html.count("<") <= REWRITE_TAGS and not _LONG_TAG.search(html):
        return html
    bounded = bound_nesting(html)
    if warnings is not None:
        if bounded.deeper:
            warnings.append(f"the HTML nests deeper than {MAX_DEPTH} elements: {bounded.deeper} deeper tags left "
                            "out, their text kept")
        if bounded.crowded:
            warnings.append(f"{bounded.crowded} tags with more than {MAX_ATTRIBUTES} attributes: the rest left out")
    return bounded.html


@dataclass(frozen=True)
class Prepared:
    html: str
    image_urls: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def prepare(feed_html: str, feed_base: str, page: bytes | None = None, page_url: str = "", title: str = "") -> Prepared:
    """Choose the article's HTML and list its images (`page`: the fetched article page, if any;
    `title`: the entry's, which a headline at the top of the page's text only repeats)."""
    html, base, warning = feed_html, feed_base, None
    warnings: list[str] = []
    if page is not None:
        try:
            extracted = extract_main_html(page, page_url, title)
        except Exception as exc:  # trafilatura/lxml on a hostile page: keep the feed's text
            extracted, warning = None, f"extraction failed, kept the feed's text: {exc}"
        better = content.better_of(feed_html, extracted)
        if better is not None:
            html, base = better, page_url
        elif warning is None:
            warning = "the page yielded no more text than the feed; kept the feed's text"
    found = find_images(_bounded(html, warnings), base)
    return Prepared(found.html, tuple(found.urls), (*([warning] if warning else []), *warnings, *found.malformed))


@lru_cache(maxsize=8)
def _sanitizer(iframe_hosts: frozenset[str]) -> Sanitizer:
    return Sanitizer(iframe_hosts)


def finish(html: str, new_sources: Mapping[str, str], iframe_hosts: frozenset[str]) -> tuple[str, str]:
    """The archived body and its headimg (the first image's final `src`, else '')."""
    cleaned = _sanitizer(iframe_hosts).clean(rewrite_images(_bounded(html), new_sources))
    match = _FIRST_IMG_SRC.search(cleaned)
    headimg = htmllib.unescape(match.group(1)) if match else ""
    return one_html_block(escape_braces(cleaned)), headimg
