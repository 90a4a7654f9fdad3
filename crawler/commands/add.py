"""`feed-archiver add URL [--name N] [--category C]...`: one feed, proven before it is written.

URL may be the feed itself, a web page that names its feeds in
`<link rel="alternate">` (the first that reads as a feed is taken, the others
are listed), or `rsshub:/route`. Nothing is written until one fetch and one
parse, the same the crawl makes, show that the feed is a feed.

A page is anyone's: only its first `MAX_TRIED` feed links are fetched (a page
naming 50,000 took 99 s, one fetch each), and they are URLs found on a page, kept
off private addresses as a feed's page and image URLs are (`allow_private_network`
in `defaults:`, else allowed only when the page itself is on a private address).
"""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import dataclass, field
from typing import TextIO
from urllib.parse import urlsplit

from crawler.config import ConfigDocument, Settings, check_no_control, unique_name, url_key
from crawler.errors import ConfigError, FetchError, ParseError
from crawler.fetch import Clients, FeedLink, Fetcher, absolute, feed_links
from crawler.models import FetchResult, ParsedFeed
from crawler.pipeline import FEED_ACCEPT
from crawler.reader import parse_feed

EXIT_ADDED, EXIT_NO_FEED, EXIT_USAGE = 0, 1, 2
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # as the config refuses them
MAX_TRIED = 5  # feed links fetched, in page order
MAX_LISTED = 20  # the page's other feed links printed, then how many more


@dataclass
class Found:
    """What a URL led to: the feed (if any), and the page's other feed links."""

    url: str = ""
    feed: ParsedFeed | None = None
    others: list[FeedLink] = field(default_factory=list)  # with a feed: the rest; without: those not tried
    problem: str = ""


