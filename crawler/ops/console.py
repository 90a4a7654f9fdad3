"""What a person sees: logging setup, the crawl's progress bar and summary, the status table."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TextIO

from crawler.models import FeedReport, FeedSource

if TYPE_CHECKING:
    from rich.progress import Progress


# A %-conversion of a log format string, and the `key=` just before it if there is one.
_CONVERSION = re.compile(r"(?:(\w+)=)?%(?:\((\w+)\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]")
_RECORD_KEYS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_JSON_SCALARS = (str, int, float, bool, type(None))


def log_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields of a log record: `key=%s` pairs of its format string with their
    arguments (`feed=%s url=%s failed: %s` gives feed and url), and whatever `extra=` gave."""
    fields: dict[str, Any] = {}
    args = record.args if isinstance(record.args, tuple) else ()
    position = 0
    for match in _CONVERSION.finditer(str(record.msg)):
        if match.group(0).endswith("%%"):
            continue
        if position >= len(args):
            break
        if match.group(1):
            value = args[position]
            fields[match.group(1)] = value if isinstance(value, _JSON_SCALARS) else str(value)
        position += 1 + match.group(0).count("*")
    for key, value in record.__dict__.items():
        if key not in _RECORD_KEYS and not key.startswith("_"):
            fields[key] = value if isinstance(value, _JSON_SCALARS) else str(value)
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then the record's fields (`log_fields`)."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in log_fields(record).items():
            payload.setdefault(key, value)
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Rich lines on a terminal, plain or JSON lines for files and log collectors."""
    handler: logging.Handler
    if fmt == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    elif sys.stderr.isatty():
        from rich.console import Console  # only for terminals: every import is start-up time
        from rich.logging import RichHandler

        # The date as ISO 8601 (no 12/08/26 to puzzle over), and which part of the program speaks.
        handler = RichHandler(console=Console(stderr=True), show_path=False, rich_tracebacks=False,
                              log_time_format="%Y-%m-%d %H:%M:%S")
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
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
_UNBOUNDED = 1_000_000  # a width no table reaches: `--wide` tables are as wide as their cells


@dataclass
class Sheet:
    """A table as data: drawn by rich on a terminal, printed as tab-separated lines otherwise.

    On a terminal the table fits the terminal's width: the columns in `fold` (names, URLs) break
    across lines and are shown whole, those in `cut` (messages) end in an ellipsis, and the others
    (numbers, states, times) are never narrowed. `styles` colours whole rows (row index -> rich
    style); `footer` is a totals row below a rule; `caption`, under the table, says what its columns
    mean (a terminal's only: a script reading the lines knows).
    """

    columns: Sequence[str]
    rows: list[Sequence[str]] = field(default_factory=list)
    title: str = ""
    right: frozenset[str] = frozenset()
    styles: dict[int, str] = field(default_factory=dict)
    footer: Sequence[str] = ()
    caption: str = ""
    fold: frozenset[str] = frozenset()
    cut: frozenset[str] = frozenset()
    wide: bool = False  # at its natural width, however wide the terminal: nothing folded nor cut
    cut_caption: str = ""  # the caption when a cell was cut short


def _flat_line(row: Sequence[str]) -> str:
    """The cells tab-separated on one line; a tab or line break inside a cell becomes a space."""
    line = "\t".join(row)
    if line.count("\t") != len(row) - 1 or "\n" in line or "\r" in line:  # rare: checked in C, 100,000 rows in 0.05 s
        line = "\t".join([cell.translate(_FLAT) for cell in row])
    return line + "\n"


def show(sheet: Sheet, out: TextIO | None = None, width: int | None = None) -> bool:
    """`width`: the terminal's, unless given (tests draw at 80 columns). Returns whether a cell of a
    `cut` column was cut short."""
    out = out or sys.stdout
    if not out.isatty():
        # For logs and scripts, one line per row; rich is not even imported (start-up time:
        # a twelfth of a re-poll's CPU).
        lines = [sheet.columns, *sheet.rows, *([sheet.footer] if sheet.footer else [])]
        text = "".join([_flat_line(row) for row in lines])
        out.write(f"{sheet.title}\n{text}" if sheet.title else text)
        return False
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=out, width=_UNBOUNDED if sheet.wide else width)
    every_row = [[cell.translate(_FLAT) for cell in row]
                 for row in (sheet.columns, *sheet.rows, *([sheet.footer] if sheet.footer else []))]
    widths = _column_widths(sheet, every_row, console.width)
    cut = False
    for row in every_row[1:]:
        for index, column in enumerate(sheet.columns):
            if column in sheet.cut and Text(row[index]).cell_len > widths[index]:
                row[index], cut = first_words(row[index], widths[index]), True
    table = Table(title=sheet.title or None, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False,
                  pad_edge=False, padding=(0, 1), collapse_padding=True)
    for index, column in enumerate(sheet.columns):
        table.add_column(column, justify="right" if column in sheet.right else "left",
                         no_wrap=column not in sheet.fold, overflow="fold" if column in sheet.fold else "ellipsis",
                         min_width=widths[index], max_width=widths[index])
    # Text, not str: feed names come from configs and error messages from servers, and rich would
    # read "[...]" in them as markup (failing on a stray "[/x]") and ":name:" as an emoji.
    body = every_row[1:len(sheet.rows) + 1]
    for index, row in enumerate(body):
        table.add_row(*map(Text, row), style=sheet.styles.get(index))
    if sheet.footer:
        table.add_section()
        table.add_row(*map(Text, every_row[-1]))
    console.print(table)
    caption = sheet.cut_caption if cut and sheet.cut_caption else sheet.caption
    if caption:  # under the table, not a caption of it: as wide as the terminal, not as the table
        console.print(Text(caption, style="dim"))
    return cut


_GAP = 2  # between two columns of a drawn table


def _column_widths(sheet: Sheet, cells: list[list[str]], width: int) -> list[int]:
    """Every column as wide as its widest cell, unless the table would be wider than `width`: then
    the `fold` and `cut` columns share what the others leave, the narrow ones first."""
    from rich.text import Text

    natural = [max(Text(row[i]).cell_len for row in cells) for i in range(len(sheet.columns))]
    flexible = [i for i, column in enumerate(sheet.columns) if column in sheet.fold or column in sheet.cut]
    if sheet.wide or not flexible:
        return natural
    left = width - _GAP * (len(natural) - 1) - sum(w for i, w in enumerate(natural) if i not in flexible)
    widths = list(natural)
    flexible.sort(key=natural.__getitem__)
    for n, i in enumerate(flexible):
        share = max(left // (len(flexible) - n), min(len(sheet.columns[i]), natural[i]), 4)
        widths[i] = min(natural[i], share)
        left -= widths[i]
    return widths


def plural(count: int, noun: str) -> str:
    """`1 feed`, `2 feeds`, `0 feeds` (regular nouns: those of the program's messages)."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def print_summary(reports: Sequence[FeedReport], seconds: float, *, interrupted: bool = False,
                  out: TextIO | None = None, width: int | None = None) -> None:
    """One row per feed; past `SUMMARY_ALL_ROWS_UP_TO` feeds, only those with news or trouble.

    The numbers count entries; a feed that failed as a whole (no feed read) has none, and says so.
    """
    def eventful(r: FeedReport) -> bool:
        return bool(r.archived or r.updated or r.failed or r.status in ("failed", "leased", "interrupted"))

    shown = reports if len(reports) <= SUMMARY_ALL_ROWS_UP_TO else [r for r in reports if eventful(r)]
    quiet = [r for r in reports if not eventful(r)]
    numbers = ("new", "updated", "known", "failed", "time")
    title = f"crawl interrupted after {seconds:.1f}s" if interrupted else f"crawl finished in {seconds:.1f}s"
    sheet = Sheet(("feed", *numbers, "result"), title=title, right=frozenset(numbers),
                  fold=frozenset({"feed"}), cut=frozenset({"result"}),
                  caption="known: archived before, unchanged · failed: not archived (the log says why)")
    for r in shown:
        counts: tuple[str, ...] = (str(r.archived), str(r.updated), str(r.skipped), str(r.failed))
        if r.status == "failed":
            result, style, counts = f"FAILED: {r.error or 'no reason given'}", "red", ("-",) * 4
        elif r.status == "leased":
            result, style = r.error or "leased by another node", "yellow"
        elif r.status == "interrupted":
            result, style = f"interrupted: {r.error}" if r.error else "interrupted", "yellow"
            counts = ("-",) * 4 if r.error == "not polled" else counts
        elif r.failed:
            result, style = f"{plural(r.failed, 'entry')} not archived", "yellow"
        else:
            result, style = "unchanged (304)" if r.status == "not_modified" else "ok", ""
        if style:
            sheet.styles[len(sheet.rows)] = style
        sheet.rows.append((r.name, *counts, f"{r.seconds:.2f}s", result))
    if len(shown) < len(reports):
        skipped = sum(r.skipped for r in quiet)
        more = len(reports) - len(shown)
        sheet.rows.append((f"{more} more {'feed' if more == 1 else 'feeds'}", "0", "0", str(skipped), "0", "",
                           "nothing new"))
    totals = [sum(getattr(r, key) for r in reports) for key in ("archived", "updated", "skipped", "failed")]
    failed_feeds = sum(r.status == "failed" for r in reports)
    sheet.footer = (plural(len(reports), "feed"), *map(str, totals), "",
                    f"{plural(failed_feeds, 'feed')} failed" if failed_feeds else "no feed failed")
    show(sheet, out, width)


_AGO = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


def relative_time(value: str | None, now: datetime) -> str:
    """An ISO 8601 time as a person reads it beside `now`: "3m ago", "in 12m", "" for none."""
    if not value:
        return ""
    seconds = (datetime.fromisoformat(value) - now).total_seconds()
    size = abs(seconds)
    if size < 1:
        return "now"
    unit, length = next((u, n) for u, n in _AGO if size >= n)
    amount = f"{int(size // length)}{unit}"
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def first_words(text: str, width: int) -> str:
    """`text` cut at a word boundary to at most `width` characters, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= width:
        return text
    head = text[: width - 1]
    if " " in head[width // 2:]:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip(" ,;:") + "…"


_STATE_STYLES = {"failing": "yellow", "dead": "red"}


def print_status(rows: Sequence[dict[str, Any]], as_json: bool, *, wide: bool = False, out: TextIO | None = None,
                 width: int | None = None, now: datetime | None = None) -> None:
    """The status table: on a terminal, one that fits it (times relative, errors cut to their first
    words); with `wide`, or into a pipe, every column in full."""
    out = out or sys.stdout
    if as_json:
        print(json.dumps(list(rows), ensure_ascii=False, indent=2), file=out)
        return
    if wide or not out.isatty():
        _print_status_wide(rows, out, width)
        return
    now = now or datetime.now().astimezone()
    sheet = Sheet(("feed", "state", "last poll", "next due", "fails", "entries", "error"),
                  right=frozenset({"fails", "entries"}), fold=frozenset({"feed"}), cut=frozenset({"error"}))
    sheet.cut_caption = "errors cut short: feed-archiver status FEED, or status --wide, shows them whole"
    for row in rows:
        if row["state"] in _STATE_STYLES:
            sheet.styles[len(sheet.rows)] = _STATE_STYLES[row["state"]]
        sheet.rows.append((
            row["name"], row["state"], relative_time(row["last_poll"], now), relative_time(row["next_due"], now),
            str(row["consecutive_failures"]), str(row["entries_archived"]), row["last_error"] or "",
        ))
    show(sheet, out, width)


def _print_status_wide(rows: Sequence[dict[str, Any]], out: TextIO, width: int | None) -> None:
    keys = ["name", "state", "last_poll", "last_status", "consecutive_failures", "entries_archived", "entries_updated",
            "next_due"]
    if any(row.get("node") or row.get("leased_by") for row in rows):  # a cluster's
        keys += ["node", "leased_by"]
    if any(row.get("instance") for row in rows):  # RSSHub routes'
        keys.append("instance")
    keys.append("last_error")
    sheet = Sheet([key.replace("_", " ") for key in keys], wide=True)
    sheet.rows = [["" if row[key] is None else str(row[key]) for key in keys] for row in rows]
    show(sheet, out, width)


def print_feed_status(row: dict[str, Any], out: TextIO | None = None, *, blank_line_first: bool = False) -> None:
    """One feed's status, every field whole, one per line (`feed-archiver status FEED`)."""
    out = out or sys.stdout
    width = max(map(len, row))
    lines = (f"{key.replace('_', ' '):<{width}}  {'' if value is None else str(value).translate(_FLAT)}".rstrip()
             + "\n" for key, value in row.items())
    out.write(("\n" if blank_line_first else "") + "".join(lines))


def print_feeds(rows: Sequence[tuple[str, ...]], *, wide: bool = False, out: TextIO | None = None,
                width: int | None = None) -> None:
    """The feeds `check` found. On a terminal, each feed's URL whole on a line of its own (folded if
    it is longer than the terminal is wide) and its settings below it; `wide`, or into a pipe, the table."""
    out = out or sys.stdout
    columns = ("name", "url", "schedule", "full text", "images", "categories")
    title = "feeds this config polls"
    if wide or not out.isatty():
        show(Sheet(columns, title=title, rows=list(rows), wide=True), out, width)
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console(file=out, width=width)
    names = [name.translate(_FLAT) for name, *_ in rows]
    name_width = min(max(map(len, names), default=4), max(console.width // 3, 8))
    table = Table.grid(padding=(0, 2))
    table.title, table.title_justify = title, "left"
    table.add_column(overflow="fold", max_width=name_width)
    table.add_column(overflow="fold")
    for name, (_, url, schedule, full_text, images, categories) in zip(names, rows, strict=True):
        details = f"{schedule}, full text {full_text}, images {images}"
        if categories:
            details += f"\ncategories: {categories}"
        table.add_row(Text(name, style="bold"), Text(f"{url}\n{details}".translate(str.maketrans("\t\r", "  "))))
    console.print(table)


def feed_rows(feeds: Sequence[FeedSource]) -> list[tuple[str, ...]]:
    """`check`'s rows: one per feed, as resolved (100,000 in a tenth of a second)."""
    rows: list[tuple[str, ...]] = []
    schedules: dict[tuple[str | None, float], str] = {}  # most feeds share a few: made once each
    for feed in feeds:
        key = (feed.cron, feed.interval)
        if (schedule := schedules.get(key)) is None:
            schedule = schedules[key] = f"cron {feed.cron}" if feed.cron else f"every {human_seconds(feed.interval)}"
        rows.append((feed.name, feed.url, schedule, feed.full_text, "yes" if feed.images else "no",
                     ", ".join(feed.categories)))
    return rows


def human_seconds(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
