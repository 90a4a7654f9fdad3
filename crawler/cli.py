"""The `feed-archiver` command: parses arguments, then hands over to `crawler.app`."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
from collections.abc import Sequence
from contextlib import suppress
from typing import TYPE_CHECKING, NoReturn

from crawler import __version__
from crawler.runtime import collector_paused

if TYPE_CHECKING:
    from crawler.config import Settings
    from crawler.errors import ConfigError

EXIT_CONFIG = 2
EXIT_BROKEN_PIPE = 128 + 13  # as a shell reports a command ended by SIGPIPE
EXIT_INTERRUPTED = 128 + 2  # ... and one ended by Ctrl-C (SIGINT)
DEFAULT_CONFIG = "config/feeds.yaml"  # relative to the working directory, as the README runs it


def _logging_options(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument("--log-level", default=default, choices=["debug", "info", "warning", "error"],
                        help="default: info (warning while a progress bar is shown)")
    parser.add_argument("--log-format", default="text" if default is None else default, choices=["text", "json"])


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="feed-archiver", description="Archive news feeds as Markdown files.")
    parser.add_argument("--version", action="version", version=f"feed-archiver {__version__}")
    _logging_options(parser, None)
    # The same options after the command (`crawl --log-level debug`); given there, they win.
    after = argparse.ArgumentParser(add_help=False)
    _logging_options(after, argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, parents=[after])
        sub.add_argument("--config", default=DEFAULT_CONFIG, metavar="PATH",
                         help=f"config file (default: {DEFAULT_CONFIG})")
        return sub

    crawl = add("crawl", "one pass over all (or the named) feeds, then exit")
    crawl.add_argument("--feed", action="append", default=[], metavar="NAME", help="only this feed (repeatable)")
    run = add("run", "the daemon: poll every feed on its schedule until SIGTERM/SIGINT")
    run.add_argument("--watch", action="store_true", help="reload when the config file changes")
    status = add("status", "one row per feed: last poll, status, failures, next due")
    status.add_argument("feeds", nargs="*", metavar="FEED", help="only these feeds, every field of each in full")
    status.add_argument("--json", action="store_true", help="print a JSON array")
    status.add_argument("--wide", action="store_true", help="every column in full, however wide the terminal")
    check = add("check", "validate the config and list the feeds it would poll")
    check.add_argument("--wide", action="store_true", help="a table of every column, however wide the terminal")
    opml_in = add("import", "add the feeds of an OPML file to the config")
    opml_in.add_argument("opml", metavar="FILE.opml", help="an OPML export of another feed reader")
    add("export", "print the config's feeds as OPML 2.0")
    one = add("add", "add one feed: its URL, a page that links it, or rsshub:/route")
    one.add_argument("url", metavar="URL")
    one.add_argument("--name", default=None, help="default: made from the feed's title")
    one.add_argument("--category", action="append", default=[], metavar="C", help="a category (repeatable)")
    # render: the archive in another format, from the archive alone (crawler/commands/render.py)
    out = add("render", "write the whole archive in another format into an empty folder (no network)")
    out.add_argument("--format", required=True, choices=["hexo", "hugo", "jekyll", "obsidian"])
    out.add_argument("--body", default=None, choices=["html", "markdown"],
                     help="default: html for hexo, markdown for the others")
    out.add_argument("--to", required=True, metavar="DIR", help="an empty folder outside the archive")
    # search, reindex (DESIGN.md, "Search")
    find = add("search", "find archived articles: words, \"phrases\", -word to exclude")
    find.add_argument("query", metavar="QUERY")
    find.add_argument("--feed", action="append", default=[], metavar="NAME", help="only this feed (repeatable)")
    find.add_argument("--since", default=None, metavar="DATE", help="only articles dated DATE (2024-05-01) or later")
    find.add_argument("--limit", type=int, default=20, metavar="N", help="at most N results (default: 20)")
    find.add_argument("--json", action="store_true", help="print a JSON array")
    add("reindex", "rebuild the search index from the archive's files")
    wacz = add("export-wacz", "pack the WARC files (capture: warc) as a WACZ for ReplayWeb.page")
    wacz.add_argument("--to", required=True, metavar="FILE.wacz", help="the file to write")
    wacz.add_argument("--since", default=None, metavar="DATE", help="only captures from this date (UTC) on")
    wacz.add_argument("--feed", action="append", default=[], metavar="NAME", help="only this feed's (repeatable)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with collector_paused():
        # The heavy imports, all here: pydantic and PyYAML, rich, then (below) httpx and SQLAlchemy.
        from crawler.config import load_settings
        from crawler.errors import ConfigError
        from crawler.ops import setup_logging

    default_level = "warning" if args.command == "crawl" and sys.stderr.isatty() else "info"
    setup_logging(args.log_level or default_level, args.log_format)
    try:
        settings = load_settings(args.config)
        # The config lives as long as the process: the cyclic collector need not walk its feeds
        # again (100,000 of them: a fifth of `check`'s table, and every full collection of `run`).
        gc.freeze()
        if args.command == "crawl":
            _start_workers_for_a_new_archive(settings)
        if args.command != "check":  # which needs no store nor HTTP client (SQLAlchemy, httpx: 0.5 s)
            with collector_paused():
                from crawler import app  # noqa: F401  (imported again where used, then for free)
        return _dispatch(args, settings)
    except ConfigError as exc:
        _config_error(exc, args.log_format)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _config_error(exc: ConfigError, log_format: str) -> None:
    """One line on stderr: `PATH:LINE: KEY: problem`, or with `--log-format json` a JSON object
    that has them as fields, as the log lines around it."""
    message = str(exc).replace("\n", " ")
    if log_format != "json":
        print(message, file=sys.stderr)
        return
    import logging

    fields = {"file": exc.path, "line": exc.line, "key": exc.key or None, "problem": exc.message}
    logging.getLogger("crawler.config").error("%s", message, extra=fields)


def _start_workers_for_a_new_archive(settings: Settings) -> None:
    """A crawl into a new archive has every entry to archive, so pages to extract and images to
    fetch: the workers' forkserver starts now, and its imports (trafilatura, httpx: 0.35 CPU s)
    run on the other core beside this process's own (httpx, SQLAlchemy), not after them. A
    crawl of known feeds starts no process unless it finds a feed never polled (`app.crawl_all`)."""
    from crawler.store import store_exists

    if not store_exists(settings.state_url):
        from crawler.runtime import start_forkserver

        start_forkserver()


def _check_folders(settings: Settings) -> None:
    """`check` refuses the archive and image folders `crawl` would refuse, the same way, and leaves
    no folder behind: it makes them as `crawl` does, then removes the (empty) ones it made."""
    from crawler.config import ensure_archive_dir

    made: list[str] = []
    for folder in (settings.archive_dir, settings.images_dir):
        path = os.path.abspath(folder)
        while not os.path.lexists(path) and path not in made:
            made.append(path)
            path = os.path.dirname(path)
    try:
        ensure_archive_dir(settings)
    finally:
        for path in sorted(made, key=len, reverse=True):  # the deepest first
            with suppress(OSError):
                os.rmdir(path)


def run() -> NoReturn:
    """The `feed-archiver` command: `main`, then a quick exit."""
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # `feed-archiver status --json | head`: the reader has gone, which is no error of ours. Point
        # stdout at /dev/null so that the interpreter's own last flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = EXIT_BROKEN_PIPE
    except KeyboardInterrupt:  # Ctrl-C before a command handles it (while importing, say): no traceback
        status = EXIT_INTERRUPTED
    # Everything is closed by now. The interpreter's last garbage collections would walk every
    # object of SQLAlchemy, pydantic and httpx for nothing (measured: 0.2-0.3 s of a 1 s re-poll);
    # frozen objects are skipped, and reference counting still frees the rest as usual.
    gc.freeze()
    raise SystemExit(status)


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "check":
        from crawler.ops import feed_rows, print_feeds

        _check_folders(settings)
        print_feeds(feed_rows(settings.feeds), wide=args.wide)
        count = len(settings.feeds)
        print(f"{args.config}: valid, {count} {'feed' if count == 1 else 'feeds'}")
        return 0
    from crawler import app

    if args.command == "status":
        from crawler.errors import ConfigError, StateError
        from crawler.ops import print_feed_status, print_status

        known = {feed.name for feed in settings.feeds}
        for name in args.feeds:
            if name not in known:
                raise ConfigError(str(settings.config_path), None, "", f"no feed named {name!r} in the config")
        try:
            rows = asyncio.run(app.status_rows(settings))
        except StateError as exc:
            print(str(exc).replace("\n", " "), file=sys.stderr)
            return app.EXIT_STARTUP
        if args.feeds:
            rows = [row for row in rows if row["name"] in args.feeds]
            if not args.json:
                for index, row in enumerate(rows):
                    print_feed_status(row, blank_line_first=index > 0)
                return 0
        print_status(rows, as_json=args.json, wide=args.wide)
        return 0
    if args.command == "crawl":
        return asyncio.run(app.run_once(settings, args.feed))
    if args.command in ("import", "export"):
        from crawler.commands import opml

        return opml.import_opml(settings, args.opml) if args.command == "import" else opml.export_opml(settings)
    if args.command == "add":
        from crawler.commands.add import add_feed

        return add_feed(settings, args.url, args.name, tuple(args.category))
    if args.command == "render":
        from crawler.commands.render import render_archive

        return render_archive(settings, args.format, args.body, args.to)
    if args.command in ("search", "reindex"):
        from crawler.commands import search

        if args.command == "reindex":
            return search.run_reindex(settings)
        return search.run_search(settings, args.query, args.feed, args.since, args.limit, args.json)
    if args.command == "export-wacz":
        from crawler.commands.wacz import export

        return export(settings, args.to, args.since, args.feed)
    from crawler import daemon

    return daemon.run(settings, watch=args.watch)
