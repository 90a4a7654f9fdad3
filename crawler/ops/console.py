"""What a person sees: logging setup, the crawl's progress bar and summary, the status table."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from crawler.models import FeedReport, FeedSource

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
        from rich.console import Console  # only for terminals: every import is start-up time
        from rich.logging import RichHandler

        handler = RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False)
        handler.setFormatter(logging.Formatter("%(message)s"))
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    noisy_loggers = ("httpx", "httpcore", "trafilatura", "htmldate", "courlan", "apscheduler", "charset_normalizer",
                     "alembic")
    for noisy in noisy_loggers:
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
    from rich.console import Console
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
_FLAT = str.maketrans("\t\r\n", "   ")


@dataclass
class Sheet:
    """A table as data: drawn by rich on a terminal, printed as tab-separated lines otherwise.

    `styles` colours whole rows on a terminal (row index -> rich style); `footer` is a totals
    row below a rule.
    """

    columns: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)
    title: str = ""
    right: frozenset[str] = frozenset()
    styles: dict[int, str] = field(default_factory=dict)
    footer: Sequence[str] = ()


def _flat_line(row: Sequence[str]) -> str:
    """The cells tab-separated on one line; a tab or line break inside a cell becomes a space."""
    line = "\t".join(row)
    if line.count("\t") != len(row) - 1 or "\n" in line or "\r" in line:  # rare: checked in C, 100,000 rows in 0.05 s
        line = "\t".join([cell.translate(_FLAT) for cell in row])
    return line + "\n"


def show(sheet: Sheet, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    if not out.isatty():
        # For logs and scripts, one line per row; rich is not even imported (start-up time:
        # a twelfth of a re-poll's CPU).
        lines = [sheet.columns, *sheet.rows, *([sheet.footer] if sheet.footer else [])]
        text = "".join([_flat_line(row) for row in lines])
        out.write(f"{sheet.title}\n{text}" if sheet.title else text)
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=sheet.title or None, title_justify="left")
    for column in sheet.columns:
        table.add_column(column, justify="right" if column in sheet.right else "left")
    # Text, not str: feed names come from configs and error messages from servers, and rich would
    # read "[...]" in them as markup (failing on a stray "[/x]") and ":name:" as an emoji.
    for index, row in enumerate(sheet.rows):
        table.add_row(*map(Text, row), style=sheet.styles.get(index))
    if sheet.footer:
        table.add_section()
        table.add_row(*map(Text, sheet.footer))
    Console(file=out).print(table)


def print_summary(reports: Sequence[FeedReport], seconds: float) -> None:
    """One row per feed; past `SUMMARY_ALL_ROWS_UP_TO` feeds, only those with news or trouble."""
    def eventful(r: FeedReport) -> bool:
        return bool(r.archived or r.updated or r.failed or r.status in ("failed", "leased"))

    shown = reports if len(reports) <= SUMMARY_ALL_ROWS_UP_TO else [r for r in reports if eventful(r)]
    quiet = [r for r in reports if not eventful(r)]
    numbers = ("new", "updated", "skipped", "failed", "time")
    sheet = Sheet(("feed", *numbers, "result"), title=f"crawl finished in {seconds:.1f}s", right=frozenset(numbers))
    for r in shown:
        if r.status == "failed":
            result, style = r.error or "failed", "red"
        elif r.status == "leased":
            result, style = r.error or "leased by another node", "yellow"
        elif r.failed:
            result, style = f"{r.failed} entries failed", "yellow"
        else:
            result, style = "unchanged (304)" if r.status == "not_modified" else "ok", ""
        if style:
            sheet.styles[len(sheet.rows)] = style
        sheet.rows.append(
            (r.name, str(r.archived), str(r.updated), str(r.skipped), str(r.failed), f"{r.seconds:.2f}s", result)
        )
    if len(shown) < len(reports):
        skipped = sum(r.skipped for r in quiet)
        sheet.rows.append((f"{len(reports) - len(shown)} more feeds", "0", "0", str(skipped), "0", "", "nothing new"))
    totals = [sum(getattr(r, key) for r in reports) for key in ("archived", "updated", "skipped", "failed")]
    failed_feeds = sum(r.status == "failed" for r in reports)
    sheet.footer = (f"{len(reports)} feeds", *map(str, totals), "", f"{failed_feeds} feeds failed")
    show(sheet)


def print_status(rows: Sequence[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        print(json.dumps(list(rows), ensure_ascii=False, indent=2))
        return
    keys = ["name", "state", "last_poll", "last_status", "consecutive_failures", "entries_archived", "entries_updated",
            "next_due"]
    if any(row.get("node") or row.get("leased_by") for row in rows):  # a cluster's
        keys += ["node", "leased_by"]
    if any(row.get("instance") for row in rows):  # RSSHub routes'
        keys.append("instance")
    keys.append("last_error")
    sheet = Sheet([key.replace("_", " ") for key in keys])
    sheet.rows = [["" if row[key] is None else str(row[key]) for key in keys] for row in rows]
    show(sheet)


def print_feeds(feeds: Sequence[FeedSource]) -> None:
    """`check`'s table: one row per feed, as resolved."""
    sheet = Sheet(("name", "url", "schedule", "full text", "images", "categories"), title="feeds this config polls")
    schedules: dict[tuple[str | None, float], str] = {}  # most feeds share a few: made once each
    for feed in feeds:
        key = (feed.cron, feed.interval)
        if (schedule := schedules.get(key)) is None:
            schedule = schedules[key] = f"cron {feed.cron}" if feed.cron else f"every {_human_seconds(feed.interval)}"
        sheet.rows.append((feed.name, feed.url, schedule, feed.full_text, "yes" if feed.images else "no",
                           ", ".join(feed.categories)))
    show(sheet)


def _human_seconds(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
