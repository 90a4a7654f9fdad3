"""An article's HTML from what was fetched to what is archived, in two pure steps.

Both are pure CPU work (lxml, trafilatura, nh3). The pipeline runs `prepare` in
a worker process when it has a page to extract (tens of milliseconds each), and
everything else in place (about a millisecond, less than a hand-off costs).

- `prepare`: the feed's HTML, or the page's main text when it says more; links
  made absolute; the images listed.
- `finish`: images pointed at their copies, everything sanitized, braces escaped.

An article with very many tags is first rewritten with its nesting bounded
(`sanitize.bound_nesting`): the parsers' work grows with the tags times the depth.
The pipeline runs a `heavy` article's steps off the event loop.
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from crawler import content
from crawler.extract import extract_main_html
from crawler.imagerefs import find_images, rewrite_images
from crawler.sanitize import MAX_DEPTH, TAGS_IN_PLACE, Sanitizer, bound_nesting, escape_braces, one_html_block

_FIRST_IMG_SRC = re.compile(r"<img\b[^>]*?\ssrc=\"([^\"]*)\"")
HEAVY_CHARS = 128 * 1024  # about 20 ms of cleaning for a flat article; most are under 50 KB


def heavy(html: str) -> bool:
    """Whether preparing or finishing `html` is work to keep off the event loop (tens of ms or more)."""
    return len(html) > HEAVY_CHARS or html.count("<") > TAGS_IN_PLACE


def _bounded(html: str, warnings: list[str] | None = None) -> str:
    if html.count("<") <= TAGS_IN_PLACE:
        return html
    html, dropped = bound_nesting(html)
    if dropped and warnings is not None:
        warnings.append(f"the HTML nests deeper than {MAX_DEPTH} elements: {dropped} deeper tags left out, "
                        "their text kept")
    return html


@dataclass(frozen=True)
class Prepared:
    html: str
    image_urls: tuple[str, ...]
    warnings: tuple[str, ...] = ()


def prepare(feed_html: str, feed_base: str, page: bytes | None = None, page_url: str = "") -> Prepared:
    """Choose the article's HTML and list its images (`page`: the fetched article page, if any)."""
    html, base, warning = feed_html, feed_base, None
    warnings: list[str] = []
    if page is not None:
        try:
            extracted = extract_main_html(page, page_url)
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
