"""WARC files of every HTTP exchange: records by warcio, each its own gzip member, files closed whole.

A file is `<folder>/<YYYY>/<MM>/<DD>/feed-archiver-<YYYYMMDDHHMMSS>-<node>-<serial>.warc.gz`, written
as `....warc.gz.open` (under an exclusive `flock` while it is written) and renamed when closed: past
`max_size`, at the end of a crawl, at a clean stop. Each process (the crawl, each image worker)
writes files of its own; `serial` tells apart those begun in the same second.

Every record goes to the file in one `write` of whole gzip members, so a killed process leaves at
most one member cut short, which `repair_open_files` cuts off at the next start; a write that fails
(a full disk) is cut back to the last whole record at once, and the poll is told (`ArchiveError`).

Records (DESIGN.md, "Capture"): one `warcinfo` per file; per exchange a `request` and a `response`
(`WARC-Concurrent-To` between them), or instead of the response a `revisit`: profile
server-not-modified for a 304, identical-payload-digest for a body already captured (of the same
URL, or of another: the image store keeps one file for both, and so does the record), each naming
the capture it refers to (`WARC-Refers-To-Target-URI`, `WARC-Refers-To-Date`). Which captures
exist is kept in a small SQLite index beside the files (`.captures.sqlite3`), shared by the
processes and by later crawls. The payload is the body as it came over the wire, Content-Encoding
kept; what httpcore removed (chunked transfer coding, HTTP/2 framing) is said in the headers:
`Transfer-Encoding` is written as `X-Crawler-Transfer-Encoding`, and an HTTP/2 answer gets an
`HTTP/1.1` status line and `WARC-Protocol: h2`, as replay tools expect.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fcntl
import hashlib
import http
import io
import itertools
import logging
import os
import re
import socket
import sqlite3
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from warcio.recordbuilder import RecordBuilder
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler import __version__
from crawler.errors import ArchiveError
from crawler.observe import Exchange

log = logging.getLogger(__name__)

T = TypeVar("T")

NOT_MODIFIED = "http://netpreserve.org/warc/1.1/revisit/server-not-modified"
IDENTICAL = "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
INDEX_NAME = ".captures.sqlite3"
OPEN = ".open"
# Measured on the bench corpus's pages (HTML): level 1 compresses at 150 MB/s to 27 %, level 6 at 63 MB/s
# to 25 %, warcio's own 9 at 41 MB/s. Images (JPEG, PNG) shrink by 1 % at any level, at 50 MB/s: 1.5 ms of
# CPU per image for nothing, so a body that is compressed already goes in stored (level 0, 720 MB/s).
GZIP_LEVEL = 1
STORED = 0
_COMPRESSED_TYPES = ("image/", "video/", "audio/", "font/woff", "application/zip", "application/gzip",
                     "application/pdf", "application/octet-stream")
_NAME = re.compile(r"feed-archiver-\d{14}-(?P<node>.+)-\d{5}\.warc\.gz")


def node_name(node: str | None) -> str:
    """A node's name as it goes into a file name: the host's by default; `-` and anything but
    letters, digits, `.` and `_` become `_` (a cluster's `box/crawl` is `box_crawl`)."""
    return re.sub(r"[^A-Za-z0-9._]", "_", node or socket.gethostname()) or "node"


@dataclass(frozen=True)
class WarcSpec:
    """What a process needs to open its own `WarcCapture` (picklable: the image workers get it)."""

    folder: Path
    node: str
    max_size: int
    threaded: bool = True  # records built and written on a thread of their own, off the event loop

    def open(self) -> WarcCapture:
        return WarcCapture(self)


class WarcCapture:
    """The `crawler.observe.Capture` of one process: its records go to files of its own.

    >>> capture = WarcSpec(archive_dir / "warc", node_name(None), 10**9).open()
    >>> fetcher = Fetcher(clients, http, capture=capture)
    >>> await capture.aclose()
    """

    def __init__(self, spec: WarcSpec) -> None:
        self.spec = spec
        self._files = _Files(spec)
        # One thread, so records keep their order; measured: building and compressing a page's
        # records is 0.2-1 ms of CPU that the loop then spends on the next feed instead.
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="warc") if spec.threaded else None

    async def exchange(self, exchange: Exchange) -> None:
        await self._run(self._files.exchange, exchange)

    async def metadata(self, url: str, fields: Sequence[tuple[str, str]]) -> None:
        await self._run(self._files.metadata, url, fields)

    async def aclose(self) -> None:
        try:
            await self._run(self._files.close)
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=False)

    def close(self) -> None:
        """`aclose` without an event loop."""
        self._files.close()
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    @property
    def path(self) -> Path | None:
        """The file being written now, if any."""
        return self._files.path

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            return func(*args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)


