"""Which Referer an image request carries, and what to try when a host refuses it.

Image hosts that fight hotlinking check the Referer: most want the article page (what a
browser sends, and our default), some want their own site, a few want none at all.
`image_referers:` names the exceptions per image host; a 403 is then tried once with the
image's own origin as Referer and once with none, since that is what the hosts users meet
accept when the article page does not do. Pure: no I/O, no config layer; imported only
when an image is to be fetched (or `image_referers:` checked), not by a re-poll.

>>> attempts({"*.sinaimg.cn": "https://weibo.com/"}, "https://wx1.sinaimg.cn/a.jpg", "https://example.com/post")
('https://weibo.com/', 'https://wx1.sinaimg.cn/', None)
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

ORIGIN = "origin"
NONE = "none"


def check_host_key(key: str) -> str:
    """A key of `image_referers:`: a host name without port, or `*.` and one; raises ValueError."""
    host = key.strip().lower()
    bare = host.removeprefix("*.")
    if not bare or "*" in bare or ":" in bare or "/" in bare or any(c.isspace() for c in bare):
        raise ValueError(f"{key!r} is not a host name (like img.example.com) or *.example.com")
    return host


def check_value(value: str) -> str:
    """A value of `image_referers:`: an http(s) URL, `origin` or `none`; raises ValueError."""
    if value.lower() in (ORIGIN, NONE):
        return value.lower()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http(s) URL, origin or none")
    return value


def attempts(rules: Mapping[str, str], image_url: str, article_url: str) -> tuple[str | None, ...]:
    """The Referers to try in order (None: send none): the one `rules` (`image_referers:`,
    keys checked and lower-cased) give for the image's host, else the article page; then,
    after a 403, the image's origin, then none; each at most once."""
    origin = _origin(image_url)
    first = _resolve(_rule_for(rules, image_url), article_url, origin)
    tries: list[str | None] = [first]
    for fallback in (origin, None):
        if fallback not in tries:
            tries.append(fallback)
    return tuple(tries)


def _rule_for(rules: Mapping[str, str], image_url: str) -> str | None:
    if not rules:
        return None
    host = (urlsplit(image_url).hostname or "").lower()
    if host in rules:
        return rules[host]
    # The nearest wildcard: *.img.example.com before *.example.com.
    labels = host.split(".")
    for start in range(1, len(labels)):
        rule = rules.get("*." + ".".join(labels[start:]))
        if rule is not None:
            return rule
    return None


def _resolve(rule: str | None, article_url: str, origin: str | None) -> str | None:
    if rule is None:
        return article_url or None
    if rule == ORIGIN:
        return origin
    if rule == NONE:
        return None
    return rule


def _origin(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}/"
