"""Which article an item is: the one place that says when two items are the same entry.

An entry is one article of one feed, known by its id and by its canonical link (DESIGN.md,
"Revisions and identity"). Feeds lie about both: a guid changes from one poll to the next,
a link grows `utm_*` parameters, or every item carries the same guid. So:

- `canonical_link`: scheme and host lower-cased, default port, fragment and tracking
  parameters dropped; the rest of the URL kept byte for byte.
- `distinct`: the items of one document, each article once; an id shared by items with
  different links identifies nothing, and those items are known by their canonical links.
- A new id whose canonical link matches a stored entry of the same feed is that entry:
  `StateStore.known_entries` answers by id, then by alias, then by canonical link, then (rows
  written before links were stored) by `crawler.store.legacy_fingerprint`.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import replace

from crawler.fetch import split
from crawler.models import FeedEntry

TRACKING_PARAMETERS = frozenset({"fbclid", "gclid", "mc_cid", "mc_eid", "igshid", "spm"})
DEFAULT_PORTS = {"http": 80, "https": 443}
# Lower-case scheme and host, no default port, no userinfo, query or fragment: nothing to change.
# A pattern, not a compiled regex: `re` compiles it on first use (a poll answered 304 never has one).
_ALREADY_CANONICAL = r"https?://[a-z0-9][a-z0-9.-]*(?::(?!80/|443/)[0-9]{1,5})?/[^?#\s]*\Z"


def _tracking(pair: str) -> bool:
    key = pair.split("=", 1)[0].lower()
    return key.startswith("utm_") or key in TRACKING_PARAMETERS


def canonical_link(url: str) -> str:
    """The form of `url` that names the same page whatever campaign or anchor led to it; '' for no
    URL. The query's other parameters keep their order and spelling: some sites route on them."""
    if not url:
        return ""
    if re.match(_ALREADY_CANONICAL, url):  # most links: checked at a tenth of the cost of splitting
        return url
    parts = split(url)
    if parts is None:
        return url
    scheme = parts.scheme.lower()
    netloc = parts.netloc
    if parts.hostname is not None:
        host = parts.hostname  # already lower-cased
        if ":" in host:
            host = f"[{host}]"
        userinfo = netloc.rpartition("@")[0] + "@" if "@" in netloc else ""
        port = parts.port
        netloc = userinfo + host + (f":{port}" if port is not None and port != DEFAULT_PORTS.get(scheme) else "")
    query = parts.query
    if query:
        query = "&".join(pair for pair in query.split("&") if pair and not _tracking(pair))
    if not scheme:
        return url.split("#", 1)[0]
    path = parts.path or ("/" if netloc else "")
    return f"{scheme}://{netloc}{path}" + (f"?{query}" if query else "")


def without_tracking(url: str) -> str:
    """`url` without its tracking parameters (`utm_*`, `fbclid`, ...), everything else as it was:
    the link an archived file shows, as a reader would share it."""
    if "?" not in url:
        return url
    rest, hash_, fragment = url.partition("#")
    base, _, query = rest.partition("?")
    kept = "&".join(pair for pair in query.split("&") if pair and not _tracking(pair))
    return base + (f"?{kept}" if kept else "") + hash_ + fragment


def distinct(entries: Iterable[FeedEntry]) -> tuple[FeedEntry, ...]:
    """Each article of one document once, with its canonical link filled in (the parser fills it
    in as it builds each entry, which costs less than copying the entry here).

    Items that share an id but not a link are told apart by their links (the id becomes the
    canonical link); an item whose id or canonical link an earlier item has is that item again.
    """
    items = [e if e.canonical or not e.link else replace(e, canonical=canonical_link(e.link)) for e in entries]
    links_of: dict[str, set[str]] = {}
    for item in items:
        links_of.setdefault(item.id, set()).add(item.canonical)
    kept: list[FeedEntry] = []
    seen_ids: set[str] = set()
    seen_links: set[str] = set()
    for item in items:
        if len(links_of[item.id]) > 1 and item.canonical:
            item = replace(item, id=item.canonical)
        if item.id in seen_ids or (item.canonical and item.canonical in seen_links):
            continue
        seen_ids.add(item.id)
        if item.canonical:
            seen_links.add(item.canonical)
        kept.append(item)
    return tuple(kept)
