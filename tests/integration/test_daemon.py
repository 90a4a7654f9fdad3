"""`feed-archiver run` as a real process against real local servers, with intervals of a second.

Each test waits on the daemon's own log lines (events), never on fixed sleeps.
"""

from __future__ import annotations

import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.conftest import Item, archived_files, rss, split_document, write_config
from tests.daemons import EVENT_TIMEOUT, start, status


def body(n: int) -> str:
    return f"<p>Paragraph {n} of a story long enough to need no page fetch.</p>" * 30


def test_new_item_appears_and_repeat_polls_are_conditional(tmp_path: Path, httpserver: HTTPServer, daemons) -> None:
    """1. The daemon archives what is there, then a new item, without a restart; in between,
    every poll carries If-None-Match and a 304 archives nothing."""
    items = [Item("First", httpserver.url_for("/1"), body(1))]
    feed = {"doc": rss(items), "etag": '"v1"'}
    requests: list[dict[str, str]] = []

    def handler(request: Request) -> Response:
        requests.append(dict(request.headers))
        if request.headers.get("If-None-Match") == feed["etag"]:
            return Response(status=304)
        return Response(feed["doc"], content_type="application/rss+xml", headers={"ETag": feed["etag"]})

    httpserver.expect_request("/feed.xml").respond_with_handler(handler)
    config = write_config(tmp_path, [{"name": "news", "url": httpserver.url_for("/feed.xml"), "interval": "1s"}])
    daemon = start(daemons, config)

    daemon.wait_for(r"feed=news status=200 new=1 ")
    daemon.wait_for(r"feed=news status=304 new=0 ")
    feed["doc"], feed["etag"] = rss([Item("Second", httpserver.url_for("/2"), body(2)), *items]), '"v2"'
    daemon.wait_for(r"feed=news status=200 new=1 updated=0 skipped=1 ")

    assert sorted(split_document(p)[0]["title"] for p in archived_files(tmp_path / "archive")) == ["First", "Second"]
    assert all(r.get("If-None-Match") for r in requests[1:])
    rows = status(config)
    assert rows["news"]["state"] == "ok" and rows["news"]["entries_archived"] == 2
    assert rows["news"]["last_status"] in (200, 304)
    assert daemon.stop() == 0


def test_failing_feed_backs_off_and_recovers(tmp_path: Path, httpserver: HTTPServer, daemons) -> None:
    """2. Two failures (backoff 1 s, then 2 s), then success: status shows failing, then ok."""
    answers = iter([Response("down", status=500), Response("down", status=500)])
    stamps: list[float] = []
    looked = threading.Event()  # the feed recovers only once the test has seen it failing

    def handler(request: Request) -> Response:
        stamps.append(time.monotonic())
        reply = next(answers, None)
        if reply is None:
            assert looked.wait(30), "the test never looked at the failing feed"
        return reply or Response(rss([Item("Back", httpserver.url_for("/b"), body(3))]),
                                 content_type="application/rss+xml")

    httpserver.expect_request("/feed.xml").respond_with_handler(handler)
    config = write_config(tmp_path, [{"name": "flaky", "url": httpserver.url_for("/feed.xml"), "interval": "1s"}],
                          http={"retries": 0})
    daemon = start(daemons, config)

    daemon.wait_for(r"feed=flaky .*failed: HTTP 500")
    row = status(config)["flaky"]
    assert row["state"] == "failing" and row["consecutive_failures"] >= 1 and row["last_status"] == 500, row
    looked.set()
    daemon.wait_for(r"feed=flaky .*failed: HTTP 500")
    daemon.wait_for(r"feed=flaky status=200 new=1 ")

    assert stamps[2] - stamps[1] >= 1.5, "the second retry waits twice the interval (1 s more than the first)"
    row = status(config)["flaky"]
    assert row["state"] == "ok" and row["consecutive_failures"] == 0 and row["last_error"] is None
    assert daemon.stop() == 0


