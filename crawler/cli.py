"""The `feed-archiver` command: parses arguments, then hands over to `crawler.app`."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

from crawler import __version__

if TYPE_CHECKING:
    from crawler.config import Settings

EXIT_CONFIG = 2
EXIT_BROKEN_PIPE = 128 + 13  # as a shell reports a command ended by SIGPIPE
DEFAULT_CONFIG = "config/feeds.yaml"  # relative to the working directory, as the README runs it


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="feed-archiver", description="Archive news feeds as Markdown files.")
    parser.add_argument("--version", action="version", version=f"feed-archiver {__version__}")
    parser.add_argument("--log-level", default=None, choices=["debug", "info", "warning", "error"],
                        help="default: info (warning while a progress bar is shown)")
    parser.add_argument("--log-format", default="text", choices=["text", "json"])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--config", default=DEFAULT_CONFIG, metavar="PATH",
                         help=f"config file (default: {DEFAULT_CONFIG})")
        return sub

    crawl = add("crawl", "one pass over all (or the named) feeds, then exit")
    crawl.add_argument("--feed", action="append", default=[], metavar="NAME", help="only this feed (repeatable)")
    run = add("run", "the daemon: poll every feed on its schedule until SIGTERM/SIGINT")
    run.add_argument("--watch", action="store_true", help="reload when the config file changes")
    status = add("status", "one row per feed: last poll, status, failures, next due")
    status.add_argument("--json", action="store_true", help="print a JSON array")
    add("check", "validate the config and list the feeds it would poll")
    opml_in = add("import", "add the feeds of an OPML file to the config")
    opml_in.add_argument("opml", metavar="FILE.opml", help="an OPML export of another feed reader")
    add("export", "print the config's feeds as OPML 2.0")
    one = add("add", "add one feed: its URL, a page that links it, or rsshub:/route")
    one.add_argument("url", metavar="URL")
    one.add_argument("--name", default=None, help="default: made from the feed's title")
    one.add_argument("--category", action="append", default=[], metavar="C", help="a category (repeatable)")
    wacz = add("export-wacz", "pack the WARC files (capture: warc) as a WACZ for ReplayWeb.page")
    wacz.add_argument("--to", required=True, metavar="FILE.wacz", help="the file to write")
    wacz.add_argument("--since", default=None, metavar="DATE", help="only captures from this date (UTC) on")
    wacz.add_argument("--feed", action="append", default=[], metavar="NAME", help="only this feed's (repeatable)")
    return parser


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """For the start-up imports. They create a few hundred thousand objects that live as long as
    the process (SQLAlchemy, pydantic, httpx), and the cyclic collector would walk them over and
    over while they arrive (measured: 80 ms of a 0.9 s re-poll). Reference counting still frees
    what dies young."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    with _cyclic_gc_paused():
        # The heavy imports, all here: pydantic and PyYAML, rich, then (below) httpx and SQLAlchemy.
        from crawler.config import load_settings
        from crawler.errors import ConfigError
        from crawler.ops import setup_logging

    default_level = "warning" if args.command == "crawl" and sys.stderr.isatty() else "info"
    setup_logging(args.log_level or default_level, args.log_format)
    try:
        settings = load_settings(args.config)
        if args.command == "crawl":
            _start_workers_for_a_new_archive(settings)
        with _cyclic_gc_paused():
            from crawler import app  # noqa: F401  (imported again where used, then for free)
        return _dispatch(args, settings)
    except ConfigError as exc:
        print(str(exc).replace("\n", " "), file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


def _start_workers_for_a_new_archive(settings: Settings) -> None:
    """A crawl into a new archive has every entry to archive, so pages to extract and images to
    fetch: the workers' forkserver starts now, and its imports (trafilatura, httpx: 0.35 CPU s)
    run on the other core beside this process's own (httpx, SQLAlchemy), not after them. A
    crawl of known feeds starts no process unless it finds a feed never polled (`app.crawl_all`)."""
    from crawler.store import store_exists

    if not store_exists(settings.state_url):
        from crawler.runtime import start_forkserver

        start_forkserver()


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
    # Everything is closed by now. The interpreter's last garbage collections would walk every
    # object of SQLAlchemy, pydantic and httpx for nothing (measured: 0.2-0.3 s of a 1 s re-poll);
    # frozen objects are skipped, and reference counting still frees the rest as usual.
    gc.freeze()
    raise SystemExit(status)


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from crawler import app

    if args.command == "check":
        from crawler.ops import print_feeds

        print_feeds(app.describe_feeds(settings))
        print(f"{args.config}: valid, {len(settings.feeds)} feeds")
        return 0
    if args.command == "status":
        from crawler.errors import StateError
        from crawler.ops import print_status

        try:
            rows = asyncio.run(app.status_rows(settings))
        except StateError as exc:
            print(str(exc).replace("\n", " "), file=sys.stderr)
            return app.EXIT_STARTUP
        print_status(rows, as_json=args.json)
        return 0
    if args.command == "crawl":
        return asyncio.run(app.run_once(settings, args.feed))
    if args.command in ("import", "export"):
        from crawler.commands import opml

        return opml.import_opml(settings, args.opml) if args.command == "import" else opml.export_opml(settings)
    if args.command == "add":
        from crawler.commands.add import add_feed

        return add_feed(settings, args.url, args.name, tuple(args.category))
    if args.command == "export-wacz":
        from crawler.commands.wacz import export

        return export(settings, args.to, args.since, args.feed)
    from crawler import daemon

    return daemon.run(settings, watch=args.watch)
