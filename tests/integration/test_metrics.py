"""The daemon's /metrics, /healthz and /readyz, scraped over HTTP from a real `feed-archiver run`."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.conftest import Item, rss, write_config
from tests.conftest import http_get as get
from tests.daemons import start
from tests.integration.test_daemon import body

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by (name, sorted labels), read by prometheus-client's parser."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_a_scrape_after_a_few_polls_counts_polls_entries_images_and_requests(
    tmp_path: Path, httpserver: HTTPServer, daemons
) -> None:
    """A feed with an image answered 200, then 304s; a second feed that fails. The scrape, parsed as the
    exposition format, has every series DESIGN.md names with the counts those polls make."""
    image = httpserver.url_for("/pic.png")
    doc = rss([Item("One", httpserver.url_for("/1"), body(1) + f'<img src="{image}">')])

    def feed(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304)
        return Response(doc, content_type="application/rss+xml", headers={"ETag": '"v1"'})

    httpserver.expect_request("/feed.xml").respond_with_handler(feed)
    httpserver.expect_request("/pic.png").respond_with_data(PNG, content_type="image/png")
    httpserver.expect_request("/broken.xml").respond_with_data("down", status=500)
    config = write_config(
        tmp_path,
        [{"name": "news", "url": httpserver.url_for("/feed.xml"), "interval": "1s"},
         {"name": "broken", "url": httpserver.url_for("/broken.xml"), "interval": "1s"}],
        metrics={"listen": "127.0.0.1:0"}, http={"retries": 0},
    )
    daemon = start(daemons, config)
    address = daemon.wait_for(r"metrics on http://([\d.]+:\d+)/metrics").group(1)
    daemon.wait_for(r"feed=news status=200 new=1 ")
    daemon.wait_for(r"feed=news status=304 new=0 ")
    daemon.wait_for(r"feed=news status=304 new=0 ")
    daemon.wait_for(r"feed=broken .*failed: HTTP 500")

    status, text = get(f"http://{address}/metrics")
    assert status == 200
    values = samples(text)
    families = {f.name for f in text_string_to_metric_families(text)}
    assert {
        "feed_archiver_polls", "feed_archiver_entries", "feed_archiver_images", "feed_archiver_image_bytes",
        "feed_archiver_http_requests", "feed_archiver_poll_duration_seconds", "feed_archiver_feeds",
        "feed_archiver_feed_last_success_timestamp_seconds", "feed_archiver_feed_consecutive_failures",
    } <= families
    assert values[("feed_archiver_polls_total", (("outcome", "ok"),))] == 1
    assert values[("feed_archiver_polls_total", (("outcome", "not_modified"),))] >= 2
    assert values[("feed_archiver_polls_total", (("outcome", "failed"),))] >= 1
    assert values[("feed_archiver_entries_total", (("result", "archived"),))] == 1
    assert values[("feed_archiver_images_total", ())] == 1
    assert values[("feed_archiver_image_bytes_total", ())] == len(PNG)
    # The image was fetched by a worker process, and still counted here.
    assert values[("feed_archiver_http_requests_total", (("kind", "image"), ("status_class", "2xx")))] == 1
    assert values[("feed_archiver_http_requests_total", (("kind", "feed"), ("status_class", "2xx")))] == 1
    assert values[("feed_archiver_http_requests_total", (("kind", "feed"), ("status_class", "3xx")))] >= 2
    assert values[("feed_archiver_http_requests_total", (("kind", "feed"), ("status_class", "5xx")))] >= 1
    polls = sum(v for (name, _), v in values.items() if name == "feed_archiver_polls_total")
    assert values[("feed_archiver_poll_duration_seconds_count", ())] == polls
    assert values[("feed_archiver_feeds", (("state", "ok"),))] == 1
    assert values[("feed_archiver_feeds", (("state", "failing"),))] == 1
    assert values[("feed_archiver_feed_consecutive_failures", (("feed", "news"),))] == 0
    assert values[("feed_archiver_feed_consecutive_failures", (("feed", "broken"),))] >= 1
    assert values[("feed_archiver_feed_last_success_timestamp_seconds", (("feed", "news"),))] > 1.7e9
    assert ("feed_archiver_feed_last_success_timestamp_seconds", (("feed", "broken"),)) not in values
    # Per feed, only those two series: nothing else carries a feed label.
    assert {name for (name, labels), _ in values.items() if dict(labels).get("feed")} == {
        "feed_archiver_feed_last_success_timestamp_seconds", "feed_archiver_feed_consecutive_failures"}

    assert get(f"http://{address}/healthz") == (200, "ok\n")
    assert get(f"http://{address}/readyz") == (200, "ok\n")
    assert get(f"http://{address}/other")[0] == 404
    assert daemon.stop() == 0


def test_the_shipped_alert_rules_use_series_the_daemon_serves(tmp_path: Path, httpserver: HTTPServer, daemons) -> None:
    """Every feed_archiver_* name in deploy/feed-archiver-rules.yml is one the daemon exposes."""
    rules = (Path(__file__).parents[2] / "deploy" / "feed-archiver-rules.yml").read_text(encoding="utf-8")
    named = set(re.findall(r"\bfeed_archiver_\w+", rules))
    assert named, "the rules file names no series"
    httpserver.expect_request("/feed.xml").respond_with_data(rss([]), content_type="application/rss+xml")
    config = write_config(tmp_path, [{"name": "news", "url": httpserver.url_for("/feed.xml"), "interval": "1s"}],
                          metrics={"listen": "127.0.0.1:0"})
    daemon = start(daemons, config)
    address = daemon.wait_for(r"metrics on http://([\d.]+:\d+)/metrics").group(1)
    daemon.wait_for(r"feed=news status=200 ")
    families = list(text_string_to_metric_families(get(f"http://{address}/metrics")[1]))
    served = {f.name for f in families} | {s.name for f in families for s in f.samples}
    assert named <= served, named - served
    assert daemon.stop() == 0


def test_a_metrics_port_in_use_stops_the_start_with_one_line_and_exit_3(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = write_config(tmp_path, [{"name": "news", "url": "http://127.0.0.1:9/feed.xml"}],
                              metrics={"listen": f"127.0.0.1:{port}"})
        done = subprocess.run([sys.executable, "-m", "crawler", "run", "--config", str(config)],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot listen on 127.0.0.1:{port}" in lines[0], done.stderr
    assert "daemon started" not in done.stderr


def test_a_bad_listen_address_is_a_config_error(tmp_path: Path, cli) -> None:
    config = write_config(tmp_path, [{"name": "news", "url": "http://127.0.0.1:9/feed.xml"}],
                          metrics={"listen": "9464"})
    result = cli("check", "--config", str(config))
    assert result.code == 2
    assert re.fullmatch(r".*feeds\.yaml:\d+: metrics\.listen: '9464' is not HOST:PORT .*\n", result.err)
