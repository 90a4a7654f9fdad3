"""Tables as people and scripts see them: rich on a terminal, tab-separated lines otherwise."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from crawler.models import FeedReport
from crawler.ops.console import (
    JsonFormatter,
    Sheet,
    first_words,
    print_feeds,
    print_status,
    print_summary,
    relative_time,
    show,
)
from tests.terminal import ANSI

HOSTILE = "[bold]odd[/bold] [/x] :fire:"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def sheet() -> Sheet:
    return Sheet(("feed", "new", "result"), rows=[(HOSTILE, "1", "ok"), ("tab\there\nline", "0", "HTTP 500")],
                 title="crawl finished in 0.1s", right=frozenset({"new"}), styles={1: "red"},
                 footer=("2 feeds", "1", "1 feeds failed"))


def test_a_pipe_gets_one_tab_separated_line_per_row_with_the_title_first() -> None:
    out = io.StringIO()

    show(sheet(), out)

    assert out.getvalue().splitlines() == [
        "crawl finished in 0.1s",
        "feed\tnew\tresult",
        f"{HOSTILE}\t1\tok",
        "tab here line\t0\tHTTP 500",
        "2 feeds\t1\t1 feeds failed",
    ]


def test_a_terminal_gets_a_drawn_table_that_shows_markup_and_emoji_codes_as_they_are() -> None:
    out = Terminal()

    show(sheet(), out)

    text = out.getvalue()
    assert "───" in text and "crawl finished in 0.1s" in text
    assert HOSTILE in text and "🔥" not in text
    assert "\x1b[31m" in text  # the failed row in red


def test_the_summary_of_many_quiet_feeds_folds_them_into_one_row(capsys) -> None:
    quiet = [FeedReport(f"feed{i}", "http://a.test/", status="not_modified") for i in range(40)]
    busy = FeedReport("busy", "http://b.test/", archived=3, updated=2)

    print_summary([*quiet, busy], 1.25)

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "crawl finished in 1.2s"
    assert lines[1] == "feed\tnew\tupdated\tknown\tfailed\ttime\tresult"
    assert lines[2].startswith("busy\t3\t2\t0\t0\t"), "new and updated entries are counted apart"
    assert lines[3] == "40 more feeds\t0\t0\t0\t0\t\tnothing new"
    assert lines[4] == "41 feeds\t3\t2\t0\t0\t\tno feed failed"


# -- at 80 columns ---------------------------------------------------------------------------------

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
LONG_ERROR = ("HTTP 503 Service Unavailable: the origin server is down for maintenance, "
              "try again in an hour (https://status.example.org/incidents/2026-12-08)")


def iso(minutes: float) -> str:
    return (NOW + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def status_row(name: str, state: str = "ok", *, error: str | None = None, last: float | None = -3,
               due: float | None = 12, failures: int = 0, entries: int = 1234) -> dict[str, object]:
    return {"name": name, "url": f"https://example.org/{name}.xml", "last_poll": None if last is None else iso(last),
            "last_status": 503 if error else 200, "last_error": error, "consecutive_failures": failures,
            "entries_archived": entries, "entries_updated": 2, "next_due": None if due is None else iso(due),
            "state": state, "node": None, "instance": None, "leased_by": None}


def drawn(render: Callable[[Terminal], None]) -> list[str]:
    """What a terminal shows: the lines, without colours."""
    out = Terminal()
    render(out)
    return ANSI.sub("", out.getvalue()).splitlines()


def assert_fits(lines: list[str], width: int = 80) -> None:
    too_wide = [line for line in lines if cell_len(line) > width]
    assert not too_wide, "\n".join(lines)


def test_status_fits_80_columns_with_relative_times_and_the_first_words_of_errors() -> None:
    rows = [status_row("aljazeera-news"), status_row("harbour-gazette", "failing", error=LONG_ERROR, failures=3),
            status_row("never-polled", "new", last=None, due=None, entries=0),
            status_row("gone", "dead", error="HTTP 410 Gone")]

    lines = drawn(lambda out: print_status(rows, False, out=out, width=80, now=NOW))

    assert_fits(lines)
    text = "\n".join(lines)
    assert "3m ago" in text and "in 12m" in text
    [gazette] = [line for line in lines if line.startswith("harbour-gazette")]
    assert "failing" in gazette and "HTTP 503" in gazette and "…" in gazette and " 3 " in gazette
    assert "maintenance" not in text, "the rest of the error is for `status FEED` and --wide"
    assert "feed-archiver status FEED" in text and "--wide" in text
    [new] = [line for line in lines if line.startswith("never-polled")]
    assert new.split() == ["never-polled", "new", "0", "0"]
    assert "HTTP 410 Gone" in text, "a short error is shown whole"


def test_status_wide_and_into_a_pipe_has_every_column_in_full() -> None:
    rows = [status_row("harbour-gazette", "failing", error=LONG_ERROR, failures=3)]

    wide = "\n".join(drawn(lambda out: print_status(rows, False, wide=True, out=out, width=80, now=NOW)))
    piped = io.StringIO()
    print_status(rows, False, out=piped)

    for text in (wide, piped.getvalue()):
        assert LONG_ERROR in text and iso(-3) in text and iso(12) in text
    assert piped.getvalue().splitlines()[0].split("\t")[:3] == ["name", "state", "last poll"]


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=60),
                   min_size=1, max_size=6),
    error=st.text(max_size=300),
    width=st.integers(60, 200),
)
def test_the_status_table_never_runs_past_the_terminal(names: list[str], error: str, width: int) -> None:
    rows = [status_row(name, "failing", error=error or None, failures=1_000, entries=10**9) for name in names]

    lines = drawn(lambda out: print_status(rows, False, out=out, width=width, now=NOW))

    assert_fits(lines, width)


def test_check_shows_each_url_whole_at_80_columns() -> None:
    url = "https://rsshub.example.org/aljazeera/news"
    very_long = "https://example.com/feeds/a/very/long/path/to/the/feed.xml?format=rss&lang=en&edition=international"
    rows = [("aljazeera-news", url, "every 2h", "auto", "yes", "新媒体, Aljazeera 半岛网, 新闻"),
            ("other", very_long, "cron */15 * * * *", "always", "no", "")]

    lines = drawn(lambda out: print_feeds(rows, out=out, width=80))

    assert_fits(lines)
    text = "\n".join(lines)
    assert url in text and "…" not in text
    folded = "".join(line[line.index("https"):] if "https" in line else line.strip() for line in lines)
    assert very_long in folded, "a URL longer than the terminal breaks across lines, whole"
    assert "every 2h, full text auto, images yes" in text and "categories: 新媒体, Aljazeera 半岛网, 新闻" in text


def test_a_failed_feed_says_so_instead_of_counting_zero_failed_entries() -> None:
    reports = [FeedReport("broken", "http://a.test/", status="failed", error="HTTP 500 Internal Server Error"),
               FeedReport("fine", "http://b.test/", archived=1, skipped=4)]

    lines = drawn(lambda out: print_summary(reports, 1.0, out=out, width=80))

    assert_fits(lines)
    [broken] = [line for line in lines if line.startswith("broken")]
    assert broken.split()[1:5] == ["-", "-", "-", "-"] and "FAILED: HTTP 500" in broken
    assert any(line.split()[:2] == ["2", "feeds"] and line.rstrip().endswith("1 feed failed") for line in lines), lines
    assert any(line.startswith("known: archived before") for line in lines), "the columns are explained"


def test_an_interrupted_crawl_says_so() -> None:
    reports = [FeedReport("slow", "http://a.test/", status="interrupted", error="cancelled"),
               FeedReport("later", "http://b.test/", status="interrupted", error="not polled")]

    out = io.StringIO()
    print_summary(reports, 2.0, interrupted=True, out=out)

    lines = out.getvalue().splitlines()
    assert lines[0] == "crawl interrupted after 2.0s"
    assert lines[2].endswith("interrupted: cancelled")
    assert lines[3] == "later\t-\t-\t-\t-\t0.00s\tinterrupted: not polled"
    assert lines[4] == "2 feeds\t0\t0\t0\t0\t\tno feed failed"


@pytest.mark.parametrize(("minutes", "expected"), [(-3, "3m ago"), (12.5, "in 12m"), (-60 * 26, "1d ago"),
                                                   (90, "in 1h"), (0, "now"), (-0.5, "30s ago")])
def test_relative_times(minutes: float, expected: str) -> None:
    assert relative_time(iso(minutes), NOW) == expected
    assert relative_time(None, NOW) == ""


@given(text=st.text(max_size=200), width=st.integers(2, 80))
def test_first_words_fit_and_begin_the_text(text: str, width: int) -> None:
    short = first_words(text, width)

    flat = " ".join(text.split())
    assert len(short) <= width
    assert flat.startswith(short.removesuffix("…").rstrip(" ,;:"))
    assert short == flat or short.endswith("…")


# -- log lines ----------------------------------------------------------------------------------------


def test_json_log_lines_carry_the_fields_of_the_message() -> None:
    record = logging.LogRecord("crawler.pipeline", logging.ERROR, __file__, 1,
                               "feed=%s url=%s failed: %s (%.2fs)", ("gazette", "http://a.test/f", "HTTP 500", 1.5),
                               None)
    entry = logging.LogRecord("crawler.pipeline", logging.WARNING, __file__, 1,
                              "feed=%s entry_id=%s not archived: %s", ("gazette", "urn:x:1", "100%% gone"), None)
    counts = logging.LogRecord("crawler.pipeline", logging.INFO, __file__, 1, "feed=%s status=%s new=%d (%.2fs)",
                               ("gazette", 200, 3, 0.25), None)

    line, entry_line, counts_line = (json.loads(JsonFormatter().format(r)) for r in (record, entry, counts))

    assert line["message"] == "feed=gazette url=http://a.test/f failed: HTTP 500 (1.50s)"
    assert (line["feed"], line["url"], line["level"], line["logger"]) == (
        "gazette", "http://a.test/f", "error", "crawler.pipeline")
    assert (entry_line["feed"], entry_line["entry_id"]) == ("gazette", "urn:x:1")
    assert (counts_line["status"], counts_line["new"]) == (200, 3)
