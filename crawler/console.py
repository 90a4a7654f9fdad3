"""What a person sees: logging setup, the crawl's progress bar and summary, the status table."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from crawler.models import FeedReport

if TYPE_CHECKING:
    from rich.progress import Progress


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Rich lines on a terminal, plain or JSON lines for files and log collectors."""
    handler: logging.Handler
    if fmt == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_JsonFormatter())
    elif sys.stderr.isatty():
        from rich.logging import RichHandler  # only for terminals: every import is start-up time

        handler = RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "trafilatura", "htmldate", "courlan", "apscheduler", "charset_normalizer"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


@dataclass
class CrawlProgress:
    """A progress bar on a terminal; nothing otherwise (the log lines say it all)."""

    progress: Progress | None
    task: Any = None

    def feed_done(self) -> None:
        if self.progress is not None:
            self.progress.advance(self.task)


@contextmanager
def crawl_progress(total_feeds: int) -> Iterator[CrawlProgress]:
    if not sys.stderr.isatty():
        yield CrawlProgress(None)
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("[bold]crawling"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("feeds"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    with progress:
        yield CrawlProgress(progress, progress.add_task("feeds", total=total_feeds))


SUMMARY_ALL_ROWS_UP_TO = 30


def _cell(value: object, style: str = "") -> Text:
    """A table cell shown as it is. Feed names come from configs and error messages from servers;
    as plain strings, rich would read "[...]" in them as markup (and fail on a stray "[/x]") and
    ":name:" as an emoji."""
    return Text(str(value), style=style)


def print_summary(reports: Sequence[FeedReport], seconds: float) -> None:
    """One row per feed; past `SUMMARY_ALL_ROWS_UP_TO` feeds, only those with news or trouble."""
    def eventful(r: FeedReport) -> bool:
        return bool(r.archived or r.failed or r.status == "failed")

    shown = reports if len(reports) <= SUMMARY_ALL_ROWS_UP_TO else [r for r in reports if eventful(r)]
    quiet = [r for r in reports if not eventful(r)]
    table = Table(title=f"crawl finished in {seconds:.1f}s", title_justify="left")
    for column in ("feed", "new", "skipped", "failed", "time", "result"):
        table.add_column(column, justify="right" if column in ("new", "skipped", "failed", "time") else "left")
    for r in shown:
        if r.status == "failed":
            result = _cell(r.error, "red")
        elif r.failed:
            result = _cell(f"{r.failed} entries failed", "yellow")
        else:
            result = _cell("unchanged (304)" if r.status == "not_modified" else "ok")
        table.add_row(_cell(r.name), str(r.archived), str(r.skipped), str(r.failed), f"{r.seconds:.2f}s", result)
    totals = (sum(r.archived for r in reports), sum(r.skipped for r in reports), sum(r.failed for r in reports))
    if len(shown) < len(reports):
        table.add_row(f"{len(reports) - len(shown)} more feeds", "0", str(sum(r.skipped for r in quiet)), "0", "",
                      "nothing new")
    table.add_section()
    failed_feeds = sum(r.status == "failed" for r in reports)
    table.add_row(f"{len(reports)} feeds", *map(str, totals), "", f"{failed_feeds} feeds failed")
    Console(width=None if sys.stdout.isatty() else 160).print(table)


def print_status(rows: Sequence[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(list(rows), ensure_ascii=False, indent=2))
        return
    table = Table()
    columns = ("name", "state", "last_poll", "last_status", "consecutive_failures", "entries_archived",
               "next_due", "last_error")
    for column in columns:
        table.add_column(column.replace("_", " "))
    for row in rows:
        table.add_row(*(_cell("" if row[c] is None else row[c]) for c in columns))
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def print_feeds(rows: Sequence[tuple[str, ...]]) -> None:
    table = Table(title="feeds this config polls", title_justify="left")
    for column in ("name", "url", "schedule", "full text", "images", "categories"):
        table.add_column(column)
    for row in rows:
        table.add_row(*map(_cell, row))
    Console(width=None if sys.stdout.isatty() else 200).print(table)