def add_feed(
    settings: Settings,
    target: str,
    name: str | None = None,
    categories: tuple[str, ...] = (),
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Add the feed `target` leads to; 0 added (or already there), 1 no feed found, 2 bad usage."""
    out, err = out or sys.stdout, err or sys.stderr
    doc = ConfigDocument.open(settings.config_path)
    url, route, problem = _target(doc, target)
    problem = problem or _usage_problem(doc, name, categories)
    if problem:
        print(problem, file=err)
        return EXIT_USAGE
    known = doc.feed_urls()
    if url_key(url) in known:
        print(f"{url} is already in the config as {known[url_key(url)]!r}; nothing changed", file=out)
        return EXIT_ADDED

    found = asyncio.run(_find_feed(settings, url))
    if found.feed is None and "://" not in target and not route:
        # `add example.com/blog`: https first, as a browser would, then plain http.
        plain = asyncio.run(_find_feed(settings, "http://" + url.removeprefix("https://")))
        if plain.feed is not None:
            url, found = plain.url, plain
    if found.feed is None:
        print(f"{target}: {found.problem}", file=err)
        _list(found.others, "not tried", out)
        return EXIT_NO_FEED
    return _write(settings, found, name, route if found.url == url else None, categories, out, err)


def _target(doc: ConfigDocument, target: str) -> tuple[str, str | None, str]:
    """(URL, route or None, problem) for the command's URL argument."""
    if target.startswith("rsshub:"):
        route = target.removeprefix("rsshub:")
        if not route.startswith("/") or not doc.rsshub_bases():
            return "", None, f"{target}: write an RSSHub route as rsshub:/path (e.g. rsshub:/aljazeera/news)"
        return doc.rsshub_bases()[0] + route, route, ""
    url = target.strip()
    if "://" not in url:  # `example.com/blog`, as people write addresses
        url = "https://" + url
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError:  # `http://[::1`
        parts, hostname = urlsplit(""), None
    if parts.scheme not in ("http", "https") or not hostname or absolute(url) is None:  # a port over 65535
        return "", None, f"{target}: not an http:// or https:// URL (or rsshub:/route)"
    try:
        check_no_control(url)
    except ValueError as exc:
        return "", None, str(exc)
    return url, None, ""


def _usage_problem(doc: ConfigDocument, name: str | None, categories: tuple[str, ...]) -> str:
    if any(not c.strip() for c in categories):
        return "--category: a category cannot be empty"
    for flag, value in [("--name", name or ""), *(("--category", c) for c in categories)]:
        try:
            check_no_control(value)
        except ValueError as exc:
            return f"{flag}: {exc}"
    if name is not None and name in doc.names():
        return f"--name: a feed named {name!r} is already in the config"
    return ""


def _write(settings: Settings, found: Found, name: str | None, route: str | None, categories: tuple[str, ...],
           out: TextIO, err: TextIO) -> int:
    """Write the feed into the config as it is now (read again under the edit lock: the fetch took
    time, another edit may have landed meanwhile) and report it."""
    assert found.feed is not None
    feed = found.feed
    try:
        with ConfigDocument.edit(settings.config_path) as doc:
            known = doc.feed_urls()
            if url_key(found.url) in known:
                print(f"{found.url} is already in the config as {known[url_key(found.url)]!r}; nothing changed",
                      file=out)
                return EXIT_ADDED
            taken = doc.names()
            if name is not None and name in taken:
                print(f"--name: a feed named {name!r} was added to the config while this feed was fetched; "
                      "nothing changed", file=err)
                return EXIT_USAGE
            name = name or unique_name(feed.title, taken, fallback=urlsplit(found.url).hostname or "feed")
            route = route or doc.route_of(found.url)
            site = feed.link if _is_site(feed.link, found.url) else None
            title = " ".join(_CONTROL.sub(" ", feed.title).split()) or None  # a line break in a title
            doc.add_feed(name, url=None if route else found.url, route=route, categories=categories, site=site,
                         title=title)
            doc.save()
    except ConfigError as exc:
        print(str(exc).replace("\n", " "), file=err)
        return EXIT_USAGE
    where = f"route {route}" if route else found.url
    entries = f"{len(feed.entries)} {'entry' if len(feed.entries) == 1 else 'entries'}"
    print(f"added {name!r}: {where} ({feed.title or 'untitled'}, {entries})", file=out)
    _list(found.others, "also on the page", out)
    return EXIT_ADDED


def _list(links: list[FeedLink], label: str, out: TextIO) -> None:
    for link in links[:MAX_LISTED]:
        print(f"{label}: {link.url} ({link.type}{', ' + link.title if link.title else ''})", file=out)
    if len(links) > MAX_LISTED:
        print(f"... and {len(links) - MAX_LISTED} more", file=out)


async def _find_feed(settings: Settings, url: str) -> Found:
    async with Clients(settings.http) as clients:
        fetcher = Fetcher(clients, settings.http)
        try:
            result = await _get(fetcher, url)
        except FetchError as exc:
            return Found(problem=f"cannot fetch it: {exc}")
        try:
            return Found(url=url, feed=_parse(result))
        except ParseError as exc:
            not_a_feed = exc
        links = feed_links(result.body, result.url, _charset(result))
        if not links:
            return Found(problem=f"no feed found: {not_a_feed.message}, and it has no <link rel=\"alternate\"> "
                                 "to a feed")
        # The links are the page's, not the user's: as for a feed's pages and images.
        guarded = (not settings.allow_private_network if settings.allow_private_network is not None
                   else not await fetcher.is_private(url))  # the URL given, as pipeline._guarded
        problems = []
        for index, link in enumerate(links[:MAX_TRIED]):
            try:
                feed = _parse(await _get(fetcher, link.url, guarded=guarded))
            except (FetchError, ParseError) as exc:
                problems.append(str(exc))
                continue
            return Found(url=link.url, feed=feed, others=links[:index] + links[index + 1:])
        named = f"the page names {len(links)} feed{'s' if len(links) > 1 else ''}"
        if len(links) <= MAX_TRIED:
            return Found(problem=f"no feed found: {named}; none could be read (first: {problems[0]})")
        return Found(problem=f"no feed found: {named}; the first {MAX_TRIED} could not be read (first: "
                             f"{problems[0]}); not tried: {len(links) - MAX_TRIED} (listed on stdout)",
                     others=links[MAX_TRIED:])


async def _get(fetcher: Fetcher, url: str, *, guarded: bool = False) -> FetchResult:
    result, _ = await fetcher.get(url, accept=FEED_ACCEPT, kind="feed", guarded=guarded)
    return result


def _parse(result: FetchResult) -> ParsedFeed:
    """`parse_feed`, with a charset the parser cannot decode with (`undefined`, `idna`) one
    `ParseError` too."""
    try:
        return parse_feed(result)
    except (UnicodeError, LookupError) as exc:
        raise ParseError(result.url, f"cannot decode it as its charset says ({exc})") from None


def _is_site(link: str, feed_url: str) -> bool:
    """Whether the feed's own link is its site's page (parsers fall back to the feed's URL)."""
    parts = urlsplit(link)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and url_key(link) != url_key(feed_url)


def _charset(result: FetchResult) -> str:
    """The charset the headers name (`feed_links` falls back to UTF-8 when it names none it can use)."""
    for param in result.content_type.split(";")[1:]:
        key, _, value = param.strip().partition("=")
        if key.lower() == "charset" and value.strip():
            return value.strip().strip('"')
    return "utf-8"
