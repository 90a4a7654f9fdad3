"""The index kept up: an archived entry's file indexed with the poll that wrote it, or every file
again (`reindex`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import sqlalchemy as sa

from crawler.search.document import Document, archived_files, read_document
from crawler.search.index import Row, clear, make_row, write_rows
from crawler.store import StateStore

log = logging.getLogger(__name__)

_CHUNK = 500


def prepare_index(archive_dir: Path, feed: str, written: Sequence[tuple[str, str]]) -> Callable[[sa.Connection], None]:
    """Read and tokenise the files a poll wrote, (entry id, path relative to `archive_dir`) each;
    returns the writes to make in the poll's transaction. CPU and disk: call it off the event loop."""
    rows: list[Row] = []
    for entry_id, relpath in written:
        doc = read_document(archive_dir, relpath)
        if doc is None:
            log.warning("feed=%s entry_id=%s not indexed for search: cannot read %s", feed, entry_id, relpath)
            continue
        rows.append(make_row(feed, entry_id, doc))
    return lambda conn: write_rows(conn, rows)


async def reindex(store: StateStore, archive_dir: Path) -> tuple[int, int]:
    """Index every archived file again; (indexed, unreadable). The index is emptied first, then
    filled in transactions of `_CHUNK` files, so a crawl running meanwhile is never kept waiting
    long (its own entries are indexed by it, or again here: either way once). A file the store
    knows is indexed under its feed and entry id; any other (copied in, or written by another
    program) under no feed, its path for id."""
    import asyncio

    def start(conn: sa.Connection) -> None:
        clear(conn)

    await store.transaction(start)
    paths = await asyncio.to_thread(archived_files, archive_dir)
    indexed = unreadable = 0
    for at in range(0, len(paths), _CHUNK):
        chunk = paths[at : at + _CHUNK]
        docs = await asyncio.to_thread(_read_all, archive_dir, chunk)
        rows = []  # made here, off the store's thread; keyed in the transaction, as the store knows them now
        for path, doc in docs:
            if doc is None:
                unreadable += 1
                log.warning("not indexed for search: %s has no front matter this program reads", path)
            else:
                rows.append(make_row("", path, doc))

        def write(conn: sa.Connection, rows: list[Row] = rows) -> int:
            keys = {path: (feed, entry_id) for feed, entry_id, path in conn.execute(
                sa.text("SELECT feed, entry_id, path FROM entries WHERE path IN :paths ORDER BY archived_at DESC")
                .bindparams(sa.bindparam("paths", expanding=True)), {"paths": [r.path for r in rows]})}
            write_rows(conn, [replace(r, feed=keys[r.path][0], entry_id=keys[r.path][1]) if r.path in keys else r
                              for r in rows])
            return len(rows)

        indexed += await store.transaction(write)
    return indexed, unreadable


def _read_all(archive_dir: Path, paths: Sequence[str]) -> list[tuple[str, Document | None]]:
    return [(path, read_document(archive_dir, path)) for path in paths]