def test_sigterm_mid_crawl_exits_0_and_leaves_no_partial_file(
    tmp_path: Path, httpserver: HTTPServer, daemons
) -> None:
    """3. SIGTERM while an image download hangs: the daemon exits 0 within 10 s, no temp file is left."""
    request_seen = threading.Event()
    release = threading.Event()

    def slow_image(request: Request) -> Response:
        request_seen.set()
        release.wait(20)
        return Response(b"\xff\xd8\xff" + b"0" * 100 + b"\xff\xd9", content_type="image/jpeg")

    httpserver.expect_request("/img.jpg").respond_with_handler(slow_image)
    items = [Item("With image", httpserver.url_for("/a"), body(4) + f'<img src="{httpserver.url_for("/img.jpg")}">')]
    httpserver.expect_request("/feed.xml").respond_with_data(rss(items), content_type="application/rss+xml")
    config = write_config(tmp_path, [{"name": "slow", "url": httpserver.url_for("/feed.xml"), "interval": "1s"}],
                          shutdown_timeout="2s")
    daemon = start(daemons, config)
    assert request_seen.wait(EVENT_TIMEOUT)

    began = time.monotonic()
    daemon.signal(signal.SIGTERM)
    code = daemon.proc.wait(timeout=15)
    release.set()

    assert code == 0
    assert time.monotonic() - began < 10
    leftovers = [p for p in (tmp_path / "archive").rglob("*") if p.name.startswith(".fa-tmp")]
    assert leftovers == []
    for path in archived_files(tmp_path / "archive"):
        split_document(path)  # whole files only


def test_second_signal_stops_at_once_with_128_plus_signal(tmp_path: Path, httpserver: HTTPServer, daemons) -> None:
    """4. A second SIGINT while polls are still in flight: exit status 130 right away."""
    request_seen = threading.Event()
    release = threading.Event()

    def hang(request: Request) -> Response:
        request_seen.set()
        release.wait(20)
        return Response("late", status=500)

    httpserver.expect_request("/feed.xml").respond_with_handler(hang)
    config = write_config(tmp_path, [{"name": "hang", "url": httpserver.url_for("/feed.xml"), "interval": "1s"}],
                          shutdown_timeout="30s")
    daemon = start(daemons, config)
    assert request_seen.wait(EVENT_TIMEOUT)

    daemon.signal(signal.SIGINT)
    daemon.wait_for(r"stopping: no new polls")
    daemon.signal(signal.SIGINT)
    code = daemon.proc.wait(timeout=10)
    release.set()

    assert code == 128 + signal.SIGINT


def test_sighup_adds_a_feed_and_a_bad_config_is_refused(
    tmp_path: Path, httpserver: HTTPServer, daemons
) -> None:
    """5. SIGHUP with a broken config keeps the running one; SIGHUP with a new feed polls it."""
    for name in ("one", "two"):
        httpserver.expect_request(f"/{name}.xml").respond_with_data(
            rss([Item(f"Story {name}", httpserver.url_for(f"/{name}"), body(5))]), content_type="application/rss+xml"
        )
    one = {"name": "one", "url": httpserver.url_for("/one.xml"), "interval": "2s"}
    config = write_config(tmp_path, [one])
    daemon = start(daemons, config)
    daemon.wait_for(r"feed=one status=200 new=1 ")

    good = config.read_text()
    config.write_text(good.replace("interval: 2s", "intervall: 2s"))
    daemon.signal(signal.SIGHUP)
    daemon.wait_for(r"reload \(SIGHUP\) refused, keeping the running config: .*feeds\.yaml:\d+: feeds\[0\]\.intervall")

    write_config(tmp_path, [one, {"name": "two", "url": httpserver.url_for("/two.xml"), "interval": "2s"}])
    daemon.signal(signal.SIGHUP)
    daemon.wait_for(r"reload \(SIGHUP\): 2 feeds \(1 added")
    daemon.wait_for(r"feed=two status=200 new=1 ")

    rows = status(config)
    assert rows["two"]["entries_archived"] == 1 and rows["one"]["state"] == "ok"
    assert daemon.stop() == 0


def test_watch_reloads_on_config_change(tmp_path: Path, httpserver: HTTPServer, daemons) -> None:
    """6. With --watch, editing the config file is enough."""
    for name in ("w", "x"):
        httpserver.expect_request(f"/{name}.xml").respond_with_data(
            rss([Item(f"Watched {name}", httpserver.url_for(f"/{name}"), body(6))]), content_type="application/rss+xml"
        )
    w = {"name": "w", "url": httpserver.url_for("/w.xml"), "interval": "2s"}
    config = write_config(tmp_path, [w])
    daemon = start(daemons, config, "--watch")
    daemon.wait_for(r"feed=w status=200 new=1 ")

    write_config(tmp_path, [w, {"name": "x", "url": httpserver.url_for("/x.xml"), "interval": "2s"}])
    daemon.wait_for(r"reload \(config file changed\): 2 feeds \(1 added, 0 removed, 0 changed\)")
    daemon.wait_for(r"feed=x status=200 new=1 ")
    assert daemon.stop() == 0


