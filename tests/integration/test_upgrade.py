"""Schema versions: a store of 0.1.0 goes on, a newer store is refused, `status` never writes."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from crawler.store import versions
from tests.conftest import CliResult, archived_files

V010 = Path(__file__).parent.parent / "fixtures" / "v0.1.0"
NEW_ITEM = (
    '<item><title>After the upgrade</title><link>http://example.com/articles/6</link>'
    '<guid isPermaLink="false">tag:example.com,2024:6</guid><pubDate>Sat, 06 Jan 2024 10:00:00 GMT</pubDate>'
    '<description><![CDATA[<p>' + "A new article. " * 60 + "</p>]]></description></item>"
)


def install_0_1_0(tmp_path: Path, httpserver: HTTPServer, *, new_item: bool) -> Path:
    """The 0.1.0 archive and store in `tmp_path`, its feed served again (with one more item)."""
    shutil.copytree(V010 / "archive", tmp_path / "archive")
    port = str(httpserver.port)
    feed = (V010 / "feed.xml").read_text(encoding="utf-8").replace("{PORT}", port)
    if new_item:
        feed = feed.replace("</channel>", NEW_ITEM + "</channel>")
    httpserver.expect_request("/feed.xml").respond_with_data(feed, content_type="application/rss+xml")
    httpserver.expect_request("/pic.png").respond_with_data(
        (V010 / "archive" / "images").glob("*.png").__next__().read_bytes(), content_type="image/png"
    )
    config = tmp_path / "feeds.yaml"
    config.write_text((V010 / "feeds.yaml").read_text(encoding="utf-8").replace("{PORT}", port), encoding="utf-8")
    return config


def revision(store: Path) -> str | None:
    with sqlite3.connect(store) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if "alembic_version" not in tables:
            return None
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def test_a_0_1_0_store_is_upgraded_in_place_and_nothing_is_archived_twice(
    tmp_path: Path, httpserver: HTTPServer, cli: Callable[..., CliResult]
) -> None:
    config = install_0_1_0(tmp_path, httpserver, new_item=True)
    archive = tmp_path / "archive"
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in archived_files(archive)}
    assert len(before) == 5 and revision(archive / ".feed-archiver.sqlite") is None

    first = cli("crawl", "--config", str(config))

    assert first.code == 0, first.err
    assert revision(archive / ".feed-archiver.sqlite") == versions.HEAD
    assert "upgraded from schema 0.1.0 (unversioned) to " + versions.HEAD in first.err
    after = archived_files(archive)
    assert len(after) == 6, "the new item is archived once, the five old ones not again"
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in after if p in before} == before
    [new] = [p for p in after if p not in before]
    assert new.name.startswith("After the upgrade_")

    again = cli("crawl", "--config", str(config))
    assert again.code == 0 and len(archived_files(archive)) == 6
    assert "upgraded" not in again.err


def test_the_first_polls_after_an_upgrade_revise_only_what_really_changed(
    tmp_path: Path, httpserver: HTTPServer, cli: Callable[..., CliResult]
) -> None:
    """0.1.0 kept no hash of what an entry said: the first polls must not take every entry for a
    changed one (no revision, no file touched), and a later real edit is still one revision."""
    config = install_0_1_0(tmp_path, httpserver, new_item=False)
    archive = tmp_path / "archive"
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in archived_files(archive)}

    for _ in range(2):
        assert cli("crawl", "--config", str(config)).code == 0

    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in archived_files(archive)} == before
    assert not (archive / ".revisions").exists()
    feed = (V010 / "feed.xml").read_text(encoding="utf-8").replace("{PORT}", str(httpserver.port))
    httpserver.clear_all_handlers()
    httpserver.expect_request("/feed.xml").respond_with_data(
        feed.replace("Body of article 3.", "Body of article 3, corrected."), content_type="application/rss+xml"
    )
    httpserver.expect_request("/pic.png").respond_with_data(
        next((V010 / "archive" / "images").glob("*.png")).read_bytes(), content_type="image/png"
    )

    assert cli("crawl", "--config", str(config)).code == 0

    changed = [p for p in archived_files(archive) if before.get(p, (b"",))[0] != p.read_bytes()]
    assert len(changed) == 1 and "Body of article 3, corrected." in changed[0].read_text(encoding="utf-8")
    assert len(list((archive / ".revisions").rglob("*.md"))) == 1
    assert '"entries_updated": 1' in cli("status", "--config", str(config), "--json").out


def test_status_reads_an_old_store_without_writing_to_it(
    tmp_path: Path, httpserver: HTTPServer, cli: Callable[..., CliResult]
) -> None:
    config = install_0_1_0(tmp_path, httpserver, new_item=False)
    store = tmp_path / "archive" / ".feed-archiver.sqlite"
    before = store.read_bytes()

    result = cli("status", "--config", str(config), "--json")

    assert result.code == 0, result.err
    assert '"entries_archived": 5' in result.out and '"state": "ok"' in result.out
    assert store.read_bytes() == before and revision(store) is None


def test_a_store_newer_than_the_program_is_refused_with_one_line(
    tmp_path: Path, httpserver: HTTPServer, cli: Callable[..., CliResult]
) -> None:
    config = install_0_1_0(tmp_path, httpserver, new_item=True)
    store = tmp_path / "archive" / ".feed-archiver.sqlite"
    assert cli("crawl", "--config", str(config)).code == 0
    with sqlite3.connect(store) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    files = archived_files(tmp_path / "archive")

    for command in ("crawl", "status"):
        result = cli(command, "--config", str(config))
        assert result.code == 3, (command, result.err)
        lines = [line for line in result.err.splitlines() if line.strip()]
        assert len(lines) == 1 and "schema revision 9999, newer than this feed-archiver" in lines[0]
        assert "Traceback" not in result.err
    assert archived_files(tmp_path / "archive") == files
    assert revision(store) == "9999"


def test_the_program_knows_every_revision_script_and_head_is_the_newest() -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(versions.MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    assert scripts.get_heads() == [versions.HEAD]
    assert [s.revision for s in reversed(list(scripts.walk_revisions()))] == list(versions.KNOWN)
    assert scripts.get_base() == versions.BASELINE


def _schema_diff(conn: object) -> list[object]:
    """Alembic's comparison of the store with `schema.metadata`, and of its search index with one
    `create_all` makes. The FTS5 virtual table (and the shadow tables SQLite keeps for it) are no
    table SQLAlchemy can reflect or the metadata can hold: they are compared as SQLite wrote them."""
    import sqlalchemy as sa
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from crawler.store.schema import metadata

    def not_fts(name: str | None, type_: str, _parent: object) -> bool:
        return not (type_ == "table" and name is not None and name.startswith("search_fts"))

    assert isinstance(conn, sa.Connection)
    diff: list[object] = list(compare_metadata(MigrationContext.configure(conn, opts={"include_name": not_fts}),
                                               metadata))
    fts = ("SELECT type, name, sql FROM sqlite_master WHERE name LIKE 'search_fts%' ORDER BY name",
           "SELECT k, v FROM search_fts_config ORDER BY k")
    fresh = sa.create_engine("sqlite://")
    with fresh.begin() as made:
        metadata.create_all(made)
        expected = [made.execute(sa.text(q)).all() for q in fts]
    fresh.dispose()
    found = [conn.execute(sa.text(q)).all() for q in fts]
    assert expected[0], "create_all makes the FTS5 table"
    if found != expected:
        diff.append(("search_fts", found, expected))
    return diff


def _alembic(conn: object) -> object:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(versions.MIGRATIONS))
    config.attributes["connection"] = conn
    return config


@pytest.mark.parametrize("start", [None, versions.BASELINE])
def test_migrations_build_exactly_the_tables_the_program_uses(tmp_path: Path, start: str | None) -> None:
    """From an empty store, or from the baseline: the scripts build `schema.metadata`."""
    import sqlalchemy as sa
    from alembic import command

    engine = sa.create_engine(f"sqlite:///{tmp_path}/s.sqlite")
    with engine.begin() as conn:
        if start is None:
            command.upgrade(_alembic(conn), "head")  # every script, from nothing
        else:
            command.upgrade(_alembic(conn), start)
            versions.upgrade(conn, "test")
        assert versions.read_revision(conn) == versions.HEAD
        diff = _schema_diff(conn)
    engine.dispose()
    assert diff == []


def test_a_new_store_is_built_at_head_in_a_form_alembic_reads_and_migrates(tmp_path: Path) -> None:
    """An empty store gets the tables and the stamp without Alembic; Alembic then finds it at HEAD
    and can take it down a revision and back up, so later upgrades start from a true stamp."""
    import sqlalchemy as sa
    from alembic import command
    from alembic.migration import MigrationContext

    engine = sa.create_engine(f"sqlite:///{tmp_path}/s.sqlite")
    with engine.begin() as conn:
        assert versions.upgrade(conn, "test") == (None, versions.HEAD)
        assert MigrationContext.configure(conn).get_current_revision() == versions.HEAD
        assert _schema_diff(conn) == []
        command.downgrade(_alembic(conn), versions.KNOWN[-2])
        assert versions.read_revision(conn) == versions.KNOWN[-2]
        command.upgrade(_alembic(conn), "head")
        assert MigrationContext.configure(conn).get_current_revision() == versions.HEAD
        assert _schema_diff(conn) == []
    engine.dispose()
