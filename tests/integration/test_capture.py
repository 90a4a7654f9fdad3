"""`capture.warc`: the WARC files a crawl writes, checked by `warcio check` and replayed by a real pywb.

Every test crawls real local servers; pywb (`wb-manager init`, `wb-manager add`, `wayback`) runs as
its own process on 127.0.0.1 and must serve each page and image with the bytes the server sent.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from pytest_httpserver import HTTPServer
from warcio.archiveiterator import ArchiveIterator
from werkzeug import Request, Response

from tests import faults
from tests.conftest import Item, archived_files, mounted_tmpfs, rss, write_config
from tests.faults import FaultServer

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
PAGE = (b"<html><head><title>Page</title></head><body><article><h1>Page</h1>"
        + b"<p>The article's own words, more of them than a summary holds. </p>" * 40
        + b'<img src="/p.png"><img src="/copy-of-p.png"></article></body></html>')
WB = shutil.which("wb-manager")
pytestmark = pytest.mark.skipif(WB is None, reason="pywb is in the test extra")


def warc_files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.warc.gz"))


def records(paths: list[Path]) -> list[Any]:
    """Every record of the files, read whole (warcio's iterator), with its payload as bytes."""
    found = []
    for path in paths:
        with path.open("rb") as stream:
            for record in ArchiveIterator(stream):
                record.payload = record.raw_stream.read()  # as recorded: no decoding
                found.append(record)
    return found


def warcio_check(paths: list[Path]) -> None:
    done = subprocess.run([str(Path(sys.executable).parent / "warcio"), "check", "-v", *map(str, paths)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "digest pass" in done.stdout and "fail" not in done.stdout


class Wayback:
    """pywb over a collection of `paths`, on a free port of 127.0.0.1."""

    def __init__(self, root: Path, paths: list[Path]) -> None:
        self.root = root
        root.mkdir()
        bin_dir = Path(sys.executable).parent
        run = {"cwd": root, "capture_output": True, "text": True, "timeout": 120, "check": True}
        subprocess.run([str(bin_dir / "wb-manager"), "init", "c"], **run)  # type: ignore[call-overload]
        subprocess.run([str(bin_dir / "wb-manager"), "add", "c", *map(str, paths)], **run)  # type: ignore[call-overload]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process = subprocess.Popen([str(bin_dir / "wayback"), "-b", "127.0.0.1", "-p", str(self.port)],
                                        cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:  # until it listens: it says so on no channel we can wait on
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                assert self.process.poll() is None, "wayback exited"
                assert time.monotonic() < deadline, "wayback did not start"
                time.sleep(0.1)

    def get(self, url: str, when: str = "2100") -> tuple[int, bytes, dict[str, str]]:
        """The capture of `url` nearest `when` (14 digits or fewer), in identity mode (`id_`), as pywb
        serves it to a client that accepts gzip: the payload as recorded, its encoding kept."""
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/c/{when}id_/{url}",
                                         headers={"Accept-Encoding": "gzip"})
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return answer.status, answer.read(), dict(answer.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


@pytest.fixture
def wayback(tmp_path: Path) -> Iterator[Any]:
    opened: list[Wayback] = []

    def start(paths: list[Path]) -> Wayback:
        opened.append(Wayback(tmp_path / f"pywb{len(opened)}", paths))
        return opened[-1]

    yield start
    for one in opened:
        one.close()


def _stamp(record: Any) -> str:
    return "".join(ch for ch in record.rec_headers.get_header("WARC-Date") if ch.isdigit())[:14]


def test_a_crawl_and_its_304_re_poll_are_recorded_whole_and_replayed_with_the_bytes_sent(
    tmp_path: Path, httpserver: HTTPServer, cli, wayback
) -> None:
    feed = rss([Item("With images", httpserver.url_for("/a.html"), "A summary only.")])
    sent: dict[str, bytes] = {}  # path -> the bytes the server put on the wire

    def serve_feed(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return Response(feed, headers={"ETag": '"v1"', "Content-Type": "application/rss+xml"})

    sent["/feed.xml"] = feed
    sent["/a.html"] = gzip.compress(PAGE, mtime=0)
    sent["/p.png"] = sent["/copy-of-p.png"] = PNG
    sent["/robots.txt"] = b"User-agent: *\nAllow: /\n"
    httpserver.expect_request("/feed.xml").respond_with_handler(serve_feed)
    httpserver.expect_request("/a.html").respond_with_response(Response(
        sent["/a.html"], headers={"Content-Encoding": "gzip", "Content-Type": "text/html; charset=utf-8"}))
    for path in ("/p.png", "/copy-of-p.png"):
        httpserver.expect_request(path).respond_with_data(PNG, content_type="image/png")
    httpserver.expect_request("/robots.txt").respond_with_data(sent["/robots.txt"], content_type="text/plain")
    config = write_config(tmp_path, [{"name": "pics", "url": httpserver.url_for("/feed.xml"), "full_text": "always"}],
                          capture={"warc": True})

    first = cli("crawl", "--config", str(config))
    assert first.code == 0, first.err
    second = cli("crawl", "--config", str(config))  # the feed answers 304
    assert second.code == 0, second.err

    files = warc_files(tmp_path / "archive" / "warc")
    assert files and not list((tmp_path / "archive" / "warc").rglob("*.open"))
    for path in files:
        assert path.relative_to(tmp_path / "archive" / "warc").parts[0].isdigit()  # YYYY/MM/DD/
    warcio_check(files)
    found = records(files)
    by_type: dict[str, list[Any]] = {}
    for record in found:
        by_type.setdefault(record.rec_type, []).append(record)
    assert len(by_type["warcinfo"]) == len(files)
    ids = {r.rec_headers.get_header("WARC-Record-ID"): r for r in found}
    for request in by_type["request"]:  # each request beside its answer
        answer = ids[request.rec_headers.get_header("WARC-Concurrent-To")]
        assert answer.rec_type in ("response", "revisit")
        assert answer.rec_headers.get_header("WARC-Target-URI") == request.rec_headers.get_header("WARC-Target-URI")
    requested = sorted(r.rec_headers.get_header("WARC-Target-URI") for r in by_type["request"])
    assert requested == sorted(httpserver.url_for(p) for p in
                               ["/feed.xml", "/feed.xml", "/robots.txt", "/a.html", "/p.png", "/copy-of-p.png"])
    responses = {r.rec_headers.get_header("WARC-Target-URI"): r for r in by_type["response"]}
    assert responses[httpserver.url_for("/a.html")].payload == sent["/a.html"]  # gzip as it came
    assert responses[httpserver.url_for("/a.html")].http_headers.get_header("Content-Encoding") == "gzip"
    revisits = {r.rec_headers.get_header("WARC-Profile").rsplit("/", 1)[1]: r for r in by_type["revisit"]}
    assert set(revisits) == {"server-not-modified", "identical-payload-digest"}
    for revisit in revisits.values():
        assert revisit.rec_headers.get_header("WARC-Refers-To-Target-URI")
        assert revisit.rec_headers.get_header("WARC-Refers-To-Date")
    assert revisits["server-not-modified"].rec_headers.get_header("WARC-Target-URI") == httpserver.url_for("/feed.xml")
    [entry_record] = [r for r in by_type["metadata"] if b"entry-id" in r.payload]
    [path] = archived_files(tmp_path / "archive")
    fields = _fields(entry_record.payload)
    assert fields["feed"] == ["pics"] and fields["markdown"] == [path.relative_to(tmp_path / "archive").as_posix()]
    assert fields["title"] == ["With images"]
    assert sorted(fields["image"]) == [httpserver.url_for("/copy-of-p.png"), httpserver.url_for("/p.png")]
    assert fields["entry-id"] == [httpserver.url_for("/a.html")]
    refers = ids[entry_record.rec_headers.get_header("WARC-Refers-To")]
    assert (refers.rec_type, refers.rec_headers.get_header("WARC-Target-URI")) == (
        "response", httpserver.url_for("/a.html"))

    replay = wayback(files)
    first_poll = _stamp(responses[httpserver.url_for("/feed.xml")])
    for path, body in sent.items():
        status, got, _ = replay.get(httpserver.url_for(path), first_poll)
        assert (status, got) == (200, body), path
    # At the re-poll's time the feed's capture is the 304: replay serves the body it refers to.
    status, got, _ = replay.get(httpserver.url_for("/feed.xml"), _stamp(revisits["server-not-modified"]))
    assert (status, got) == (200, feed)


def _fields(payload: bytes) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for line in payload.decode().splitlines():
        name, _, value = line.partition(": ")
        fields.setdefault(name, []).append(value)
    return fields


def test_an_http2_exchange_is_written_with_an_http_1_1_status_line_and_replayed(
    tmp_path: Path, cli, wayback, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The suite's TLS server (hypercorn with a trustme certificate) speaking HTTP/2."""
    import asyncio

    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    ca = trustme.CA()
    listening = socket.create_server(("127.0.0.1", 0))
    base = f"https://127.0.0.1:{listening.getsockname()[1]}"
    body = "<p>The whole article, in the feed, over HTTP/2.</p>" * 30 + f'<img src="{base}/pic.png">'
    feed = rss([Item("Over h2", f"{base}/a.html", body)])
    versions: list[str] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        versions.append(scope["http_version"])
        payload, kind = (PNG, b"image/png") if scope["path"] == "/pic.png" else (feed, b"application/rss+xml")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", kind)]})
        await send({"type": "http.response.body", "body": payload})

    cert = ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    hconfig = Config()
    hconfig.bind = [f"fd://{listening.detach()}"]
    hconfig.certfile, hconfig.keyfile = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(target=loop.run_until_complete,
                              args=(serve(app, hconfig, shutdown_trigger=stop.wait),), daemon=True)  # type: ignore[arg-type]
    thread.start()
    try:
        config = write_config(tmp_path, [{"name": "h2", "url": f"{base}/feed.xml"}],
                              capture={"warc": True, "warc_dir": "warcs"}, http={"http2": True, "robots": False})
        result = cli("crawl", "--config", str(config))
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()
    assert result.code == 0, result.err
    assert set(versions) == {"2"}
    files = warc_files(tmp_path / "warcs")  # warc_dir, relative to the config file
    warcio_check(files)
    responses = {r.rec_headers.get_header("WARC-Target-URI"): r for r in records(files) if r.rec_type == "response"}
    for record in responses.values():
        assert record.http_headers.protocol == "HTTP/1.1" and record.http_headers.statusline == "200 OK"
        assert record.rec_headers.get_header("WARC-Protocol") == "h2"
    assert responses[f"{base}/feed.xml"].payload == feed
    replay = wayback(files)
    assert replay.get(f"{base}/feed.xml")[:2] == (200, feed)
    assert replay.get(f"{base}/pic.png")[:2] == (200, PNG)


@pytest.mark.parametrize(("fault", "truncated", "received"), [
    (faults.lying_length(declared=5_000, body=b"<rss>short"), "disconnect", b"<rss>short"),
    (faults.reset_mid_body(declared=50_000, sent=1_000), "disconnect", None),
    (faults.endless(chunk=b"<" * 4096), "length", None),
])
def test_a_body_cut_short_is_recorded_as_received_and_the_crawl_goes_on(
    tmp_path: Path, server: FaultServer, httpserver: HTTPServer, cli, fault: Any, truncated: str,
    received: bytes | None,
) -> None:
    bad = server.route("/bad.xml", fault)
    httpserver.expect_request("/good.xml").respond_with_data(
        rss([Item("Fine", "http://example.com/fine", "<p>Whole.</p>" * 50)]), content_type="application/rss+xml")
    feeds = [{"name": "bad", "url": bad}, {"name": "good", "url": httpserver.url_for("/good.xml")}]
    config = write_config(tmp_path, feeds,
                          capture={"warc": True}, http={"max_body": "64KB", "retries": 0, "robots": False})

    result = cli("crawl", "--config", str(config))

    assert result.code == 1 and "Traceback" not in result.err
    assert len(archived_files(tmp_path / "archive")) == 1  # the good feed's
    files = warc_files(tmp_path / "archive" / "warc")
    warcio_check(files)
    [record] = [r for r in records(files)
                if r.rec_type == "response" and r.rec_headers.get_header("WARC-Target-URI") == bad]
    assert record.rec_headers.get_header("WARC-Truncated") == truncated
    if received is not None:
        assert record.payload == received
    else:
        assert 0 < len(record.payload) <= 100_000
    if truncated == "length":
        assert len(record.payload) >= 64_000


def test_a_crawl_killed_mid_write_leaves_a_file_the_next_start_closes_whole(
    tmp_path: Path, httpserver: HTTPServer
) -> None:
    page_asked = threading.Event()
    release = threading.Event()

    def slow_page(request: Request) -> Response:
        page_asked.set()
        release.wait(timeout=60)
        return Response(PAGE, content_type="text/html")

    feed = rss([Item("Slow", httpserver.url_for("/slow.html"), "Summary.")])
    httpserver.expect_request("/feed.xml").respond_with_data(feed, content_type="application/rss+xml")
    httpserver.expect_request("/slow.html").respond_with_handler(slow_page)
    config = write_config(tmp_path, [{"name": "slow", "url": httpserver.url_for("/feed.xml"), "full_text": "always",
                                      "images": False}], capture={"warc": True}, http={"robots": False})
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    with (tmp_path / "killed.log").open("wb") as log:
        crawl = subprocess.Popen([sys.executable, "-m", "crawler", "crawl", "--config", str(config)], env=env,
                                 stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)
    try:
        assert page_asked.wait(timeout=60), (tmp_path / "killed.log").read_text()
        # The feed's records are written before its entries' pages are asked for.
        [left] = list((tmp_path / "archive" / "warc").rglob("*.warc.gz.open"))
        os.killpg(crawl.pid, signal.SIGKILL)
        crawl.wait(timeout=30)
    finally:
        release.set()
    whole = left.read_bytes()
    cut_short = gzip.compress(b"WARC/1.1\r\nWARC-Type: response\r\n" + os.urandom(5000))[:700]
    with left.open("ab") as stream:  # as a kill in the middle of a write leaves it
        stream.write(cut_short)

    again = subprocess.run([sys.executable, "-m", "crawler", "crawl", "--config", str(config)], env=env,
                           capture_output=True, text=True, timeout=120)

    assert again.returncode == 0, again.stderr
    assert "left open by a stopped process" in again.stderr
    closed = left.with_name(left.name.removesuffix(".open"))
    assert closed.read_bytes() == whole  # cut at its last whole record; nothing whole lost
    assert not list((tmp_path / "archive" / "warc").rglob("*.open"))
    files = warc_files(tmp_path / "archive" / "warc")
    warcio_check(files)
    types = [r.rec_type for r in records([closed])]
    assert types == ["warcinfo", "response", "request"]  # the feed's exchange, from before the kill


def test_a_full_disk_under_the_warc_folder_fails_the_poll_and_leaves_no_half_written_file(
    tmp_path: Path, httpserver: HTTPServer, cli
) -> None:
    with mounted_tmpfs(tmp_path / "small", "256k") as folder:
        noise = os.urandom(600_000)  # does not compress: more than the folder holds
        httpserver.expect_request("/feed.xml").respond_with_data(
            rss([Item("Big", httpserver.url_for("/big.html"), "Summary.")]), content_type="application/rss+xml")
        httpserver.expect_request("/big.html").respond_with_data(noise, content_type="text/html")
        config = write_config(tmp_path, [{"name": "big", "url": httpserver.url_for("/feed.xml"),
                                          "full_text": "always"}],
                              capture={"warc": True, "warc_dir": str(folder)}, http={"robots": False})

        result = cli("crawl", "--config", str(config))

        assert result.code == 1 and "Traceback" not in result.err
        assert "No space left on device" in result.err
        assert archived_files(tmp_path / "archive") == []  # the entry failed, as on the archive's full disk
        assert not list(folder.rglob("*.open"))
        files = warc_files(folder)
        assert files
        warcio_check(files)  # every closed file is whole


def test_a_feed_whose_record_cannot_be_written_is_a_failed_poll_recorded_as_such(
    tmp_path: Path, httpserver: HTTPServer, cli
) -> None:
    with mounted_tmpfs(tmp_path / "full", "64k") as folder:
        httpserver.expect_request("/feed.xml").respond_with_data(
            rss([Item("Noise", "http://example.com/n", os.urandom(40_000).hex())]),
            content_type="application/rss+xml")
        config = write_config(tmp_path, [{"name": "noisy", "url": httpserver.url_for("/feed.xml")}],
                              capture={"warc": True, "warc_dir": str(folder)}, http={"robots": False})

        result = cli("crawl", "--config", str(config))

        assert result.code == 1 and "Traceback" not in result.err
        status = cli("status", "--config", str(config), "--json")
        [row] = json.loads(status.out)  # recorded as a failed poll, to be retried as any other
        assert row["consecutive_failures"] == 1
        assert "No space left on device" in (row["last_error"] or "")
        assert not list(folder.rglob("*.open"))
        if files := warc_files(folder):
            warcio_check(files)


def test_export_wacz_packs_the_captures_into_a_file_wacz_validate_accepts(
    tmp_path: Path, httpserver: HTTPServer, cli
) -> None:
    httpserver.expect_request("/feed.xml").respond_with_data(
        rss([Item("Packed", httpserver.url_for("/a.html"), "<p>In the feed, whole.</p>" * 40)]),
        content_type="application/rss+xml")
    httpserver.expect_request("/a.html").respond_with_data(PAGE, content_type="text/html")
    config = write_config(tmp_path, [{"name": "packed", "url": httpserver.url_for("/feed.xml"), "images": False}],
                          capture={"warc": True}, http={"robots": False})
    assert cli("crawl", "--config", str(config)).code == 0

    out = tmp_path / "out.wacz"
    result = cli("export-wacz", "--config", str(config), "--to", str(out))

    assert result.code == 0, result.err
    validated = subprocess.run([str(Path(sys.executable).parent / "wacz"), "validate", "-f", str(out)],
                               capture_output=True, text=True, timeout=120)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    import zipfile
    with zipfile.ZipFile(out) as packed:
        pages = [json.loads(line) for line in packed.read("pages/pages.jsonl").decode().splitlines()[1:]]
        assert any(name.startswith("archive/") and name.endswith(".warc.gz") for name in packed.namelist())
    assert [p["url"] for p in pages] == [httpserver.url_for("/feed.xml")]
    assert pages[0]["title"] == "packed"  # the feed held the text: the page is the feed, named as it is


def test_export_wacz_of_one_feed_since_a_date_packs_its_records_only(
    tmp_path: Path, httpserver: HTTPServer, cli
) -> None:
    import zipfile
    from datetime import UTC, datetime

    for name in ("one", "two"):
        httpserver.expect_request(f"/{name}.xml").respond_with_data(
            rss([Item(f"Of {name}", httpserver.url_for(f"/{name}.html"), "Summary.")]),
            content_type="application/rss+xml")
        httpserver.expect_request(f"/{name}.html").respond_with_data(PAGE.replace(b"Page", name.encode()),
                                                                     content_type="text/html")
    httpserver.expect_request("/p.png").respond_with_data(PNG, content_type="image/png")
    httpserver.expect_request("/copy-of-p.png").respond_with_data(PNG, content_type="image/png")
    config = write_config(tmp_path, [{"name": n, "url": httpserver.url_for(f"/{n}.xml"), "full_text": "always"}
                                     for n in ("one", "two")], capture={"warc": True}, http={"robots": False})
    assert cli("crawl", "--config", str(config)).code == 0
    out = tmp_path / "one.wacz"
    today = datetime.now(UTC).strftime("%Y-%m-%d")

    result = cli("export-wacz", "--config", str(config), "--to", str(out), "--feed", "one", "--since", today)

    assert result.code == 0, result.err
    validated = subprocess.run([str(Path(sys.executable).parent / "wacz"), "validate", "-f", str(out)],
                               capture_output=True, text=True, timeout=120)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    with zipfile.ZipFile(out) as packed:
        pages = [json.loads(line) for line in packed.read("pages/pages.jsonl").decode().splitlines()[1:]]
        [warc] = [name for name in packed.namelist() if name.startswith("archive/")]
        packed.extract(warc, tmp_path / "unpacked")
    assert [(p["url"], p["title"]) for p in pages] == [(httpserver.url_for("/one.html"), "Of one")]
    uris = {r.rec_headers.get_header("WARC-Target-URI") for r in records([tmp_path / "unpacked" / warc])}
    assert httpserver.url_for("/one.html") in uris and httpserver.url_for("/one.xml") in uris
    assert not {httpserver.url_for("/two.html"), httpserver.url_for("/two.xml")} & uris
    assert {httpserver.url_for("/p.png"), httpserver.url_for("/copy-of-p.png")} <= uris  # its images

    bad = cli("export-wacz", "--config", str(config), "--to", str(out), "--since", "yesterday")
    assert bad.code == 2 and "--since" in bad.err
