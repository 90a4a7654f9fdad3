"""`feed-archiver import FILE.opml` and `feed-archiver export`.

Import adds every usable outline to the config and says what it did with each
of the others, a line each: nothing is dropped silently. A URL on one of the
config's RSSHub instances comes in as a `route:`, which is also how an export
(routes at their URL on the first instance) imports back into the same config
as nothing new.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from crawler.config import (
    MAX_OPML_BYTES,
    ConfigDocument,
    ExportFeed,
    OpmlError,
    Settings,
    existing_urls,
    read_opml,
    unique_name,
    url_key,
    write_opml,
)

EXIT_OK, EXIT_BAD_INPUT = 0, 2


def import_opml(settings: Settings, opml_path: str, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Add the feeds of `opml_path` to the config; 0 (also when some were skipped), 2 for a bad file."""
    out, err = out or sys.stdout, err or sys.stderr
    started = time.monotonic()
    try:
        outlines = read_opml(_read_capped(Path(opml_path)))
    except (OpmlError, OSError) as exc:
        print(f"{opml_path}: {_reason(exc)}", file=err)
        return EXIT_BAD_INPUT
    doc = ConfigDocument.open(settings.config_path)
    known = existing_urls((feed.name, feed.url) for feed in settings.feeds)
    routes = doc.routes()
    taken = doc.names()
    added = skipped = 0
    for feed in outlines.feeds:
        key = url_key(feed.xml_url)
        route = doc.route_of(feed.xml_url)
        if key in known or route in routes:
            print(f"skipped {feed.xml_url}: already in the config as {known.get(key) or routes[str(route)]!r}",
                  file=out)
            skipped += 1
            continue
        name = unique_name(feed.title, taken, fallback=_host(feed.xml_url))
        doc.add_feed(name, url=None if route else feed.xml_url, route=route, categories=feed.categories,
                     site=feed.html_url if _is_http(feed.html_url) else None)
        known[key] = name
        if route:
            routes[route] = name
        added += 1
    for outline in outlines.unusable:
        print(f"unusable {outline.text!r}: {outline.why}", file=out)
    if added:
        doc.save()
    print(f"{opml_path}: {added} added, {skipped} skipped, {len(outlines.unusable)} unusable "
          f"({time.monotonic() - started:.2f}s)", file=out)
    return EXIT_OK


def export_opml(settings: Settings, out: TextIO | None = None) -> int:
    """The config's feeds as OPML 2.0 (a `route:` feed at its URL on the first RSSHub instance)."""
    out = out or sys.stdout
    feeds = [ExportFeed(f.name, f.url, f.site, f.categories) for f in settings.feeds]
    out.write(write_opml(feeds, title=f"feed-archiver: {settings.config_path.name}", now=datetime.now(UTC)))
    return EXIT_OK


def _read_capped(path: Path) -> bytes:
    """The file, or just past the OPML size limit of it: a 2 GB file is refused without reading it all."""
    with path.open("rb") as file:
        return file.read(MAX_OPML_BYTES + 1)


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return f"cannot read: {exc.strerror or exc}"
    return str(exc)


def _host(url: str) -> str:
    return urlsplit(url).hostname or "feed"


def _is_http(url: str | None) -> bool:
    try:
        parts = urlsplit(url or "")
        parts.port  # noqa: B018  (raises for a port out of range)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
