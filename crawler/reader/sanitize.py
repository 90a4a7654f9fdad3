"""Make article HTML safe to publish: no scripts, handlers, `javascript:` URLs or unknown iframes.

Pure. Everything that reaches the archive goes through `sanitize_html`, whether
it came from the feed (feedparser's cleaning does not cover JSON Feed) or from
trafilatura (which keeps `javascript:` links).
"""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Iterable
from typing import NamedTuple

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


# -- bounded nesting ----------------------------------------------------------------------------
# nh3's parser (html5ever) follows the HTML standard, whose tree building scans the stack of open
# elements (and the list of active formatting elements) for many start tags: its work is the
# number of tags times the depth, so `'<div>' * 100_000` took it 50 s, and 200,000 over 300 s.
# lxml, for its part, stops reading at a depth of 256 and drops the rest. So a big article
# (`article.rewritten`) is first written out again by `bound_nesting`, a single pass that keeps
# at most MAX_DEPTH elements open and closes every element it opens: what the parsers then read
# is nested as we wrote it, as deep as we allowed.

MAX_DEPTH = 200  # Gecko's HTML parser stops nesting at 200 too; no real article comes near it
# Both parsers also check each attribute against the tag's others: 50,000 on one <img> were 13 s.
MAX_ATTRIBUTES = 256

_VOID = frozenset({
    "area", "base", "basefont", "bgsound", "br", "col", "embed", "frame", "hr", "image", "img", "input", "keygen",
    "link", "meta", "param", "source", "track", "wbr",
})
_DROPPED_WITH_TEXT = frozenset({"script", "style", "textarea", "title", "xmp", "noembed", "noframes", "iframe"})
# What a start tag closes when it finds it open on top (the HTML standard's implied end tags).
_CLOSES: dict[str, frozenset[str]] = {
    "p": frozenset({"p"}), "li": frozenset({"li", "p"}), "dd": frozenset({"dd", "dt", "p"}),
    "dt": frozenset({"dd", "dt", "p"}), "option": frozenset({"option"}), "td": frozenset({"td", "th"}),
    "th": frozenset({"td", "th"}), "tr": frozenset({"td", "th", "tr"}),
    "tbody": frozenset({"td", "th", "tr", "thead", "tbody", "tfoot"}),
    "thead": frozenset({"td", "th", "tr", "thead", "tbody", "tfoot"}),
    "tfoot": frozenset({"td", "th", "tr", "thead", "tbody", "tfoot"}),
    "rb": frozenset({"rb", "rt", "rp", "rtc"}), "rt": frozenset({"rb", "rt", "rp"}),
    "rp": frozenset({"rb", "rt", "rp"}),
}
_CLOSES_P = frozenset({
    "address", "article", "aside", "blockquote", "center", "details", "dialog", "dir", "div", "dl", "fieldset",
    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup", "hr", "listing",
    "main", "menu", "nav", "ol", "pre", "search", "section", "summary", "table", "ul",
})
_MARKUP = re.compile(r"<[A-Za-z/!?]")
_WS = "\t\n\f\r "
# A tag as the HTML tokenizer reads it (a ">" inside a quoted value does not end it); possessive
# and atomic throughout, so a tag that never ends costs one scan, not a backtracking search.
_ATTR = rf"(?>[^{_WS}/>=][^{_WS}/=>]*+|=[^{_WS}/=>]*+)(?>[{_WS}]*+=[{_WS}]*+(?>\"[^\"]*+\"|'[^']*+'|[^{_WS}>]++))?"
_TAG = re.compile(rf"<(/?)([A-Za-z][^{_WS}/>]*+)((?>[{_WS}/]++|{_ATTR})*+)>")
_ATTRIBUTE = re.compile(
    rf"([^{_WS}/>=][^{_WS}/=>]*|=[^{_WS}/=>]*)(?:[{_WS}]*=[{_WS}]*(?:\"([^\"]*)\"|'([^']*)'|([^{_WS}>]+)))?"
)
_NAME = re.compile(r"[a-z][a-z0-9-]*\Z")
_ATTRIBUTE_NAME = re.compile(r"[a-z_:][a-z0-9_:.-]*\Z")
_COMMENT_END = re.compile(r"--!?>")
_ASCII_LETTER = re.compile(r"[A-Za-z]")


class Bounded(NamedTuple):
    html: str
    deeper: int = 0  # start tags left out for being nested deeper than the limit
    crowded: int = 0  # tags that had more than MAX_ATTRIBUTES attributes (the rest left out)


