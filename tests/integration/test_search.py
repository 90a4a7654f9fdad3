"""`feed-archiver search` and `reindex` (DESIGN.md, "Search"), against both stores: the words a
crawl of local feeds archived, found as a reader types them, and nothing else."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

from crawler.commands.search import run_search
from crawler.config import load_settings
from tests.conftest import CliResult, Item, archived_files, rss, write_config

DEFAULTS = {"full_text": "never", "images": False}

NEWS = [
    Item("拜登和普京的通话如何未能赶走乌克兰的战争幽灵", "http://news.example/1",
         "<p>许多专家认为，12日美俄之间的外交谈判是使乌克兰免于<b>战</b>争的最后机会。</p>",
         published=datetime(2022, 2, 13, 9, 12, 25, tzinfo=UTC)),
    Item("東京タワーへ行く", "http://news.example/2", "<p>カタカナとひらがなの文章です。</p>",
         published=datetime(2023, 5, 1, tzinfo=UTC)),
    Item("서울에서 만나요", "http://news.example/3", "<p>한국어 문장입니다.</p>",
         published=datetime(2023, 6, 1, tzinfo=UTC)),
    Item("Café crème", "http://news.example/4", "<p>Le CAFÉ est servi à l'École.</p>",
         published=datetime(2024, 1, 1, tzinfo=UTC)),
    Item("Volcano erupts", "http://news.example/5", "<p>Lava flows down the slope.</p>",
         published=datetime(2024, 2, 1, tzinfo=UTC)),
    Item("Island report", "http://news.example/6", "<p>A volcano was seen from the quick brown fox's island.</p>",
         published=datetime(2024, 3, 1, tzinfo=UTC)),
    Item("Markup", "http://news.example/7",
         '<div><p>Plain words <img src="http://img.example/secretpath.png" alt="alttext">'
         '<a href="http://example.org/hiddenurl">visible link</a></p></div>',
         published=datetime(2024, 4, 1, tzinfo=UTC)),
    Item("Foxes", "http://news.example/8", "<p>The brown quick fox jumps.</p>",
         published=datetime(2024, 5, 1, tzinfo=UTC)),
]
OTHER = [Item("Volcano in the other feed", "http://other.example/1", "<p>Ash.</p>",
              published=datetime(2024, 6, 1, tzinfo=UTC))]


def crawl_news(tmp_path: Path, httpserver: HTTPServer, state_url: str, cli: Callable[..., CliResult],
               news: list[Item] = NEWS) -> Path:
    httpserver.expect_request("/news.xml").respond_with_data(rss(news), content_type="application/rss+xml")
    httpserver.expect_request("/other.xml").respond_with_data(rss(OTHER), content_type="application/rss+xml")
    config = write_config(tmp_path, [{"name": "news", "url": httpserver.url_for("/news.xml")},
                                     {"name": "other", "url": httpserver.url_for("/other.xml")}],
                          state=state_url, defaults=DEFAULTS)
    done = cli("crawl", "--config", str(config))
    assert done.code == 0, done.err
    return config


def titles(cli: Callable[..., CliResult], config: Path, *args: str) -> list[str]:
    result = cli("search", *args, "--json", "--config", str(config))
    assert result.code in (0, 1), result.err
    found = json.loads(result.out)
    assert (result.code == 0) == bool(found)
    return [hit["title"] for hit in found]


@pytest.fixture
def news(tmp_path: Path, httpserver: HTTPServer, state_url: str, cli: Callable[..., CliResult]) -> Path:
    return crawl_news(tmp_path, httpserver, state_url, cli)


CHINESE = "拜登和普京的通话如何未能赶走乌克兰的战争幽灵"


def test_chinese_words_inside_a_longer_run_are_found(news: Path, cli: Callable[..., CliResult]) -> None:
    assert titles(cli, news, "战争") == [CHINESE]
    assert titles(cli, news, "乌克兰") == [CHINESE]
    assert titles(cli, news, "战争幽灵") == [CHINESE]
    assert titles(cli, news, "免于战争") == [CHINESE], "inline markup (<b>) does not cut a run"
    assert titles(cli, news, "幽") == [CHINESE], "one character still answers"
    assert titles(cli, news, "灵") == [CHINESE], "the last character of a run too"
    assert titles(cli, news, "战幽") == []
    assert titles(cli, news, "乌克兰战争") == [], "not a phrase of the text: 乌克兰的战争"


def test_japanese_kana_and_korean_are_found(news: Path, cli: Callable[..., CliResult]) -> None:
    assert titles(cli, news, "タワー") == ["東京タワーへ行く"]
    assert titles(cli, news, "ひらがな") == ["東京タワーへ行く"]
    assert titles(cli, news, "서울") == ["서울에서 만나요"]
    assert titles(cli, news, "한국어") == ["서울에서 만나요"]


def test_latin_matches_without_case_or_accents(news: Path, cli: Callable[..., CliResult]) -> None:
    assert titles(cli, news, "cafe") == ["Café crème"]
    assert titles(cli, news, "CAFÉ") == ["Café crème"]
    assert titles(cli, news, "ecole creme") == ["Café crème"]


def test_phrases_exclusion_and_all_words(news: Path, cli: Callable[..., CliResult]) -> None:
    assert titles(cli, news, '"quick brown"') == ["Island report"]
    assert sorted(titles(cli, news, "quick brown")) == ["Foxes", "Island report"]
    assert titles(cli, news, "fox -volcano") == ["Foxes"]
    assert titles(cli, news, 'fox -"quick brown"') == ["Foxes"]
    assert titles(cli, news, "fox lava") == []


def test_feed_and_since_filters(news: Path, cli: Callable[..., CliResult]) -> None:
    assert len(titles(cli, news, "volcano")) == 3
    assert titles(cli, news, "volcano", "--feed", "other") == ["Volcano in the other feed"]
    assert sorted(titles(cli, news, "volcano", "--since", "2024-02-15")) == ["Island report",
                                                                             "Volcano in the other feed"]
    assert titles(cli, news, "volcano", "--feed", "news", "--since", "2024-02-15") == ["Island report"]
    assert titles(cli, news, "volcano", "--feed", "nosuch") == []


def test_a_title_match_ranks_above_a_body_match(news: Path, cli: Callable[..., CliResult]) -> None:
    found = titles(cli, news, "volcano", "--feed", "news")
    assert found == ["Volcano erupts", "Island report"]


def test_markup_is_never_matched(news: Path, cli: Callable[..., CliResult]) -> None:
    assert titles(cli, news, "visible") == ["Markup"]
    for word in ("img", "div", "hiddenurl", "secretpath", "alttext", "href", "src", "http"):
        assert titles(cli, news, word) == [], word


def test_output_json_keys_pipe_lines_and_marks(news: Path, cli: Callable[..., CliResult]) -> None:
    result = cli("search", "volcano", "--feed", "news", "--json", "--config", str(news))
    [first, *_] = json.loads(result.out)
    assert set(first) == {"path", "feed", "title", "date", "link", "score", "snippet"}
    assert first["date"] == "2024-02-01T00:00:00Z" and first["link"] == "http://news.example/5"
    assert (news.parent / "archive" / first["path"]).is_file()
    piped = cli("search", "战争", "--config", str(news))
    assert piped.code == 0
    [line] = piped.out.splitlines()
    date, feed, title, path, snippet = line.split("\t")
    assert (date, feed, title) == ("2022-02-13", "news", CHINESE)
    assert path.endswith(".md") and "[战争]" in snippet
    assert cli("search", "nosuchword", "--config", str(news)).code == 1


def test_a_revised_article_is_found_by_its_new_words_only(
    tmp_path: Path, httpserver: HTTPServer, state_url: str, cli: Callable[..., CliResult]
) -> None:
    old = Item("Zoo news", "http://news.example/zoo", "<p>The zebra escaped from the zoo today.</p>")
    config = crawl_news(tmp_path, httpserver, state_url, cli, [old])
    assert titles(cli, config, "zebra") == ["Zoo news"]
    httpserver.clear_all_handlers()
    new = Item("Zoo news", "http://news.example/zoo", "<p>The giraffe escaped from the zoo today.</p>")
    crawl_news(tmp_path, httpserver, state_url, cli, [new])
    assert titles(cli, config, "giraffe") == ["Zoo news"]
    assert titles(cli, config, "zebra") == []
    assert titles(cli, config, "escaped") == ["Zoo news"], "one entry, indexed once"


QUERIES = ["战争", "乌克兰", "幽", "cafe", "volcano", '"quick brown"', "fox -volcano", "タワー", "서울", "visible"]


def test_reindex_gives_the_results_of_the_live_index(news: Path, cli: Callable[..., CliResult]) -> None:
    def results() -> list[list[tuple[str, str, str]]]:
        out = []
        for query in QUERIES:
            hits = json.loads(cli("search", query, "--json", "--config", str(news)).out)
            out.append([(h["path"], h["feed"], h["title"]) for h in hits])
        return out

    live = results()
    done = cli("reindex", "--config", str(news))
    assert done.code == 0, done.err
    assert done.out.strip() == f"indexed {len(archived_files(news.parent / 'archive'))} archived files"
    assert results() == live
    assert all(live)


def test_reindex_indexes_files_the_store_never_knew(tmp_path: Path, state_url: str,
                                                    cli: Callable[..., CliResult]) -> None:
    """An archive copied in (the seed's files) is searchable once reindexed: an upgraded store's index
    starts empty, and `search` says so."""
    archive = tmp_path / "archive" / "新闻"
    archive.mkdir(parents=True)
    (archive / "a.md").write_text("\n---\ntitle: '乌克兰的战争幽灵'\ndate: Sun, 13 Feb 2022 09:12:25 GMT\n"
                                  "link: http://x.example/\n---\n\n<div><p>正文</p></div>\n", encoding="utf-8")
    (archive / "broken.md").write_text("no front matter", encoding="utf-8")
    config = write_config(tmp_path, [{"name": "n", "url": "http://127.0.0.1:9/feed"}], state=state_url)
    assert cli("reindex", "--config", str(config)).out.strip() == "indexed 1 archived files; 1 unreadable, skipped"
    assert titles(cli, config, "战争") == ["乌克兰的战争幽灵"]


def test_a_store_that_cannot_be_opened_is_exit_3(tmp_path: Path, cli: Callable[..., CliResult]) -> None:
    feeds = [{"name": "n", "url": "http://127.0.0.1:9/feed"}]
    config = write_config(tmp_path, feeds)
    result = cli("search", "word", "--config", str(config))
    assert result.code == 3 and len(result.err.strip().splitlines()) == 1, result.err
    bad = write_config(tmp_path, feeds, state="postgresql://nobody:x@127.0.0.1:1/none")
    result = cli("search", "word", "--config", str(bad))
    assert result.code == 3 and len(result.err.strip().splitlines()) == 1, result.err


def test_bad_dates_and_limits_are_one_line_and_exit_2(news: Path, cli: Callable[..., CliResult]) -> None:
    for args in (["--since", "yesterday"], ["--limit", "0"]):
        result = cli("search", "volcano", *args, "--config", str(news))
        assert result.code == 2 and len(result.err.strip().splitlines()) == 1, result.err


NASTY = ['"', 'NEAR(', "NEAR(a b)", "*", "^", ":", "-", "--", "a:b", "title:x", "\ud800", "\udcff", "\x00", "\x1b[31m",
         "AND", "OR", "NOT", "'", "!", "&", "|", "<->", "战", "战争", "(", ")", "{", "}", "\\", "volcano", "e'", "::*"]


@given(st.lists(st.one_of(st.text(max_size=20), st.sampled_from(NASTY),
                          st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=3)),
                max_size=8).map(" ".join))
@example("x" * 10_000)
@example("战" * 10_000)
@example("word " * 2_000)
@example('"unbalanced phrase')
@example("-")
@example("-only -exclusions")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_query_answers_results_none_or_one_line(news: Path, query: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = run_search(load_settings(news), query, out=out, err=err)
    assert code in (0, 1, 2), err.getvalue()
    if code == 2:
        assert len(err.getvalue().splitlines()) == 1 and not out.getvalue()
    else:
        assert "Traceback" not in err.getvalue() and len(err.getvalue().splitlines()) <= 1


def test_a_store_of_0004_gets_the_index_on_upgrade_and_reindex_fills_it(
    tmp_path: Path, httpserver: HTTPServer, state_url: str, cli: Callable[..., CliResult]
) -> None:
    """The migration adds the index to an existing store (both stores); it starts empty, `search`
    says what is missing, and `reindex` fills it."""
    import asyncio

    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config

    from crawler.store import versions
    from crawler.store.db import open_database

    def to_0004(conn: sa.Connection) -> None:
        config = Config()
        config.set_main_option("script_location", str(versions.MIGRATIONS))
        config.attributes["connection"] = conn
        command.upgrade(config, "0004")

    async def build() -> None:
        db = open_database(state_url)
        await db.transaction(to_0004)
        await db.dispose()

    asyncio.run(build())
    config = crawl_news(tmp_path, httpserver, state_url, cli)  # upgrades to HEAD, indexes what it archives
    from crawler.search import unindexed
    from crawler.store import StateStore

    async def forget_index() -> int:  # as if the entries had been archived before the upgrade
        store = await StateStore.open(state_url)
        await store.transaction(lambda conn: conn.execute(sa.text("DELETE FROM search_docs")))
        missing = await store.transaction(unindexed)
        await store.close()
        return missing

    assert asyncio.run(forget_index()) == len(NEWS) + len(OTHER)
    before = cli("search", "volcano", "--config", str(config))
    assert before.code == 1 and "9 archived entries are not in the index yet" in before.err
    assert cli("reindex", "--config", str(config)).code == 0
    after = cli("search", "volcano", "--config", str(config))
    assert after.code == 0 and len(after.out.splitlines()) == 3 and not after.err


def test_a_re_poll_with_nothing_new_imports_nothing_of_search(tmp_path: Path, httpserver: HTTPServer) -> None:
    """The re-poll costs what it cost without the index: in a fresh interpreter, a crawl whose feed
    answers 304 loads no module of crawler.search (the first crawl, which archives, does)."""
    import os
    import subprocess
    import sys

    from werkzeug import Request, Response

    document = rss([Item("Story", "http://news.example/s", "<p>Some words.</p>")])

    def feed(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304)
        return Response(document, content_type="application/rss+xml", headers={"ETag": '"v1"'})

    httpserver.expect_request("/feed.xml").respond_with_handler(feed)
    config = write_config(tmp_path, [{"name": "news", "url": httpserver.url_for("/feed.xml")}], defaults=DEFAULTS)
    script = ("import sys\nfrom crawler import cli\n"
              f"status = cli.main(['crawl', '--config', {str(config)!r}])\n"
              "print(status, sorted(m for m in sys.modules if m.startswith('crawler.search')))\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    def crawl() -> str:
        return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env,
                              cwd=tmp_path, timeout=120).stdout.splitlines()[-1]

    assert "crawler.search.index" in crawl()
    assert crawl() == "0 []"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_a_table_with_the_matched_words_highlighted(news: Path) -> None:
    out = Terminal()
    assert run_search(load_settings(news), "战争", out=out, err=io.StringIO()) == 0
    shown = out.getvalue()
    assert "\x1b[1;33m战争\x1b[0m" in shown, shown  # bold yellow
    assert "date" in shown and "2022-02-13" in shown and "news" in shown and "┏" in shown


def test_a_pathological_article_is_indexed_without_failing_its_poll(
    tmp_path: Path, httpserver: HTTPServer, state_url: str, cli: Callable[..., CliResult]
) -> None:
    """16,000 distinct 100-letter words would be a tsvector over PostgreSQL's 1 MB: the poll that
    archives it (and the others committed with it) must still be recorded."""
    import random

    rng = random.Random(1)
    words = " ".join("".join(rng.choices("abcdefghijklmnopqrstuvwxyz", k=100)) for _ in range(16_000))
    items = [Item("Huge", "http://news.example/huge", f"<p>{words} needle</p>"),
             Item("Small", "http://news.example/small", "<p>needle in a small haystack</p>")]
    config = crawl_news(tmp_path, httpserver, state_url, cli, items)
    assert titles(cli, config, "haystack") == ["Small"]
    assert titles(cli, config, "huge") == ["Huge"]
