"""URLs read from feeds and pages, parsed in one place: a malformed one is "no URL", never an exception.

Feeds are written by strangers: `http://[::1`, `//[`, a port of 99999 or a host that is
not valid IDNA (`https://xn--/x.png`) make `urljoin`, `urlsplit(...).port` or httpx raise
`ValueError`, `UnicodeError` or `httpx.InvalidURL`, deep inside whatever stage touched the
URL first. Every URL the project reads (entry links, guids used as links, `src`, `srcset`,
`href`, `poster`, redirect targets) goes through `absolute` instead, which answers None for
those; the caller then keeps the text, drops the image or fails that one request.
Pure: no I/O. httpx parses here because httpx is what will fetch the URL: what it accepts
here, it accepts later.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urljoin, urlsplit

import httpx

WEB_SCHEMES = ("http", "https")
_TAB_NEWLINE = str.maketrans("", "", "\t\n\r")
_PLAIN_HOST = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_CONTROL = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def absolute(ref: str, base: str = "") -> str | None:
    """`ref` resolved against `base` (itself possibly malformed), or None when either is malformed.

    A reference with another scheme (`mailto:`, `data:`, `javascript:`) comes back resolved as it
    is: whether to keep it is the sanitizer's call. An http(s) URL must name a host that httpx
    can connect to, on a port that exists.
    """
    ref = ref.translate(_TAB_NEWLINE).strip()  # as browsers do
    try:
        try:
            url = urljoin(base, ref) if base else ref
        except ValueError:  # a malformed base: an absolute reference still stands on its own
            url = ref
            if not urlsplit(ref).scheme:
                return None
        if _CONTROL.search(url):  # no parser agrees on these, and lxml cannot even hold them
            return None
        parts = urlsplit(url)
        _ = parts.port  # raises for a port out of range or not a number
        if parts.scheme.lower() in WEB_SCHEMES:
            host = parts.hostname
            if not host:
                return None
            if not _PLAIN_HOST.fullmatch(host) or "xn--" in host:
                # IDNA (httpx decodes it on first use) and what httpx refuses in a host; a plain
                # ASCII name has neither, and skips the cost (most of a re-poll's URL checks).
                _ = httpx.URL(url).host
    except (ValueError, UnicodeError, httpx.InvalidURL):
        return None
    return url


def wire_form(url: str) -> str | None:
    """`url` as HTTP carries it in a header (a Referer): the host in IDNA, the path and query
    percent-encoded, all ASCII, as browsers send it; None when it is malformed.

    >>> wire_form("https://bücher.example/新闻?q=ü")
    'https://xn--bcher-kva.example/%E6%96%B0%E9%97%BB?q=%C3%BC'
    """
    try:
        return str(httpx.URL(url))
    except (ValueError, UnicodeError, httpx.InvalidURL):
        return None


def host_of(url: str) -> str:
    """The lower-case host of `url`, or '' when it has none or is malformed."""
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def shown(url: str, limit: int = 200) -> str:
    """A URL fit for a log line: quoted, control characters escaped, cut to `limit` characters."""
    text = repr(url[:limit])
    return text if len(url) <= limit else text + "..."


def split(url: str) -> SplitResult | None:
    """`url`'s parts, or None when it is malformed (a port out of range, a broken IPv6 host)."""
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        return None
    return parts
