"""`feed-archiver search QUERY` and `feed-archiver reindex` (DESIGN.md, "Search").

search: best matches first; on a terminal a table with the matched words highlighted, into a
pipe one tab-separated line per match (date, feed, title, path, snippet with `[matched]` words),
`--json` an array of objects. Exit 0 with results, 1 with none, 2 a query it cannot read, 3 the
store cannot be opened (or holds no index yet).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TextIO

import sqlalchemy as sa

from crawler.config import Settings
from crawler.errors import StateError
from crawler.search import Hit, Query, QueryError, Snippet, make_snippet, parse, read_document, reindex, search
from crawler.store import StateStore, shown, store_exists

EXIT_FOUND, EXIT_NONE, EXIT_USAGE, EXIT_STORE = 0, 1, 2, 3


def _say(err: TextIO, line: str) -> None:
    err.write(" ".join(line.split()).encode("utf-8", "backslashreplace").decode("utf-8") + "\n")


def parse_since(value: str | None) -> datetime | None:
    """`2024-05-01` or `2024-05-01T12:00` (UTC unless it says otherwise); ValueError otherwise."""
    if value is None:
        return None
    when = datetime.fromisoformat(value.strip())
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


async def _open(settings: Settings, *, upgrade: bool) -> StateStore:
    if not upgrade and not store_exists(settings.state_url):
        raise StateError(f"no state store at {shown(settings.state_url)}: nothing archived yet")
    store = await StateStore.open(settings.state_url, upgrade=upgrade)
    if not await store.transaction(lambda conn: sa.inspect(conn).has_table("search_docs")):
        await store.close()
        raise StateError(f"the state store {shown(settings.state_url)} has no search index yet "
                         "(schema before 0005): run `feed-archiver reindex`")
    return store


async def _search(settings: Settings, query: Query, feeds: Sequence[str], since: datetime | None,
                  limit: int, err: TextIO) -> list[Hit]:
    from crawler.search import unindexed

    store = await _open(settings, upgrade=False)
    try:
        hits = await store.transaction(lambda conn: search(conn, query, feeds, since, limit))
        missing = await store.transaction(unindexed)
    finally:
        await store.close()
    if missing > 0:
        _say(err, f"search: {missing} archived entries are not in the index yet: run `feed-archiver reindex`")
    return hits


def run_search(settings: Settings, text: str, feeds: Sequence[str] = (), since: str | None = None, limit: int = 20,
               as_json: bool = False, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    try:
        query = parse(text)
    except QueryError as exc:
        _say(err, f"search: {exc}")
        return EXIT_USAGE
    try:
        when = parse_since(since)
    except ValueError:
        _say(err, f"search: --since {since!r}: not a date (write 2024-05-01 or 2024-05-01T12:00)")
        return EXIT_USAGE
    if limit < 1:
        _say(err, f"search: --limit {limit}: must be 1 or more")
        return EXIT_USAGE
    try:
        hits = asyncio.run(_search(settings, query, feeds, when, limit, err))
    except StateError as exc:
        _say(err, str(exc))
        return EXIT_STORE
    snippets = [_snippet(settings, hit, query) for hit in hits]
    if as_json:
        json.dump([_as_json(hit, snippet) for hit, snippet in zip(hits, snippets, strict=True)], out,
                  ensure_ascii=False, indent=2)
        out.write("\n")
    elif out.isatty():
        _table(hits, snippets, out)
    else:
        for hit, snippet in zip(hits, snippets, strict=True):
            fields = [_date(hit), hit.feed, hit.title, hit.path, snippet.marked()]
            out.write("\t".join(" ".join(f.split()) for f in fields) + "\n")
    return EXIT_FOUND if hits else EXIT_NONE


def _snippet(settings: Settings, hit: Hit, query: Query) -> Snippet:
    doc = read_document(settings.archive_dir, hit.path)
    return make_snippet(doc.body, query) if doc is not None else Snippet("", ())


def _date(hit: Hit) -> str:
    return hit.date.strftime("%Y-%m-%d") if hit.date else ""


def _as_json(hit: Hit, snippet: Snippet) -> dict[str, object]:
    return {"path": hit.path, "feed": hit.feed, "title": hit.title,
            "date": hit.date.isoformat().replace("+00:00", "Z") if hit.date else None,
            "link": hit.link, "score": hit.score, "snippet": snippet.marked()}


def _table(hits: Sequence[Hit], snippets: Sequence[Snippet], out: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(show_lines=True)
    for name in ("date", "feed", "title", "path", "snippet"):
        table.add_column(name, overflow="fold")
    for hit, snippet in zip(hits, snippets, strict=True):
        text = Text(snippet.text)
        for start, end in snippet.marks:
            text.stylize("bold yellow", start, end)
        table.add_row(_date(hit), hit.feed, hit.title, hit.path, text)
    Console(file=out).print(table)


def run_reindex(settings: Settings, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Rebuild the index from the archive's files; 0 done, 3 the store cannot be opened."""
    out, err = out or sys.stdout, err or sys.stderr

    async def rebuild() -> tuple[int, int]:
        store = await _open(settings, upgrade=True)
        try:
            return await reindex(store, settings.archive_dir)
        finally:
            await store.close()

    try:
        indexed, unreadable = asyncio.run(rebuild())
    except StateError as exc:
        _say(err, str(exc))
        return EXIT_STORE
    out.write(f"indexed {indexed} archived files" + (f"; {unreadable} unreadable, skipped" if unreadable else "")
              + "\n")
    return 0
