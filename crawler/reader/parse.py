"""Feed bytes -> `ParsedFeed`: RSS 0.9x/1.0/2.0 and Atom through feedparser, JSON Feed by hand.

Pure: no I/O and no clock. Entries come out with a stable id, a plain-text
title, UTC dates and absolute links; each article once (`identity.distinct`).
"""

from __future__ import annotations

import calendar
import hashlib
import html
import json
import math
import re
import time
from datetime import UTC, datetime
from typing import Any

from crawler.errors import ParseError
from crawler.fetch import absolute, shown
from crawler.models import FeedEntry, FetchResult, ParsedFeed
from crawler.reader.identity import canonical_link, distinct
from crawler.reader.text import scrub, visible_text

JSON_FEED_VERSIONS = ("https://jsonfeed.org/version/1", "https://jsonfeed.org/version/1.1")
# A feed's <ttl> is a hint about when to come back; more than a week is a typo or a joke (and
# twenty digits of minutes do not fit a timedelta).
MAX_TTL_SECONDS = 7 * 86400.0
# Tags a title written as HTML carries; `a <b> c` in a plain title is text, so only real tag names.
# A pattern, compiled by `re` on first use: most titles have no "<" and never need it.
_HTML_TAG = r"(?i)</?(?:a|abbr|b|br|cite|code|em|font|i|mark|p|q|s|script|small|span|strong|style|sub|sup|u)\b[^<>]*>"


def parse_feed(result: FetchResult) -> ParsedFeed:
    """Read a fetched feed; raises `ParseError` when it is not a feed at all."""
    body = result.body
    if not body.strip():
        raise ParseError(result.url, "empty response where a feed was expected")
    if _looks_like_json(body, result.content_type):
        return parse_json_feed(body, result.url)
    return _parse_xml_feed(result)