def test_next_due_from_the_store_is_respected(tmp_path: Path, httpserver: HTTPServer, daemons, cli) -> None:
    """7. A feed a crawl just polled (interval 1 h) is not polled again by a daemon started after it."""
    calls: list[int] = []

    def handler(request: Request) -> Response:
        calls.append(1)
        return Response(rss([Item("Once", httpserver.url_for("/o"), body(7))]), content_type="application/rss+xml")

    httpserver.expect_request("/o.xml").respond_with_handler(handler)
    httpserver.expect_request("/marker.xml").respond_with_data(
        rss([Item("Marker", httpserver.url_for("/m"), body(8))]), content_type="application/rss+xml"
    )
    feeds = [{"name": "hourly", "url": httpserver.url_for("/o.xml"), "interval": "1h"},
             {"name": "marker", "url": httpserver.url_for("/marker.xml"), "interval": "1s"}]
    config = write_config(tmp_path, feeds)
    assert cli("crawl", "--config", str(config), "--feed", "hourly").code == 0

    daemon = start(daemons, config)
    daemon.wait_for(r"feed=marker status=200 new=1 ")
    daemon.wait_for(r"feed=marker status=200 new=0 ")
    daemon.wait_for(r"feed=marker status=200 new=0 ")

    assert len(calls) == 1
    assert status(config)["hourly"]["next_due"] is not None
    assert daemon.stop() == 0


def test_a_reload_keeps_the_images_dir_the_image_workers_write_to(
    tmp_path: Path, httpserver: HTTPServer, daemons
) -> None:
    """8. images_dir changed under a running daemon: a warning, and new articles still point at
    the folder their images are written to (the workers' own) until a restart."""
    for name, marker in (("p", b"P"), ("q", b"Q")):
        httpserver.expect_request(f"/{name}.jpg").respond_with_data(
            b"\xff\xd8\xff\xe0" + marker * 100 + b"\xff\xd9", content_type="image/jpeg")
        httpserver.expect_request(f"/{name}.xml").respond_with_data(
            rss([Item(f"Pictured {name}", httpserver.url_for(f"/{name}"),
                      body(9) + f'<img src="{httpserver.url_for(f"/{name}.jpg")}">')]),
            content_type="application/rss+xml")
    p = {"name": "p", "url": httpserver.url_for("/p.xml"), "interval": "2s"}
    config = write_config(tmp_path, [p], images_dir="pics")
    daemon = start(daemons, config)
    daemon.wait_for(r"feed=p status=200 new=1 ")

    write_config(tmp_path, [p, {"name": "q", "url": httpserver.url_for("/q.xml"), "interval": "2s"}],
                 images_dir="elsewhere")
    daemon.signal(signal.SIGHUP)
    daemon.wait_for(r"reload: archive_dir, images_dir, state and http changes take effect after a restart")
    daemon.wait_for(r"feed=q status=200 new=1 ")
    assert daemon.stop() == 0

    assert not (tmp_path / "elsewhere").exists()
    for path in archived_files(tmp_path / "archive"):
        src = split_document(path)[0]["headimg"]
        assert (path.parent / src).resolve().parent == tmp_path / "pics", src
        assert (path.parent / src).is_file(), src


def test_the_first_polls_are_announced_and_status_shows_when_they_come(tmp_path: Path, server, daemons) -> None:
    """A feed never polled: the daemon says when its first polls come (within a minute of its
    start), and `status` shows that time as its next due, not nothing."""
    held = threading.Event()

    def never_answers(handler: object) -> None:  # the first poll, should it come, stays in flight
        held.set()
        server.release.wait(EVENT_TIMEOUT)

    config = write_config(tmp_path, [{"name": "fresh", "url": server.route("/feed.xml", never_answers),
                                      "interval": "1h"}], shutdown_timeout="1s")
    started = datetime.now(UTC)
    daemon = start(daemons, config)

    announced = daemon.wait_for(r"first poll in (\d+)s")
    row = status(config)["fresh"]

    assert 0 <= int(announced.group(1)) <= 60
    assert row["state"] == "new" and row["last_poll"] is None
    assert isinstance(row["next_due"], str)
    due = datetime.fromisoformat(row["next_due"])
    assert started <= due <= started + timedelta(seconds=65)
    assert daemon.stop() == 0
