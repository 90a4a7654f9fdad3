"""Which feeds a web page names: `<link rel="alternate" type="…" href="…">`, in page order.

A pure function of the page's bytes and URL. The standard library's HTML parser
is enough (and forgiving): only `<base>` and `<link>` matter.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

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
            self.base, self._based = urljoin(self.base, values["href"]), True
        if tag != "link" or "alternate" not in values.get("rel", "").lower().split():
            return
        kind = values.get("type", "").split(";")[0].strip().lower()
        href = values.get("href", "")
        if kind in FEED_TYPES and href:
            url = urljoin(self.base, href)
            if urlsplit(url).scheme in ("http", "https"):
                self.links.append(FeedLink(url, kind, values.get("title", "")))



def feed_links(page: bytes, page_url: str, encoding: str = "utf-8") -> list[FeedLink]:
    """The page's alternate feed links, absolute, in page order, each URL once."""
    parser = _Links(page_url)
    parser.feed(page.decode(encoding, errors="replace"))
    parser.close()
    seen: set[str] = set()
    unique = []
    for link in parser.links:
        if link.url not in seen:
            seen.add(link.url)
            unique.append(link)
    return unique
