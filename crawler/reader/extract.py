"""Full text: the main content of an article page as HTML, by trafilatura.

Pure and CPU-bound: the pipeline calls it through `article.prepare` in a worker process.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from crawler.fetch import WEB_SCHEMES, absolute, split

_WRAPPER = re.compile(r"^\s*<html>\s*<body>\s*|\s*</body>\s*</html>\s*$")
# The share of a block's text in links above which trafilatura's own link-density test calls it boilerplate.
_LINK_SHARE = 0.8
# Invisible unless a line breaks there: "Mag\xadda\xadle\xadner" reads "Magdalener", but no search finds it.
_SOFT_HYPHEN = "\xad"


def extract_main_html(page: bytes | str, url: str) -> str | None:
    """The article's main content (headings, paragraphs, images, links, tables), without navigation,
    comments, teasers for the site's other pages or soft hyphens; None when trafilatura finds no article."""
    import trafilatura
    from trafilatura.htmlprocessing import build_html_output

    # What `trafilatura.extract(output_format="html")` does, less one step: for every format but
    # plain text it also computes a content fingerprint (a Simhash of the whole text) that we never
    # read, 8% of an extraction.
    document = trafilatura.bare_extraction(
        page,
        url=url,
        output_format="html",
        include_images=True,
        include_links=True,
        include_tables=True,
        include_formatting=True,
        include_comments=False,
        as_dict=False,
    )
    if document is None or isinstance(document, dict):  # a dict only with as_dict=True
        return None
    _drop_teasers(document.body, url)
    # Without the soft hyphens that some sites put in every long word: the archive's words are then
    # the words a reader sees and searches for (trafilatura's own text output drops them too).
    result = unicodedata.normalize("NFC", build_html_output(document)).replace(_SOFT_HYPHEN, "")
    if not result:
        return None
    return _WRAPPER.sub("", result)


def _drop_teasers(body: Any, page_url: str) -> None:
    """Remove the paragraphs and headings of trafilatura's article `body` that only point to other
    pages of the same site: "Read more: <headline>", the linked titles of a related-stories strip.

    Trafilatura's link-density test judges only short paragraphs, and with images kept it spares
    every block that holds one, so the headlines of picture teasers come through with the article.
    A block with an image stays here too (the article's pictures are what `include_images` is for).
    A link off the site (a source, an event, an address) or to this very page is the article's own.
    """
    from trafilatura.xml import delete_element

    for block in list(body):
        if block.tag in ("p", "head") and _is_teaser(block, page_url):
            delete_element(block)  # its tail, if any, joins the block before


def _is_teaser(block: Any, page_url: str) -> bool:
    links = list(block.iter("ref"))
    if not links or next(block.iter("graphic"), None) is not None:
        return False
    length = _text_length(block)
    if not length or sum(map(_text_length, links)) < _LINK_SHARE * length:
        return False
    return all(_another_page_of_the_site(link.get("target") or "", page_url) for link in links)


def _text_length(element: Any) -> int:
    return len("".join("".join(element.itertext()).split()))


def _another_page_of_the_site(target: str, page_url: str) -> bool:
    """Whether a link leads to another page on the host of `page_url` (with or without its `www.`).
    A relative link stays on it; a link to a place in a page (`#...`) is taken for this page's own;
    the domain's other hosts (a picture's full size on its CDN, a sister site) are elsewhere."""
    target = target.strip()
    parts = split(target)
    if parts is None or not target or parts.fragment:
        # a place in a page: trafilatura turns this page's `#section` into `https://host#section`
        return False
    if parts.scheme or parts.netloc:
        page = split(page_url)
        if parts.scheme.lower() not in ("", *WEB_SCHEMES) or page is None:
            return False
        host = _site(parts.hostname)
        if not host or host != _site(page.hostname):
            return False
    resolved = absolute(target, page_url)
    return resolved is not None and _page(resolved) != _page(page_url)


def _site(host: str | None) -> str:
    host = (host or "").lower()
    return host[4:] if host.startswith("www.") else host


def _page(url: str) -> str:
    return url.partition("#")[0].rstrip("/")