def warc_date(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def payload_digest(body: bytes) -> str:
    return _sha1_label(hashlib.sha1(body).digest())


def _sha1_label(digest: bytes) -> str:
    return "sha1:" + base64.b32encode(digest).decode("ascii")


class _Files:
    """The writing itself, synchronous (on `WarcCapture`'s thread)."""

    def __init__(self, spec: WarcSpec) -> None:
        self._spec = spec
        self._builder = RecordBuilder(warc_version="1.1")
        self._fd: int | None = None
        self.path: Path | None = None
        self._size = 0
        self._day = ""  # YYYYMMDD of the file being written
        self._index: _Index | None = None
        self._records: dict[str, str] = {}  # URL -> the record id of its last response or revisit here

    # -- records ----------------------------------------------------------------------------------

    def exchange(self, exchange: Exchange) -> None:
        index = self._open_index()
        url, date = exchange.url, warc_date(exchange.date)
        response_headers = _response_headers(exchange)
        common: dict[str, str] = {"WARC-Date": date}
        if exchange.peer:
            common["WARC-IP-Address"] = exchange.peer
        if exchange.http_version == b"HTTP/2":
            common["WARC-Protocol"] = "h2"
        digest = payload_digest(exchange.body)
        earlier = None
        if exchange.status == 304:
            earlier = index.last(url)
            profile = NOT_MODIFIED
        elif exchange.status == 200 and exchange.body and exchange.truncated is None:
            earlier = index.by_digest(digest)
            profile = IDENTICAL
        extra = []
        if earlier is not None:
            target, target_date, target_digest = earlier
            # A 304's revisit holds no HTTP headers: replay (pywb) then serves the body it refers
            # to, as a browser shows its cached copy; the 304's own head goes in a metadata record.
            not_modified = exchange.status == 304
            response = self._builder.create_revisit_record(
                url, target_digest if not_modified else digest, target, target_date,
                http_headers=None if not_modified else response_headers, warc_headers_dict=common,
            )
            response.rec_headers.replace_header("WARC-Profile", profile)
            if not_modified:  # as warc-fields, which replay tools do not index as a capture
                head = _fields([("http-status", f"{response_headers.protocol} {response_headers.statusline}"),
                                *(("http-header", f"{name}: {value}") for name, value in response_headers.headers)])
                extra.append(self._builder.create_warc_record(
                    url, "metadata", payload=io.BytesIO(head), length=len(head),
                    warc_content_type="application/warc-fields",
                    warc_headers_dict={**common, "WARC-Refers-To": response.rec_headers.get_header("WARC-Record-ID")},
                ))
        else:
            warc_headers = dict(common)
            warc_headers["WARC-Payload-Digest"] = digest
            # The block digest too, here (the payload is hashed once per digest, not again by warcio).
            response_headers.compute_headers_buffer()
            block = hashlib.sha1(response_headers.headers_buff)
            block.update(exchange.body)
            warc_headers["WARC-Block-Digest"] = _sha1_label(block.digest())
            if exchange.truncated:
                warc_headers["WARC-Truncated"] = exchange.truncated
            response = self._builder.create_warc_record(
                url, "response", payload=io.BytesIO(exchange.body), length=len(exchange.body),
                http_headers=response_headers, warc_headers_dict=warc_headers,
            )
        response_id = response.rec_headers.get_header("WARC-Record-ID")
        request = self._builder.create_warc_record(
            url, "request", http_headers=_request_headers(exchange),
            warc_headers_dict={**common, "WARC-Concurrent-To": response_id},
        )
        level = STORED if _compressed(response_headers) else GZIP_LEVEL
        self._write(_records((response, level), request, *extra))
        self._records[url] = response_id
        if earlier is None and exchange.status != 304:
            if exchange.status == 200 and exchange.body and exchange.truncated is None:
                index.captured(url, date, digest)
        elif earlier is not None:
            index.points(url, earlier)

    def metadata(self, url: str, fields: Sequence[tuple[str, str]]) -> None:
        body = _fields(fields)
        warc_headers = {"WARC-Date": warc_date(datetime.now(UTC).timestamp())}
        if (refers := self._records.get(url)) is not None:
            warc_headers["WARC-Refers-To"] = refers
        record = self._builder.create_warc_record(
            url, "metadata", payload=io.BytesIO(body), length=len(body),
            warc_content_type="application/warc-fields", warc_headers_dict=warc_headers,
        )
        self._write(_records(record))

    # -- files ------------------------------------------------------------------------------------

    def _write(self, data: bytes | bytearray) -> None:
        if self._fd is not None and self._day != time.strftime("%Y%m%d", time.gmtime()):
            self._finish()  # files per day: a daemon's file is closed at midnight (UTC)
        if self._fd is None:
            self._begin()
        assert self._fd is not None and self.path is not None
        try:
            _write_all(self._fd, data)
        except OSError as exc:
            with contextlib.suppress(OSError):  # back to the last whole record
                os.ftruncate(self._fd, self._size)
            raise ArchiveError(f"WARC file {self.path}: {exc.strerror or exc}") from None
        self._size += len(data)
        if self._size >= self._spec.max_size:
            self._finish()

    def _begin(self) -> None:
        now = datetime.now(UTC)
        folder = self._spec.folder / now.strftime("%Y/%m/%d")
        stamp = now.strftime("%Y%m%d%H%M%S")
        try:
            folder.mkdir(parents=True, exist_ok=True)
            for serial in itertools.count():
                name = f"feed-archiver-{stamp}-{self._spec.node}-{serial:05d}.warc.gz"
                try:
                    fd = os.open(folder / (name + OPEN), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
                except FileExistsError:
                    continue
                if (folder / name).exists():  # closed already by the process that began it
                    os.close(fd)
                    os.unlink(folder / (name + OPEN))
                    continue
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours alone: repair leaves it be
                break
        except OSError as exc:
            raise ArchiveError(f"WARC folder {folder}: {exc.strerror or exc}") from None
        self._fd, self.path, self._size, self._day = fd, folder / (name + OPEN), 0, stamp[:8]
        info = self._builder.create_warcinfo_record(name, {
            "software": f"feed-archiver/{__version__}",
            "format": "WARC File Format 1.1",
            "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
            "hostname": socket.gethostname(),
            "isPartOf": self._spec.node,
        })
        try:
            self._write(_records(info))
        except ArchiveError:
            self._discard()
            raise

    def _discard(self) -> None:
        if self._fd is not None and self.path is not None:
            os.close(self._fd)
            with contextlib.suppress(OSError):
                os.unlink(self.path)
        self._fd, self.path = None, None

    def close(self) -> None:
        """The file closed and renamed, the index written and closed."""
        index, self._index = self._index, None
        try:
            if index is not None:
                index.close()
        finally:
            self._finish()

    def _finish(self) -> None:
        """The file closed and renamed; the next record begins another."""
        fd, path = self._fd, self.path
        self._fd, self.path = None, None
        if fd is None or path is None:
            return
        os.close(fd)
        final = path.with_name(path.name.removesuffix(OPEN))
        try:
            os.rename(path, final)
        except OSError as exc:  # left as .open: the next start closes it
            log.error("WARC file %s could not be closed: %s", path, exc.strerror or exc)

    def _open_index(self) -> _Index:
        if self._index is None:
            try:
                self._index = _Index(self._spec.folder)
            except (OSError, sqlite3.Error) as exc:
                raise ArchiveError(f"WARC index in {self._spec.folder}: {exc}") from None
        return self._index


class _Index:
    """Which bodies were captured where and when: for the revisits. Shared by every process
    writing to the folder (SQLite's locks), kept across crawls. Which capture is each URL's last
    is written in batches (one transaction each; a commit per record cost a tenth of the
    capture's CPU) and answered from memory until then."""

    BATCH = 256

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(folder / INDEX_NAME, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=OFF")  # a cache of the files: lost, it costs revisits, not records
        self._db.execute("CREATE TABLE IF NOT EXISTS payload (digest TEXT PRIMARY KEY, uri TEXT, date TEXT)")
        self._db.execute("CREATE TABLE IF NOT EXISTS last (uri TEXT PRIMARY KEY, target TEXT, date TEXT, digest TEXT)")
        self._lasts: dict[str, tuple[str, str, str]] = {}  # uri -> (target, date, digest)

    def by_digest(self, digest: str) -> tuple[str, str, str] | None:
        row = self._select("SELECT uri, date FROM payload WHERE digest = ?", digest)
        return None if row is None else (row[0], row[1], digest)

    def last(self, uri: str) -> tuple[str, str, str] | None:
        if (mine := self._lasts.get(uri)) is not None:
            return mine
        row = self._select("SELECT target, date, digest FROM last WHERE uri = ?", uri)
        return None if row is None else (row[0], row[1], row[2])

    def captured(self, uri: str, date: str, digest: str) -> None:
        # A body is told to the other processes at once (two image workers may fetch the same
        # bytes under two URLs); which capture a URL's last is, only this process asks until it closes.
        try:
            self._db.execute("INSERT OR IGNORE INTO payload VALUES (?, ?, ?)", (digest, uri, date))
        except sqlite3.Error as exc:
            raise ArchiveError(f"WARC index: {exc}") from None
        self.points(uri, (uri, date, digest))

    def points(self, uri: str, earlier: tuple[str, str, str]) -> None:
        self._lasts[uri] = earlier
        if len(self._lasts) >= self.BATCH:
            self.flush()

    def flush(self) -> None:
        lasts = self._lasts
        if not lasts:
            return
        try:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO last VALUES (?, ?, ?, ?)",
                                     [(uri, *where) for uri, where in lasts.items()])
        except sqlite3.Error as exc:
            raise ArchiveError(f"WARC index: {exc}") from None
        self._lasts = {}

    def _select(self, sql: str, key: str) -> tuple[str, ...] | None:
        try:
            row: tuple[str, ...] | None = self._db.execute(sql, (key,)).fetchone()
        except sqlite3.Error as exc:
            raise ArchiveError(f"WARC index: {exc}") from None
        return row

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._db.close()


def _compressed(headers: StatusAndHeaders) -> bool:
    """Whether a body is compressed already (an image, an archive, a gzip-encoded page)."""
    if headers.get_header("Content-Encoding") not in (None, "", "identity"):
        return True
    kind = (headers.get_header("Content-Type") or "").strip().lower()
    return kind.startswith(_COMPRESSED_TYPES)


def _records(*records: Any) -> bytearray:
    """The records serialized by warcio, each compressed as a gzip member of its own (a record may
    come as `(record, level)`: its compression level)."""
    out = bytearray()
    buffer = io.BytesIO()
    writer = WARCWriter(buffer, gzip=False, warc_version="1.1")
    for item in records:
        record, level = item if isinstance(item, tuple) else (item, GZIP_LEVEL)
        buffer.seek(0)
        buffer.truncate()
        writer.write_record(record)
        compressor = zlib.compressobj(level, zlib.DEFLATED, zlib.MAX_WBITS + 16)
        out += compressor.compress(buffer.getbuffer())
        out += compressor.flush()
    return out


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _response_headers(exchange: Exchange) -> StatusAndHeaders:
    reason = exchange.reason.decode("latin-1")
    if not reason:
        with contextlib.suppress(ValueError):
            reason = http.HTTPStatus(exchange.status).phrase
    headers = []
    for name, value in exchange.headers:
        text = name.decode("latin-1")
        if text.lower() == "transfer-encoding":  # the payload is decoded of it: say what it was
            text = "X-Crawler-Transfer-Encoding"
        headers.append((text, value.decode("latin-1")))
    # HTTP/1.0 and 1.1 as they came; HTTP/2 has no status line: replay tools read an HTTP/1.1 one.
    protocol = exchange.http_version.decode("ascii") if exchange.http_version.startswith(b"HTTP/1.") else "HTTP/1.1"
    return StatusAndHeaders(f"{exchange.status} {reason}".rstrip(), headers, protocol=protocol)


def _request_headers(exchange: Exchange) -> StatusAndHeaders:
    headers = [(name.decode("latin-1"), value.decode("latin-1")) for name, value in exchange.request_headers]
    return StatusAndHeaders(f"GET {exchange.target.decode('ascii')} HTTP/1.1", headers, is_http_request=True)


def _fields(fields: Sequence[tuple[str, str]]) -> bytes:
    """application/warc-fields: `name: value` lines (a line break inside a value becomes a space)."""
    lines = (f"{name}: {value.replace(chr(13), ' ').replace(chr(10), ' ')}\r\n" for name, value in fields)
    return "".join(lines).encode()


# -- repair at start ------------------------------------------------------------------------------


def repair_open_files(folder: Path, node: str) -> list[Path]:
    """Close the `.open` files of `node` that no process is writing (one killed left them): each cut
    to its last whole record and renamed; one with no whole record is removed. Returns the files closed."""
    closed: list[Path] = []
    if not folder.is_dir():
        return closed
    for path in sorted(folder.rglob("*.warc.gz" + OPEN)):
        match = _NAME.fullmatch(path.name.removesuffix(OPEN))
        if match is None or match.group("node") != node:
            continue  # another node's, on a shared folder
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live process writes it
            whole = _whole_length(fd)
            os.ftruncate(fd, whole)
            final = path.with_name(path.name.removesuffix(OPEN))
            if whole == 0:
                os.unlink(path)
            elif not final.exists():
                os.rename(path, final)
                closed.append(final)
            log.warning("WARC file %s was left open by a stopped process: %s", path,
                        f"closed at its last whole record ({whole} bytes)" if whole else "no whole record, removed")
        except OSError as exc:
            log.error("WARC file %s could not be repaired: %s", path, exc.strerror or exc)
        finally:
            os.close(fd)
    return closed


def _members(fd: int) -> Iterator[int]:
    """The end offset of each whole gzip member of the file, in order; stops at the first that is not."""
    os.lseek(fd, 0, os.SEEK_SET)
    offset = 0  # of the member being read
    decompressor = zlib.decompressobj(zlib.MAX_WBITS + 16)
    read_in_member = 0
    pending = b""
    while True:
        chunk = pending or os.read(fd, 1 << 20)
        pending = b""
        if not chunk:
            return
        try:
            while chunk:
                decompressor.decompress(chunk, 1 << 20)
                while decompressor.unconsumed_tail and not decompressor.eof:
                    decompressor.decompress(decompressor.unconsumed_tail, 1 << 20)
                if decompressor.eof:
                    used = len(chunk) - len(decompressor.unused_data)
                    offset += read_in_member + used
                    yield offset
                    chunk = decompressor.unused_data
                    decompressor = zlib.decompressobj(zlib.MAX_WBITS + 16)
                    read_in_member = 0
                else:
                    read_in_member += len(chunk)
                    chunk = b""
        except zlib.error:
            return


def _whole_length(fd: int) -> int:
    whole = 0
    for end in _members(fd):
        whole = end
    return whole
