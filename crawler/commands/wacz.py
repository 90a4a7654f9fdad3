"""`feed-archiver export-wacz --to FILE.wacz [--since DATE] [--feed NAME]...`: the WARC files as a WACZ.

Exit 0 written; 1 nothing to export (no capture, or none of the chosen feeds or dates); 2 bad
usage (a date that is not one, an unknown feed, the `wacz` package missing); 3 the files could
not be read or the output not written.
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

from crawler.config import Settings
from crawler.errors import ArchiveError

EXIT_WRITTEN, EXIT_NOTHING, EXIT_USAGE, EXIT_IO = 0, 1, 2, 3


def parse_since(value: str) -> str:
    """`2024-05-01` or `2024-05-01T12:00:00` (UTC) as a WARC-Date prefix that compares as text."""
    try:
        when = datetime.fromisoformat(value) if "T" in value else datetime.combine(date.fromisoformat(value),
                                                                                   datetime.min.time())
    except ValueError:
        raise ValueError(f"--since {value!r} is not a date like 2024-05-01 or 2024-05-01T12:00:00") from None
    return when.strftime("%Y-%m-%dT%H:%M:%S")


def export(settings: Settings, to: str, since: str | None, feeds: list[str]) -> int:
    try:
        from crawler.capture import export_wacz
    except ImportError as exc:  # wacz is an extra: feed-archiver[wacz]
        print(f"export-wacz needs the wacz package ({exc.name} is missing): pip install 'feed-archiver[wacz]'",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        prefix = parse_since(since) if since else None
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_USAGE
    chosen = settings.select(feeds) if feeds else ()
    assert settings.capture is not None
    folder = settings.capture.warc_dir
    urls = {url for f in chosen for url in (f.url, *(i + (f.route or "") for i in f.instances))}
    try:
        done = export_wacz(folder, Path(to), since=prefix, feeds=feeds, feed_urls=urls)
    except ArchiveError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_NOTHING
    except OSError as exc:
        print(f"export-wacz: {exc}", file=sys.stderr)
        return EXIT_IO
    print(f"{to}: {done.records} records from {done.files} WARC files, {done.pages} pages")
    return EXIT_WRITTEN
