"""Make article HTML safe to publish: no scripts, handlers, `javascript:` URLs or unknown iframes.

Pure. Everything that reaches the archive goes through `sanitize_html`, whether
it came from the feed (feedparser's cleaning does not cover JSON Feed) or from
trafilatura (which keeps `javascript:` links).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import nh3

from crawler.fetch import host_of

_TAGS = (nh3.ALLOWED_TAGS - {"area", "map"}) | {
    "figure", "figcaption", "picture", "iframe", "video", "audio", "source", "section", "main",
}
_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "a": {"href", "hreflang", "title"},
    "img": {"src", "alt", "title", "width", "height", "data-original-src", "referrerpolicy"},
    "iframe": {"src", "width", "height", "allowfullscreen", "frameborder", "title"},
    "video": {"src", "poster", "controls", "width", "height"},
    "audio": {"src", "controls"},
    "source": {"src", "type"},
    "td": set(nh3.ALLOWED_ATTRIBUTES["td"]),
    "th": set(nh3.ALLOWED_ATTRIBUTES["th"]),
}
_URL_ATTRIBUTES = frozenset({"href", "src", "cite", "poster", "data-original-src"})
_SAFE_SCHEMES = frozenset({"http", "https", "mailto", ""})
_EMPTY_IFRAME = re.compile(r"<iframe(?![^>]*\ssrc=)[^>]*>.*?</iframe>", re.DOTALL)


class Sanitizer:
    """An allow-list HTML cleaner.

    >>> Sanitizer(iframe_hosts={"www.youtube.com"}).clean('<p onclick="x()">hi</p>')
    '<p>hi</p>'
    """

    def __init__(self, iframe_hosts: Iterable[str] = ()) -> None:
        self._iframe_hosts = frozenset(h.lower() for h in iframe_hosts)
        self._cleaner = nh3.Cleaner(
            tags=_TAGS,
            attributes=_ATTRIBUTES,
            attribute_filter=self._filter,
            url_schemes={"http", "https", "mailto", "data"},
            link_rel="noopener noreferrer",
        )

    def _filter(self, tag: str, attribute: str, value: str) -> str | None:
        if attribute not in _URL_ATTRIBUTES:
            return value
        scheme = _scheme(value)
        if scheme == "data":
            # Inline images are content; a data: URL anywhere else is a way to smuggle a document in.
            return value if tag == "img" and attribute == "src" and value.lower().startswith("data:image/") \
                and not value.lower().startswith("data:image/svg") else None
        if scheme not in _SAFE_SCHEMES:
            return None
        if tag == "iframe" and attribute == "src":
            return value if host_of(value) in self._iframe_hosts else None
        if attribute == "data-original-src" and scheme not in ("http", "https"):
            return None
        return value

    def clean(self, html: str) -> str:
        cleaned = self._cleaner.clean(html)
        return _EMPTY_IFRAME.sub("", cleaned) if "<iframe" in cleaned else cleaned


def _scheme(url: str) -> str:
    # Browsers ignore control characters and blanks inside a scheme ("java\tscript:"), so do we.
    compact = re.sub(r"[\x00-\x20]", "", url)
    match = re.match(r"([a-zA-Z][a-zA-Z0-9+.\-]*):", compact)
    return match.group(1).lower() if match else ""


def escape_braces(html: str) -> str:
    """Hexo runs `{{ }}` and `{% %}` in post bodies through Nunjucks; entities are inert."""
    return html.replace("{", "&#123;").replace("}", "&#125;")


_LINE_BREAKS = re.compile(r"\r\n?")
_BLANK_LINE = re.compile(r"\n([ \t\f\v]*)\n")
_LEADING_BLANK_LINE = re.compile(r"[ \t\f\v]*\n")
_FENCE = re.compile(r"`{3,}|~{3,}")


def one_html_block(html: str) -> str:
    """The body as one HTML block to Hexo's Markdown renderer, which copies such a block as it is.

    A blank line would end the block, and what follows it would be read as Markdown (four
    spaces of indent make a code block that shows the HTML as text, `<img>` tags included):
    each blank line's newline becomes `&#10;`, the same character to HTML, also inside `<pre>`.
    Hexo turns ``` and ~~~ fences into code blocks before rendering, inside HTML too: their
    first character becomes an entity. HTML reads CR LF and CR as LF anyway.
    """
    if "\r" in html:
        html = _LINE_BREAKS.sub("\n", html)
    if "```" in html or "~~~" in html:  # the check first: the pattern has no literal to scan for
        html = _FENCE.sub(lambda m: ("&#96;" if m.group()[0] == "`" else "&#126;") + m.group()[1:], html)
    # One pass suffices: each match takes the blank line's own newline, the next may start at it.
    html = _BLANK_LINE.sub(r"\n\1&#10;", html)
    if leading := _LEADING_BLANK_LINE.match(html):
        html = leading.group()[:-1] + "&#10;" + html[leading.end():]
    return html
