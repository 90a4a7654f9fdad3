"""Tables as people and scripts see them: rich on a terminal, tab-separated lines otherwise."""

from __future__ import annotations

import io

from crawler.models import FeedReport
from crawler.ops.console import Sheet, print_summary, show

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
    assert "┃" in text and "crawl finished in 0.1s" in text
    assert HOSTILE in text and "🔥" not in text
    assert "\x1b[31m" in text  # the failed row in red


def test_the_summary_of_many_quiet_feeds_folds_them_into_one_row(capsys) -> None:
    quiet = [FeedReport(f"feed{i}", "http://a.test/", status="not_modified") for i in range(40)]
    busy = FeedReport("busy", "http://b.test/", archived=3, updated=2)

    print_summary([*quiet, busy], 1.25)

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "crawl finished in 1.2s"
    assert lines[2].startswith("busy\t3\t2\t0\t0\t"), "new and updated entries are counted apart"
    assert lines[3] == "40 more feeds\t0\t0\t0\t0\t\tnothing new"
    assert lines[4] == "41 feeds\t3\t2\t0\t0\t\t0 feeds failed"
