"""Shared test helpers: config files, feed documents, and running the real CLI in-process."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
import yaml
from pytest_httpserver import HTTPServer

from crawler.cli import main
from tests.daemons import DaemonProcess
from tests.faults import FaultServer
from tests.pg import postgres_server, postgres_url  # noqa: F401  (fixtures: a real PostgreSQL, tests/pg.py)

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    # A proxy from the environment must never carry test traffic off the machine.
    for key in list(os.environ):
        if key.lower() in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
            monkeypatch.delenv(key)


@pytest.fixture
def httpserver(httpserver: HTTPServer) -> HTTPServer:
    """pytest-httpserver's server, answering 404 for a path no test set up, as web servers do:
    its default, 500, would read as a robots.txt that fails (RFC 9309: every page disallowed)."""
    httpserver.no_handler_status_code = 404
    return httpserver


@pytest.fixture
def server() -> Iterator[FaultServer]:
    """The fault-injecting server (tests/faults.py), one per test."""
    fault_server = FaultServer()
    yield fault_server
    fault_server.close()


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    """`feed-archiver run` processes a test starts (tests/daemons.py); killed at its end."""
    started: list[DaemonProcess] = []
    yield started
    for daemon in started:
        daemon.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A state store URL for each kind the program supports: an SQLite file, and a fresh database
    on the test PostgreSQL server. Tests taking it run once for each."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state/store.sqlite"
    url: str = request.getfixturevalue("postgres_url")
    return url


@dataclass
class Item:
    title: str
    link: str
    description: str = "<p>Body.</p>"
    guid: str | None = None
    published: datetime | None = None
    author: str | None = None


def rss(items: Sequence[Item], title: str = "Test feed", link: str = "http://example.com/") -> bytes:
    """An RSS 2.0 document; descriptions go in CDATA as RSSHub writes them."""
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>',
        f"<title>{escape(title)}</title><link>{escape(link)}</link><generator>RSSHub</generator>",
    ]
    for item in items:
        parts.append("<item>")
        parts.append(f"<title>{escape(item.title)}</title>")
        parts.append(f"<link>{escape(item.link)}</link>")
        parts.append(f"<guid>{escape(item.guid or item.link)}</guid>")
        when = item.published or datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
        parts.append(f"<pubDate>{format_datetime(when, usegmt=True)}</pubDate>")
        if item.author:
            parts.append(f"<dc:creator>{escape(item.author)}</dc:creator>")
        parts.append(f"<description><![CDATA[{item.description}]]></description>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "\n".join(parts).encode("utf-8")


def json_feed(items: Sequence[dict[str, Any]], title: str = "JSON feed") -> bytes:
    return json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "title": title, "items": list(items)}, ensure_ascii=False
    ).encode("utf-8")


def write_config(directory: Path, feeds: Iterable[dict[str, Any]], **top: Any) -> Path:
    config = {"archive_dir": "archive", "state": "sqlite:///archive/.state.sqlite", **top, "feeds": list(feeds)}
    path = directory / "feeds.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., CliResult]:
    """Run `feed-archiver ARGS...` in this process, as a user would from a shell."""

    def run(*args: str) -> CliResult:
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            code = main(list(args))
        finally:
            # The command points the root logger at this test's captured stderr; a server
            # thread logging after the test would write to a closed stream.
            root.handlers[:], root.level = handlers, level
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


def split_document(path: Path) -> tuple[dict[str, Any], str]:
    """Front matter (parsed) and body of an archived file, checking the layout on the way."""
    text = path.read_text(encoding="utf-8")
    assert text.startswith("---\n"), "front matter must start on the first line"
    _, front, body = text.split("---\n", 2)
    assert body.startswith("\n<div>")
    return yaml.safe_load(front), body


def archived_files(archive: Path) -> list[Path]:
    """The archive's entry files: the `.md` files outside dot folders (`.revisions/` holds old ones)."""
    return sorted(
        p for p in archive.rglob("*.md")
        if p.name != "README.md" and not any(part.startswith(".") for part in p.relative_to(archive).parts[:-1])
    )


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file but the state store and the writer lock, with bytes and mtime: what "changes no byte" compares."""
    return {
        str(p.relative_to(root)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file() and ".state.sqlite" not in p.name and p.name != ".feed-archiver.lock"
    }


def http_get(url: str) -> tuple[int, str]:
    """GET on a local server: the status and the body, whatever the status."""
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def days_ago(days: int) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


@contextmanager
def mounted_tmpfs(folder: Path, size: str) -> Iterator[Path]:
    """`folder` as a tmpfs of `size` (a file system of its own, easily filled) for the block. Mounting
    needs root: skipped where it cannot be done, except in CI (which runs as root), where it fails."""
    folder.mkdir(exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                          capture_output=True, timeout=30)
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs here: {done.stderr.decode().strip()}"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(reason + " (CI must run this test)", pytrace=False)
        pytest.skip(reason)
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True, timeout=30)
