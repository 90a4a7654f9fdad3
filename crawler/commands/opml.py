"""`feed-archiver import FILE.opml` and `feed-archiver export`.

Import adds every usable outline to the config and says what it did with each
of the others, a line each: nothing is dropped silently. A URL on one of the
config's RSSHub instances comes in as a `route:`, which is also how an export
(routes at their URL on the first instance) imports back into the same config
as nothing new.
"""

from __future__ import annotations

import re
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
    read_opml,
    unique_name,
    url_key,
    write_opml,
)
from crawler.errors import ConfigError

EXIT_OK, EXIT_BAD_INPUT = 0, 2
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def import_opml(settings: Settings, opml_path: str, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Add the feeds of `opml_path` to the config; 0 (also when some were skipped), 2 for a bad file.
    The config is saved before the report is printed: a reader that stops reading early (`| head`)
    ends the report, never the import."""
    out, err = out or sys.stdout, err or sys.stderr
    started = time.monotonic()
    try:
        outlines = read_opml(_read_capped(Path(opml_path)))
    except (OpmlError, OSError) as exc:
        print(f"{opml_path}: {_reason(exc)}", file=err)
        return EXIT_BAD_INPUT
    report: list[str] = []
    added = skipped = 0
    unusable = [f"unusable {outline.text!r}: {outline.why}" for outline in outlines.unusable]
    try:
        with ConfigDocument.edit(settings.config_path) as doc:
            known = doc.feed_urls()
            routes = doc.routes()
            taken = doc.names()
            for feed in outlines.feeds:
                if _CONTROL.search(feed.xml_url):  # legal in XML (C1, `&#10;`), never in a URL we poll
                    unusable.append(f"unusable {feed.title or feed.xml_url!r}: xmlUrl holds a control character")
                    continue
                key = url_key(feed.xml_url)
                route = doc.route_of(feed.xml_url)
                if key in known or route in routes:
                    report.append(f"skipped {feed.xml_url}: already in the config as "
                                  f"{known.get(key) or routes[str(route)]!r}")
                    skipped += 1
                    continue
                name = unique_name(feed.title, taken, fallback=_host(feed.xml_url))
                doc.add_feed(name, url=None if route else feed.xml_url, route=route,
                             categories=_clean_categories(feed.categories),
                             site=feed.html_url if _is_http(feed.html_url) else None,
                             title=" ".join(_CONTROL.sub(" ", feed.title).split()) or None)
                known[key] = name
                if route:
                    routes[route] = name
                added += 1
            if added:
                doc.save()
    except ConfigError as exc:
        print(str(exc).replace("\n", " "), file=err)
        return EXIT_BAD_INPUT
    report += unusable
    report.append(f"{opml_path}: {added} added, {skipped} skipped, {len(unusable)} unusable "
                  f"({time.monotonic() - started:.2f}s)")
    for line in report:  # a closed pipe raises BrokenPipeError here: the report ends, the feeds are saved
        print(line, file=out)
    return EXIT_OK


def _clean_categories(categories: tuple[str, ...]) -> tuple[str, ...]:
    """Folder titles as categories: a control character (a line break given as `&#10;`, C1 codes)
    is a space, blanks collapse, and what is left empty is no category."""
    cleaned = (" ".join(_CONTROL.sub(" ", c).split()) for c in categories)
    return tuple(dict.fromkeys(c for c in cleaned if c))


def export_opml(settings: Settings, out: TextIO | None = None) -> int:
    """The config's feeds as OPML 2.0 (a `route:` feed at its URL on the first RSSHub instance)."""
    out = out or sys.stdout
    feeds = [ExportFeed(f.title or f.name, f.url, f.site, f.categories) for f in settings.feeds]
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
    if _CONTROL.search(url or ""):
        return False
    try:
        parts = urlsplit(url or "")
        parts.port  # noqa: B018  (raises for a port out of range)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