def _looks_like_json(body: bytes, content_type: str) -> bool:
    if "json" in content_type.lower():
        return True
    return body.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _parse_xml_feed(result: FetchResult) -> ParsedFeed:
    headers = {"content-location": result.url}
    if result.content_type:
        headers["content-type"] = result.content_type
    import feedparser  # here, not at the top: a re-poll of unchanged feeds never needs it

    # Our sanitizer runs on everything later and find_images resolves URLs against the entry's
    # link; feedparser's own passes over the HTML would only double the work (its sgmllib
    # sanitizer cost most of a feed's parse time).
    warnings: list[str] = []
    try:
        parsed = feedparser.parse(
            result.body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except (UnicodeError, LookupError) as exc:
        # A charset no text can be decoded with (`charset=undefined` names Python's codec that
        # refuses everything): the header says nothing, so the document is read as if it had
        # none, from its BOM and XML declaration, the way feedparser reads a feed with no charset.
        if "charset" not in headers.get("content-type", "").lower():
            raise ParseError(result.url, f"not a readable feed: {exc}") from None
        headers["content-type"] = _without_charset(headers["content-type"])
        warnings.append(f"ignored the server's charset, which decodes nothing ({exc}): read the feed's own")
        parsed = feedparser.parse(
            result.body, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    if not parsed.entries and (not parsed.version or _cut_short(parsed.get("bozo_exception"))):
        # A document feedparser names a format for (rss, rdf:RDF, feed) is a feed even when it is
        # not well formed (an undefined entity, a wrong declared encoding): with no items it is
        # an empty poll, not a failure. One that ends before its root element does was cut off.
        head = result.body[:512].lstrip().lower()
        if head.startswith((b"<!doctype html", b"<html")) or b"<html" in head:
            raise ParseError(result.url, "an HTML page, not a feed")
        problem = parsed.get("bozo_exception")
        raise ParseError(result.url, f"not a readable feed: {problem or 'no feed elements found'}")
    feed = parsed.feed
    base = _link(feed.get("link"), result.url, warnings) or result.url
    entries = [_entry(raw, base, warnings) for raw in parsed.entries]
    return ParsedFeed(
        title=_plain_title(feed.get("title_detail"), feed.get("title", "")),
        link=base,
        entries=distinct(entries),
        ttl_seconds=_ttl(feed.get("ttl")),
        warnings=tuple(warnings),
    )


def _without_charset(content_type: str) -> str:
    """A Content-Type value without its charset parameter: `application/rss+xml; charset=x` -> `application/rss+xml`."""
    return ";".join(p for p in content_type.split(";") if not p.strip().lower().startswith("charset"))


def _cut_short(problem: object) -> bool:
    """Whether the XML parser ran out of document (a transfer cut off), not into a loose one."""
    return problem is not None and str(problem).endswith(("no element found", "unclosed token"))


def _link(value: Any, base: str, warnings: list[str]) -> str:
    """An absolute link, or '' (with a warning) when the feed's is malformed."""
    if not isinstance(value, str) or not value.strip():
        return ""
    url = absolute(scrub(value), base)
    if url is None:
        warnings.append(f"malformed link {shown(value)} left out")
        return ""
    return url


def _str(value: Any) -> str:
    """A string field of feedparser's, writable: every string a feed gives goes through here or
    `_text` (lone surrogates from a JSON `\\ud800` escape, NUL), so no later stage meets one."""
    return scrub(value) if isinstance(value, str) else ""


def _entry(raw: Any, base: str, warnings: list[str]) -> FeedEntry:
    link = _link(raw.get("link"), base, warnings)
    title = _plain_title(raw.get("title_detail"), raw.get("title", ""))
    published = _struct_to_utc(raw.get("published_parsed"))
    updated = _struct_to_utc(dict.get(raw, "updated_parsed"))  # .get would alias it to published
    contents = [_str(c.get("value")) for c in raw.get("content", []) if c.get("value")]
    content_html = max(contents, key=len) if contents else ""
    summary_html = _str(raw.get("summary"))
    entry_id = _str(raw.get("id")) or link or synthetic_id(title, published or updated)
    return FeedEntry(
        id=entry_id.strip(),
        link=link,
        canonical=canonical_link(link),
        title=title,
        published=published,
        updated=updated,
        author=_author(raw),
        content_html=content_html,
        summary_html=summary_html,
    )


def _author(raw: Any) -> str | None:
    """The author's name: RSS writes `editor@example.org (Ed Itor)`, and feedparser reads the name
    out of it; an address alone stays what there is."""
    detail = raw.get("author_detail")
    name = _str(detail.get("name")) if isinstance(detail, dict) else ""
    return name.strip() or _str(raw.get("author")).strip() or None


def synthetic_id(title: str, when: datetime | None) -> str:
    """An id for an entry that has neither guid nor link: stable across polls."""
    stamp = when.isoformat() if when else ""
    return "sha1:" + hashlib.sha1(f"{title}\x00{stamp}".encode()).hexdigest()


def _plain_title(detail: Any, value: str) -> str:
    """Titles as the text a browser shows. Given as HTML (so typed, or an RSS title carrying
    tags that feedparser took for text): markup and script dropped, entities decoded once."""
    value = _str(value)
    if not value:
        return ""
    typed_html = detail and detail.get("type") in ("text/html", "application/xhtml+xml")
    if typed_html or ("<" in value and re.search(_HTML_TAG, value)):
        return scrub(visible_text(value))
    return value.strip()


def _struct_to_utc(value: time.struct_time | None) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None


def _ttl(value: Any) -> float | None:
    try:
        minutes = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if not math.isfinite(minutes) or minutes <= 0:
        return None
    return min(minutes * 60, MAX_TTL_SECONDS)


# -- JSON Feed 1.0 / 1.1 (https://jsonfeed.org/version/1.1) --------------------------------------


def parse_json_feed(body: bytes, url: str) -> ParsedFeed:
    """Our own reader for JSON Feed, which feedparser does not understand."""
    try:
        document = json.loads(body.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ParseError(url, f"invalid JSON: {exc}") from None
    if not isinstance(document, dict) or not str(document.get("version", "")).startswith(
        "https://jsonfeed.org/version/"
    ):
        raise ParseError(url, "JSON that is not a JSON Feed (no jsonfeed.org version)")
    items = document.get("items")
    if not isinstance(items, list):
        raise ParseError(url, "JSON Feed without an items list")
    warnings: list[str] = []
    base = _link(document.get("home_page_url"), url, warnings) or url
    feed_author = _json_author(document)
    entries = [_json_entry(item, base, feed_author, warnings) for item in items if isinstance(item, dict)]
    return ParsedFeed(
        title=_text(document.get("title")),
        link=base,
        entries=distinct(e for e in entries if e.id),
        warnings=tuple(warnings),
    )


def _json_entry(item: dict[str, Any], base: str, feed_author: str | None, warnings: list[str]) -> FeedEntry:
    link = _link(_text(item.get("url")) or _text(item.get("external_url")), base, warnings)
    title = _text(item.get("title"))
    published = _iso_date(item.get("date_published"))
    updated = _iso_date(item.get("date_modified"))
    content_html = _text(item.get("content_html"))
    if not content_html and item.get("content_text"):
        paragraphs = _text(item.get("content_text")).split("\n\n")
        content_html = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs if p.strip())
    raw_id = item.get("id")
    entry_id = scrub(str(raw_id)).strip() if raw_id not in (None, "") else link or synthetic_id(title, published)
    return FeedEntry(
        id=entry_id,
        link=link,
        canonical=canonical_link(link),
        title=title,
        published=published,
        updated=updated,
        author=_json_author(item) or feed_author,
        content_html=content_html,
        summary_html=html.escape(_text(item.get("summary"))),
    )


def _json_author(obj: dict[str, Any]) -> str | None:
    authors = obj.get("authors")
    if isinstance(authors, list) and authors and isinstance(authors[0], dict):
        return _text(authors[0].get("name")) or None
    author = obj.get("author")
    if isinstance(author, dict):
        return _text(author.get("name")) or None
    return None


def _text(value: Any) -> str:
    return scrub(value).strip() if isinstance(value, str) else ""


def _iso_date(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):  # "9999-12-31T23:59:59-01:00" is past datetime's end in UTC
        return None
