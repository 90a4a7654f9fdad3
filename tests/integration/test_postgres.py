"""`feed-archiver` with `state: postgresql://...` against the test PostgreSQL server (tests/pg.py):
what a user sees when the store is shared, and when it cannot be opened."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.conftest import Item, archived_files, json_feed, rss, write_config
from tests.daemons import DaemonProcess, status
from tests.pg import VISITOR, PostgresServer
from tests.ports import refused_port


def body(n: int) -> str:
    return f"<p>Paragraph {n} of a story long enough to need no page fetch.</p>" * 30


def test_crawl_twice_on_postgresql_archives_once_and_asks_conditionally(
    tmp_path: Path, httpserver: HTTPServer, postgres_server: PostgresServer, postgres_url: str, cli
) -> None:
    rss_requests: list[dict[str, str]] = []
    document = rss([Item(f"Story {n}", httpserver.url_for(f"/{n}"), body(n)) for n in range(3)])

    def feed(request: Request) -> Response:
        rss_requests.append(dict(request.headers))
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304)
        return Response(document, content_type="application/rss+xml", headers={"ETag": '"v1"'})

    httpserver.expect_request("/feed.xml").respond_with_handler(feed)
    # JSON allows a NUL in an id, PostgreSQL's text does not: this feed must not fail the crawl.
    httpserver.expect_request("/feed.json").respond_with_data(
        json_feed([{"id": "odd\u0000id", "url": httpserver.url_for("/j"), "title": "Odd id", "content_html": body(9)}]),
        content_type="application/feed+json",
    )
    config = write_config(tmp_path, [{"name": "gazette", "url": httpserver.url_for("/feed.xml")},
                                     {"name": "odd", "url": httpserver.url_for("/feed.json")}],
                          state=postgres_url)

    first = cli("crawl", "--config", str(config))
    files = archived_files(tmp_path / "archive")
    second = cli("crawl", "--config", str(config))

    assert first.code == 0, first.err
    assert len(files) == 4
    assert second.code == 0, second.err
    assert archived_files(tmp_path / "archive") == files
    assert len(rss_requests) == 2 and rss_requests[1].get("If-None-Match") == '"v1"'
    assert not (tmp_path / "archive" / ".state.sqlite").exists()
    assert postgres_server.sql("SELECT feed, count(*) FROM entries GROUP BY feed ORDER BY feed",
                               postgres_url.rsplit("/", 1)[1]).split() == ["gazette|3", "odd|1"]
    rows = {row["name"]: row for row in json.loads(cli("status", "--config", str(config), "--json").out)}
    assert rows["gazette"]["entries_archived"] == 3 and rows["gazette"]["last_status"] == 304
    assert rows["odd"]["entries_archived"] == 1 and rows["odd"]["state"] == "ok"


def _bad_stores(server: PostgresServer, database: str) -> dict[str, tuple[str, str]]:
    """What a user can get wrong: the URL, and the line they must see."""
    return {
        "unreachable": (f"postgresql://archiver:secret@127.0.0.1:{refused_port()}/{database}", "Connect call failed"),
        "wrong password": (server.url(database, password="wrong"), "password authentication failed"),
        "no table rights": (server.url(database, role=VISITOR), "permission denied for schema public"),
    }


@pytest.mark.parametrize("command", ["crawl", "run", "status"])
@pytest.mark.parametrize("mistake", ["unreachable", "wrong password", "no table rights"])
def test_a_store_that_cannot_be_opened_is_one_line_and_exit_3(
    tmp_path: Path, postgres_server: PostgresServer, postgres_url: str, cli, command: str, mistake: str
) -> None:
    url, expected = _bad_stores(postgres_server, postgres_url.rsplit("/", 1)[1])[mistake]
    config = write_config(tmp_path, [{"name": "a", "url": "http://127.0.0.1:9/feed.xml"}], state=url)

    result = cli(command, "--config", str(config))

    if (mistake, command) == ("no table rights", "status"):
        # `status` only reads, and an empty database it may read says what a new store would.
        assert result.code == 0 and "\ta\tnew\t" not in result.out and result.out.splitlines()[1].startswith("a\tnew")
        return
    assert result.code == 3
    [line] = [line for line in result.err.splitlines() if line.strip()]
    assert "cannot open the state store postgresql://" in line and expected in line
    assert ":***@" in line and ":secret@" not in line and ":wrong@" not in line
    assert "Traceback" not in result.err
    assert archived_files(tmp_path / "archive") == []


@pytest.mark.parametrize("command", ["crawl", "run", "status"])
def test_without_asyncpg_the_store_says_which_extra_to_install(
    tmp_path: Path, postgres_url: str, cli, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    # None in sys.modules is how Python spells "this module cannot be imported".
    monkeypatch.setitem(sys.modules, "asyncpg", None)
    config = write_config(tmp_path, [{"name": "a", "url": "http://127.0.0.1:9/feed.xml"}], state=postgres_url)

    result = cli(command, "--config", str(config))

    assert result.code == 3
    [line] = [line for line in result.err.splitlines() if line.strip()]
    assert "asyncpg is not installed (pip install 'feed-archiver[postgres]')" in line


def test_the_daemon_on_postgresql_polls_and_stops_cleanly(
    tmp_path: Path, httpserver: HTTPServer, postgres_server: PostgresServer, postgres_url: str
) -> None:
    """`run` on a postgresql:// state: polls, conditional re-polls, and a SIGTERM after which it
    says goodbye on each of its connections (the server logs, at debug1, a client that just vanished)."""
    database = postgres_url.rsplit("/", 1)[1]
    postgres_server.sql(f"ALTER DATABASE {database} SET log_min_messages = debug1")
    httpserver.expect_request("/feed.xml").respond_with_handler(
        lambda request: Response(status=304) if request.headers.get("If-None-Match") == '"v1"' else Response(
            rss([Item("First", httpserver.url_for("/1"), body(1))]), content_type="application/rss+xml",
            headers={"ETag": '"v1"'}))
    config = write_config(tmp_path, [{"name": "news", "url": httpserver.url_for("/feed.xml"), "interval": "1s"}],
                          state=postgres_url)
    daemon = DaemonProcess(config)
    try:
        daemon.wait_for(r"feed=news status=200 new=1 ")
        daemon.wait_for(r"feed=news status=304 new=0 ")
        code = daemon.stop()
    finally:
        daemon.close()
    log = daemon.log + [daemon.lines.get_nowait() for _ in range(daemon.lines.qsize())]

    assert code == 0
    assert not [line for line in log if "Traceback" in line or "Warning" in line]
    assert not [line for line in postgres_server.log_lines(database) if "unexpected EOF" in line]
    assert status(config)["news"]["entries_archived"] == 1
