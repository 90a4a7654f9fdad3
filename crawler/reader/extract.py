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
_WORD = re.compile(r"\w+")
# A caption that only credits the picture: "Photo: J. Smith", "Bild: dpa", "© Reuters".
_CREDIT = re.compile(r"^\W*(?:©|\(c\)|(?:photo|foto|bild|image|picture|credit|source|quelle|fuente|crédit)s?\b\W)",
                     re.IGNORECASE)
_CAPTION_MIN_WORDS = 3  # fewer is a name or a credit ("Andrew Milligan", "AFP"), not a caption


def extract_main_html(page: bytes | str, url: str, title: str = "") -> str | None:
    """The article's main content (headings, paragraphs, images and their captions, links, tables),
    without navigation, comments, teasers for the site's other pages or soft hyphens, nor a first
    heading that only repeats `title` (the entry's, shown above the body); None when trafilatura
    finds no article."""
    import trafilatura
    from trafilatura.htmlprocessing import build_html_output
    from trafilatura.utils import load_html

    tree = load_html(page)  # what trafilatura would do first; None for what is no HTML at all
    if tree is None:
        return None
    _captions_as_paragraphs(tree)
    # What `trafilatura.extract(output_format="html")` does, less one step: for every format but
    # plain text it also computes a content fingerprint (a Simhash of the whole text) that we never
    # read, 8% of an extraction.
    document = trafilatura.bare_extraction(
        tree,
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
    _drop_repeated_title(document.body, title)
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


def _captions_as_paragraphs(tree: Any) -> None:
    """Trafilatura keeps a figure's image but has no element for its caption, and drops it: as a
    paragraph, the caption comes through right after its picture. Credits alone are left out."""
    for caption in list(tree.iter("figcaption")):
        words = _WORD.findall(caption.text_content())
        if len(words) < _CAPTION_MIN_WORDS or _CREDIT.match(caption.text_content()):
            caption.drop_tree()
        else:
            caption.tag = "p"


def _drop_repeated_title(body: Any, title: str) -> None:
    """The page's headline at the top of the body says again what the archived file's title says."""
    first = next(iter(body), None)
    if first is not None and first.tag == "head" and title and _words(first) == _words(title):
        from trafilatura.xml import delete_element

        delete_element(first)


def _words(text: Any) -> list[str]:
    """The words of a string or of an element's text, as a reader compares two headlines: case,
    punctuation and spacing aside."""
    flat = text if isinstance(text, str) else "".join(text.itertext())
    return _WORD.findall(unicodedata.normalize("NFKC", flat).casefold())


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
