"""The WARC files packed as a WACZ (the `wacz` package): records, their index and the archived pages.

ReplayWeb.page opens a WACZ as it is. `pages/pages.jsonl` lists one page per response an archived
entry's text came from (the article page, or the feed when the feed held the whole text), at the
time it was captured, titled with the entry's title (the feed's name for a feed).

With `--since` or `--feed`, the records chosen are copied (each a gzip member, byte for byte) into
one new WARC file: those of the chosen entries' responses and images (and the feed's own polls),
their requests and the 304 heads, and for each revisit the capture it refers to, whatever its date
or feed, so that replay resolves it. Without either, the files go in as they are.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from warcio.archiveiterator import ArchiveIterator
from warcio.recordbuilder import RecordBuilder
from warcio.warcwriter import WARCWriter

from crawler.errors import ArchiveError


@dataclass
class _Record:
    path: Path
    offset: int
    length: int
    type: str
    uri: str
    date: str
    id: str
    concurrent: str = ""
    refers_to: str = ""  # WARC-Refers-To (a record id)
    refers_uri: str = ""
    refers_date: str = ""
    fields: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Exported:
    files: int  # WARC files read
    records: int  # records packed
    pages: int


def warc_files(folder: Path) -> list[Path]:
    """The closed WARC files under `folder`, oldest first (their names begin with their time)."""
    return sorted(folder.rglob("feed-archiver-*.warc.gz"), key=lambda p: p.name) if folder.is_dir() else []


def export_wacz(
    folder: Path, out: Path, *, since: str | None = None, feeds: Collection[str] = (),
    feed_urls: Collection[str] = (),
) -> Exported:
    """Pack `folder`'s WARC files into `out`; `since` an ISO date (or date and time, UTC), `feeds` the
    names to keep (their config URLs in `feed_urls`). Raises `ArchiveError` when nothing can be packed."""
    from wacz.main import main as wacz_main

    paths = [p for p in warc_files(folder) if since is None or _modified_since(p, since)]
    found = _scan(paths)
    by_id = {r.id: r for r in found}
    entries = [r for r in found if r.type == "metadata" and "entry-id" in r.fields
               and (not feeds or set(r.fields.get("feed", ())) & set(feeds))
               and (since is None or r.date >= since)]
    pages: dict[tuple[str, str], str] = {}
    for entry in entries:
        source = by_id.get(entry.refers_to)
        if source is None:
            continue
        link = entry.fields.get("link", [""])[0]
        title = entry.fields.get("title", [""])[0] if source.uri == link else entry.fields.get("feed", [""])[0]
        pages.setdefault((source.uri, source.date), title or source.uri)
    filtered = bool(feeds) or since is not None
    chosen = _choose(found, entries, feed_urls, feeds, since) if filtered else found
    if not chosen or not any(r.type in ("response", "revisit") for r in chosen):
        raise ArchiveError(f"no captures to export in {folder}" + (" for that choice" if filtered else ""))
    with tempfile.TemporaryDirectory(prefix="export-wacz-") as scratch:
        inputs = [str(p) for p in paths]
        if filtered:
            packed = Path(scratch) / "feed-archiver-export.warc.gz"
            _copy(chosen, packed)
            inputs = [str(packed)]
        page_list = Path(scratch) / "pages.jsonl"
        lines = [json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "Archived articles"})]
        lines += [json.dumps({"url": url, "ts": date, "title": title}) for (url, date), title in pages.items()]
        page_list.write_text("\n".join(lines) + "\n", encoding="utf-8")
        args = ["create", "-o", str(out), "-p", str(page_list), "--title", "feed-archiver", *inputs]
        with contextlib.redirect_stdout(io.StringIO()) as said:  # it narrates on stdout
            code = wacz_main(args)
        if code not in (0, None):
            raise ArchiveError(f"wacz could not pack the files: {said.getvalue().strip().splitlines()[-1:]}")
    return Exported(len(paths), len(chosen), len(pages))


def _modified_since(path: Path, since: str) -> bool:
    """A file holds records of `since` or later only if it was written to then or later."""
    from datetime import UTC, datetime

    when = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return when >= since


def _scan(paths: Sequence[Path]) -> list[_Record]:
    found = []
    for path in paths:
        with path.open("rb") as stream:
            records = ArchiveIterator(stream)
            for record in records:
                headers = record.rec_headers
                fields: dict[str, list[str]] = {}
                if record.rec_type == "metadata" and record.content_type == "application/warc-fields":
                    for line in record.content_stream().read().decode("utf-8", "replace").splitlines():
                        name, _, value = line.partition(": ")
                        fields.setdefault(name, []).append(value)
                records.read_to_end(record)
                found.append(_Record(
                    path, records.get_record_offset(), records.get_record_length(), record.rec_type,
                    headers.get_header("WARC-Target-URI") or "", headers.get_header("WARC-Date") or "",
                    headers.get_header("WARC-Record-ID") or "", headers.get_header("WARC-Concurrent-To") or "",
                    headers.get_header("WARC-Refers-To") or "", headers.get_header("WARC-Refers-To-Target-URI") or "",
                    headers.get_header("WARC-Refers-To-Date") or "", fields,
                ))
    return found


def _choose(
    found: list[_Record], entries: list[_Record], feed_urls: Collection[str], feeds: Collection[str], since: str | None
) -> list[_Record]:
    by_id = {r.id: r for r in found}
    if feeds:
        uris = set(feed_urls)
        for entry in entries:
            if (source := by_id.get(entry.refers_to)) is not None:
                uris.add(source.uri)
            uris.update(entry.fields.get("image", ()))
    else:
        uris = {r.uri for r in found}
    ids = {r.id for r in found if r.type in ("response", "revisit") and r.uri in uris
           and (since is None or r.date >= since)}
    ids.update(e.id for e in entries)
    originals = {(r.uri, r.date): r.id for r in found if r.type == "response"}
    for record in [by_id[i] for i in ids]:  # what each revisit refers to, wherever it is
        if record.type == "revisit" and (original := originals.get((record.refers_uri, record.refers_date))):
            ids.add(original)
    ids.update(r.id for r in found if r.type == "request" and r.concurrent in ids)
    ids.update(r.id for r in found if r.type == "metadata" and r.refers_to in ids and "entry-id" not in r.fields)
    return [r for r in found if r.id in ids]


def _copy(chosen: list[_Record], out: Path) -> None:
    with out.open("wb") as stream:
        writer = WARCWriter(stream, gzip=True, warc_version="1.1")
        writer.write_record(RecordBuilder(warc_version="1.1").create_warcinfo_record(
            out.name, {"software": "feed-archiver export-wacz", "format": "WARC File Format 1.1"}))
        handles: dict[Path, int] = {}
        try:
            for record in chosen:
                if record.path not in handles:
                    handles[record.path] = os.open(record.path, os.O_RDONLY)
                stream.write(os.pread(handles[record.path], record.length, record.offset))
        finally:
            for fd in handles.values():
                os.close(fd)
