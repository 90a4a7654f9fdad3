"""The WARC writer on its own: files, records, the repair of a file a killed process left open."""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from warcio.archiveiterator import ArchiveIterator

from crawler.capture.warc import WarcSpec, node_name, repair_open_files
from crawler.observe import Exchange


def exchange(url: str, body: bytes, status: int = 200) -> Exchange:
    return Exchange(url, "page", time.time(), b"/", [(b"Host", b"example.com")], b"HTTP/1.1", status, b"OK",
                    [(b"Content-Type", b"text/html"), (b"Transfer-Encoding", b"chunked")], body)


def read(path: Path) -> list[tuple[str, str | None]]:
    with path.open("rb") as stream:
        return [(r.rec_type, r.rec_headers.get_header("WARC-Target-URI")) for r in ArchiveIterator(stream)]


def test_files_are_named_by_node_and_closed_past_the_size(tmp_path: Path) -> None:
    capture = WarcSpec(tmp_path, "box", max_size=2_000, threaded=False).open()
    for n in range(3):
        asyncio.run(capture.exchange(exchange(f"http://example.com/{n}", os.urandom(1_500))))
    capture.close()
    files = sorted(tmp_path.rglob("*.warc.gz"))
    assert len(files) == 3 and not list(tmp_path.rglob("*.open"))
    for path in files:
        assert path.name.startswith("feed-archiver-") and "-box-" in path.name
        assert [kind for kind, _ in read(path)] == ["warcinfo", "response", "request"]


def test_transfer_coding_removed_is_said_so_in_the_recorded_headers(tmp_path: Path) -> None:
    capture = WarcSpec(tmp_path, "box", max_size=10**9, threaded=False).open()
    asyncio.run(capture.exchange(exchange("http://example.com/", b"<p>dechunked</p>")))
    capture.close()
    [path] = tmp_path.rglob("*.warc.gz")
    with path.open("rb") as stream:
        found = [(r.http_headers, r.content_stream().read())
                 for r in ArchiveIterator(stream) if r.rec_type == "response"]
    [(headers, payload)] = found
    assert headers.get_header("Transfer-Encoding") is None
    assert headers.get_header("X-Crawler-Transfer-Encoding") == "chunked"
    assert payload == b"<p>dechunked</p>"


def test_node_names_are_safe_in_a_file_name() -> None:
    assert node_name("box/crawl") == "box_crawl"
    assert node_name("a-b") == "a_b"  # `-` separates the parts of the name
    assert node_name(None)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(0, 3_000), min_size=1, max_size=6), cut=st.floats(0, 1))
def test_a_file_cut_anywhere_is_repaired_to_its_last_whole_record(tmp_path: Path, sizes: list[int], cut: float) -> None:
    folder = tmp_path / "warc"
    shutil.rmtree(folder, ignore_errors=True)
    capture = WarcSpec(folder, "box", max_size=10**9, threaded=False).open()
    for n, size in enumerate(sizes):
        asyncio.run(capture.exchange(exchange(f"http://example.com/{n}", os.urandom(size))))
    path = capture.path
    assert path is not None
    data = path.read_bytes()
    with path.open("rb") as stream:  # where each record (gzip member) ends, as warcio reads them
        records = ArchiveIterator(stream)
        ends = []
        for record in records:
            records.read_to_end(record)
            ends.append(records.get_record_offset() + records.get_record_length())
    assert ends[-1] == len(data)
    os.close(capture._files._fd)  # type: ignore[arg-type]  # as a kill leaves it: not renamed
    capture._files._fd = None
    at = int(len(data) * cut)
    path.write_bytes(data[:at])

    closed = repair_open_files(folder, "box")

    kept = [end for end in ends if end <= at]
    assert not list(folder.rglob("*.open"))
    if not kept:
        assert closed == []
    else:
        [final] = closed
        assert final.read_bytes() == data[: kept[-1]]
        assert len(read(final)) == len(kept)


def test_repair_leaves_alone_a_file_another_process_writes_and_another_nodes(tmp_path: Path) -> None:
    folder = tmp_path / "2024" / "01" / "02"
    folder.mkdir(parents=True)
    busy = folder / "feed-archiver-20240102030405-box-00000.warc.gz.open"
    other = folder / "feed-archiver-20240102030405-elsewhere-00000.warc.gz.open"
    busy.write_bytes(b"")
    other.write_bytes(b"")
    fd = os.open(busy, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert repair_open_files(tmp_path, "box") == []
        assert busy.exists() and other.exists()
    finally:
        os.close(fd)
    repair_open_files(tmp_path, "box")
    assert not busy.exists() and other.exists()  # empty: nothing whole in it, removed