def _start_tag(name: str, attributes: str, self_closing: bool) -> tuple[str, bool]:
    parts = [f"<{name}"]
    seen: set[str] = set()
    crowded = False
    for match in _ATTRIBUTE.finditer(attributes):
        attribute = match.group(1).lower()
        if attribute in seen or not _ATTRIBUTE_NAME.match(attribute):
            continue
        if len(seen) == MAX_ATTRIBUTES:
            crowded = True
            break
        seen.add(attribute)
        value = next((v for v in match.group(2, 3, 4) if v is not None), "")
        parts.append(f' {attribute}="{value.replace(chr(34), "&quot;")}"')
    parts.append(f"></{name}>" if self_closing and name not in _VOID else ">")
    return "".join(parts), crowded


def bound_nesting(html: str, limit: int = MAX_DEPTH) -> Bounded:
    """`html` written out again with every element closed, none nested deeper than `limit` and
    none with more than MAX_ATTRIBUTES attributes (their text is kept, and counted). Linear.

    Comments, scripts, styles and the text of `<title>`/`<textarea>` go (the sanitizer drops
    them anyway); attributes are re-quoted, so the parsers read each tag as it was read here.
    """
    out: list[str] = []
    stack: list[str] = []
    open_count: dict[str, int] = {}
    deeper: dict[str, int] = {}  # elements left out, by name, whose end tags are still to come
    dropped = crowded = 0

    def start_tag(name: str, attributes: str, self_closing: bool) -> None:
        nonlocal crowded
        text, cut = _start_tag(name, attributes, self_closing)
        out.append(text)
        crowded += cut
    pos, end = 0, len(html)

    def pop() -> None:
        name = stack.pop()
        open_count[name] -= 1
        out.append(f"</{name}>")

    while pos < end:
        found = _MARKUP.search(html, pos)
        if found is None:
            out.append(html[pos:].replace("<", "&lt;"))
            break
        start = found.start()
        # A "<" left in the text is text to the tokenizer too, but next to what is written after
        # it (a tag left out, then "!--") it could start a comment that hides our end tags.
        out.append(html[pos:start].replace("<", "&lt;"))
        if html.startswith("<!--", start):
            if html.startswith((">", "->"), start + 4):
                pos = html.index(">", start + 4) + 1
                continue
            closing = _COMMENT_END.search(html, start + 4)
            pos = closing.end() if closing else end
            continue
        tag = _TAG.match(html, start)
        if tag is None:
            if html[start + 1] in "!?" or html[start + 1] == "/" and not _ASCII_LETTER.match(html, start + 2):
                closing_at = html.find(">", start)  # a bogus comment, a doctype, `</>`: up to the next ">"
                pos = closing_at + 1 if closing_at >= 0 else end
                continue
            break  # a tag the document ends in: the tokenizer drops it and everything after
        pos = tag.end()
        closing_tag, name, attributes = tag.group(1) == "/", tag.group(2).lower(), tag.group(3)
        if name == "image":
            name = "img"
        if not _NAME.match(name):
            continue
        if closing_tag:
            if deeper.get(name):  # the end of an element left out
                deeper[name] -= 1
            elif open_count.get(name):
                while stack[-1] != name:
                    pop()
                pop()
            continue
        if name in _DROPPED_WITH_TEXT:
            closing = re.compile(rf"</{name}[{_WS}/>]", re.IGNORECASE).search(html, pos)
            pos = closing.start() if closing else end
            if name == "iframe" and len(stack) < limit:
                start_tag(name, attributes, True)
            continue
        if name == "plaintext":
            out.append(htmllib.escape(html[pos:], quote=False))
            break
        self_closing = attributes.endswith("/")
        closes = _CLOSES.get(name)
        while closes and stack and stack[-1] in closes:
            pop()
        if name in _CLOSES_P and stack and stack[-1] == "p":
            pop()
        if len(stack) >= limit and name not in _VOID:  # `<a/>` too: it is written as `<a></a>`
            dropped += 1
            if not self_closing:
                deeper[name] = deeper.get(name, 0) + 1
            continue
        start_tag(name, attributes, self_closing)
        if name not in _VOID and not self_closing:
            stack.append(name)
            open_count[name] = open_count.get(name, 0) + 1
    while stack:
        pop()
    return Bounded("".join(out), dropped, crowded)
