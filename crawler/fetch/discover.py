"""Which feeds a web page names: `<link rel="alternate" type="…" href="…">`, in page order.

A pure function of the page's bytes and URL. The standard library's HTML parser
is enough (and forgiving): only `<base>` and `<link>` matter. The page is anyone's:
a `<base>` or `href` that is no URL (`http://[::1`, a port out of range) is
passed over, and a charset that cannot decode it (unknown, `undefined`, `idna`,
not a text encoding) gives way to UTF-8.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urlsplit

from crawler.fetch.urls import WEB_SCHEMES, absolute

FEED_TYPES = frozenset({
    "application/rss+xml", "application/atom+xml", "application/feed+json", "application/json",
    "application/rdf+xml", "application/xml", "text/xml",
})


@dataclass(frozen=True)
class FeedLink:
    url: str
    type: str
    title: str


class _Links(HTMLParser):
    def __init__(self, page_url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.base = page_url
        self.links: list[FeedLink] = []
        self._based = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: (value or "").strip() for key, value in attrs}
        if tag == "base" and values.get("href") and not self._based:
            self._based = True  # only the first <base> counts, even one that is no URL
            base = _http_url(self.base, values["href"])
            self.base = base or self.base
        if tag != "link" or "alternate" not in values.get("rel", "").lower().split():
            return
        kind = values.get("type", "").split(";")[0].strip().lower()
        href = values.get("href", "")
        if kind in FEED_TYPES and href and (url := _http_url(self.base, href)):
            self.links.append(FeedLink(url, kind, values.get("title", "")))


def _http_url(base: str, href: str) -> str | None:
    """`href` resolved against `base`, when that is an http(s) URL that can be fetched."""
    url = absolute(href, base)
    return url if url is not None and urlsplit(url).scheme in WEB_SCHEMES else None


# Python's text codecs that are no character set a document could be in (UTF-7 is one, but
# browsers no longer read it: a page in it is a trick).
_NOT_CHARSETS = frozenset({"unicode-escape", "raw-unicode-escape", "idna", "punycode", "undefined", "utf-7"})


def character_set(name: str) -> str | None:
    """Python's codec name for the character set `name` (a charset label, an XML encoding
    declaration), or None when it names none: unknown, a transform (`rot13`, `base64`) or one
    of `_NOT_CHARSETS`."""
    try:
        codec = codecs.lookup(name)
    except (LookupError, ValueError):  # ValueError: a NUL in the name
        return None
    return codec.name if codec._is_text_encoding and codec.name not in _NOT_CHARSETS else None


def _decode(page: bytes, encoding: str) -> str:
    try:
        return page.decode(character_set(encoding) or "utf-8", errors="replace")
    except UnicodeError:  # a codec that refuses errors="replace"
        return page.decode("utf-8", errors="replace")


def feed_links(page: bytes, page_url: str, encoding: str = "utf-8") -> list[FeedLink]:
    """The page's alternate feed links, absolute, in page order, each URL once."""
    parser = _Links(page_url)
    parser.feed(_decode(page, encoding))
    parser.close()
    seen: set[str] = set()
    unique = []
    for link in parser.links:
        if link.url not in seen:
            seen.add(link.url)
            unique.append(link)
    return unique
