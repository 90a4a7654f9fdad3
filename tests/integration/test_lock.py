"""One writer per archive, and the temporary files of a killed run swept up under the lock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pytest_httpserver import HTTPServer

from crawler.cluster.lock import LOCK_NAME, archive_lock
from tests.conftest import Item, archived_files, rss, write_config


def feed_config(tmp_path: Path, httpserver: HTTPServer) -> Path:
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss([Item("Locked", httpserver.url_for("/l"), "<p>x</p>" * 100)]), content_type="application/rss+xml"
    )
    return write_config(tmp_path, [{"name": "l", "url": httpserver.url_for("/feed.xml")}])


def test_second_writer_is_refused_with_a_clear_message(tmp_path: Path, httpserver: HTTPServer) -> None:
    config = feed_config(tmp_path, httpserver)
    archive = tmp_path / "archive"
    archive.mkdir()

    with archive_lock(archive):
        result = subprocess.run([sys.executable, "-m", "crawler", "crawl", "--config", str(config)],
                                capture_output=True, text=True, timeout=60)

    assert result.returncode == 3
    assert "another feed-archiver (pid" in result.stderr and "is writing to" in result.stderr
    assert archived_files(archive) == []


def test_temp_files_of_an_interrupted_run_are_removed(tmp_path: Path, httpserver: HTTPServer, cli) -> None:
    config = feed_config(tmp_path, httpserver)
    archive = tmp_path / "archive"
    (archive / "some" / "folder").mkdir(parents=True)
    stale = archive / "some" / "folder" / ".fa-tmp-0123456789ab"
    stale.write_text("half a file")
    (archive / LOCK_NAME).write_text("running 99999\n")

    assert cli("crawl", "--config", str(config)).code == 0

    assert not stale.exists()
    assert (archive / LOCK_NAME).read_text().startswith("clean ")
    assert len(archived_files(archive)) == 1


def test_a_clean_previous_run_skips_the_sweep(tmp_path: Path, httpserver: HTTPServer, cli) -> None:
    config = feed_config(tmp_path, httpserver)
    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / LOCK_NAME).write_text("clean 1\n")
    marker = archive / ".fa-tmp-notswept"
    marker.write_text("left alone: the last run said it stopped cleanly")

    assert cli("crawl", "--config", str(config)).code == 0
    assert marker.exists()
