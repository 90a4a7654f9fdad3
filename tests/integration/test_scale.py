"""What a node holds with 100,000 feeds: `check` and `run` stay small and quick (loose bounds here;
benchmarks/scale.py has the figures). CPU time, not wall time: the machine may be busy."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from benchmarks.scale import BAD_VALUE, free_port, line_of_bad, rss_mb, seed_store, write_config

ROOT = Path(__file__).resolve().parents[2]
FEEDS = 100_000
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


# The child's own peak (VmHWM, of its own memory map): ru_maxrss would also count the pytest process
# it was forked from, which Linux keeps across exec.
_PEAK = (
    "import atexit, os, sys\n"
    "def peak():\n"
    "    with open('/proc/self/status') as status, open(os.environ['FA_PEAK_FILE'], 'w') as out:\n"
    "        out.write(next(line.split()[1] for line in status if line.startswith('VmHWM:')))\n"
    "atexit.register(peak)\n"
    "sys.argv = ['feed-archiver', *sys.argv[1:]]\n"
    "from crawler.cli import run\n"
    "run()\n"
)


def check(config: Path) -> tuple[int, str, float, float]:
    """Exit status, stderr, CPU seconds and peak RSS (MB) of `feed-archiver check`."""
    err, peak = config.with_suffix(".err"), config.with_suffix(".peak")
    with open(os.devnull, "wb") as out, err.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", _PEAK, "check", "--config", str(config)],
                                stdout=out, stderr=stderr, env={**ENV, "FA_PEAK_FILE": str(peak)})
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            if proc.poll() is None:
                proc.kill()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, err.read_text(), usage.ru_utime + usage.ru_stime, int(peak.read_text()) / 1024


def test_a_100000_feed_config_is_checked_quickly_and_one_bad_line_is_named_as_quickly(tmp_path: Path) -> None:
    good, bad = tmp_path / "good" / "feeds.yaml", tmp_path / "bad" / "feeds.yaml"
    for path in (good, bad):
        path.parent.mkdir()
    write_config(good, FEEDS)
    write_config(bad, FEEDS, bad_at=FEEDS - 7)

    code, err, good_cpu, good_rss = check(good)
    assert code == 0, err
    code, err, bad_cpu, bad_rss = check(bad)

    assert code == 2
    [message] = err.strip().splitlines()
    assert message.startswith(f"{bad}:{line_of_bad(bad)}: feeds[{FEEDS - 7}].interval: "), message
    assert BAD_VALUE in message and "not a duration" in message
    # Before: 12 s of CPU and 450-600 MB each; now 2-3 s and 150 MB.
    assert good_cpu < 6 and bad_cpu < 6, (good_cpu, bad_cpu)
    assert good_rss < 250 and bad_rss < 250, (good_rss, bad_rss)


def test_the_daemon_with_100000_feeds_on_sqlite_is_ready_small_and_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "feeds.yaml"
    write_config(config, FEEDS, port=port)
    seed_store(config, FEEDS)  # every feed polled a minute ago, due in a day: nothing is polled
    log = tmp_path / "run.log"
    with log.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "crawler", "run", "--config", str(config)],
                                stdout=subprocess.DEVNULL, stderr=stderr, env=ENV)
    try:
        deadline = time.monotonic() + 60
        ready = False
        while not ready and time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                    ready = answer.status == 200
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)  # polling a port that is not open yet: no event to wait on
        assert ready, log.read_text()
        # Before: 400 MB (a scheduler job and two gauge children per feed, every state kept).
        assert rss_mb(proc.pid) < 300
        assert rss_mb(proc.pid, "VmHWM") < 300
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = log.read_text()
    assert f"daemon started: {FEEDS} feeds" in text and "stopped cleanly" in text
    assert "Traceback" not in text
