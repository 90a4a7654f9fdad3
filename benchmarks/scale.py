"""What a node holds with a long feed list: `check` and `run` with 100,000 feeds.

    python benchmarks/scale.py                  # 100,000 feeds
    python benchmarks/scale.py -n 10000 -n 100000 --bad

For each N, a config of N feeds as a user would write it (a name and a URL each, a category
on every third, an interval of its own on every tenth) is generated, then:

- check: `feed-archiver check` with its table written to a file; wall time and the
  process's peak RSS (`wait4`'s rusage, this child's alone);
- check, bad line: the same config with one bad value near its end (a duration that is
  not one): wall time, peak RSS, and the one line it printed;
- run: `feed-archiver run` on SQLite, metrics on 127.0.0.1. The store is seeded first
  with every feed polled a moment ago and due in a day, so the daemon starts as it
  restarts on a real archive and polls nothing (the feeds' URLs point at 127.0.0.1 port 9,
  which nothing answers, all the same). Measured: seconds from the start to the first
  `/readyz` 200 and the CPU it had used by then, the daemon's RSS then and 10 s later,
  its peak (VmHWM), and the seconds from SIGTERM to its exit.

Wall times depend on what else the machine runs; CPU times and RSS much less.

Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}

BAD_VALUE = "every so often"


def write_config(path: Path, feeds: int, *, port: int | None = None, bad_at: int | None = None,
                 state: str | None = None) -> None:
    """N feeds; with `bad_at`, that feed's interval is not a duration."""
    state = state or f"sqlite:///{path.parent / 'archive' / 'state.sqlite'}"
    head = [f"archive_dir: {path.parent / 'archive'}", f"state: {state}"]
    if port is not None:
        head.append(f"metrics:\n  listen: 127.0.0.1:{port}")
    head += ["defaults:", "  interval: 1h", "  full_text: never", "feeds:"]
    lines = head
    for n in range(feeds):
        lines.append(f"  - name: feed-{n:06d}")
        lines.append(f"    url: http://127.0.0.1:9/feeds/{n:06d}.xml")
        if n % 3 == 0:
            lines.append("    categories: [news, world]")
        if n == bad_at:
            lines.append(f"    interval: {BAD_VALUE}")
        elif n % 10 == 0:
            lines.append("    interval: 2h")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def line_of_bad(path: Path) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if BAD_VALUE in line:
            return number
    raise AssertionError("no bad line")


def timed(argv: list[str], out: Path) -> tuple[float, float, float, int, str]:
    """Wall seconds, CPU seconds, peak RSS in MB, exit status and stderr of one command."""
    err = out.with_suffix(".err")
    with out.open("wb") as stdout, err.open("wb") as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=stdout, stderr=stderr, env=ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return wall, cpu, usage.ru_maxrss / 1024, proc.returncode, err.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed_store(config: Path, feeds: int) -> None:
    """Create the store (`status` does not write; a `crawl` of no feed would poll): the schema by
    the project's own migrations, then one row per feed, polled a minute ago, due in a day."""
    code = (
        "import asyncio, sys\n"
        "from crawler.store import StateStore\n"
        "async def main():\n"
        "    store = await StateStore.open(sys.argv[1])\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
    )
    db = config.parent / "archive" / "state.sqlite"
    db.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", code, f"sqlite:///{db}"], check=True, env=ENV, timeout=120)
    now = datetime.now(UTC).replace(tzinfo=None)
    polled, due = (now - timedelta(minutes=1)).isoformat(" "), (now + timedelta(days=1)).isoformat(" ")
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO feeds (name, url, last_poll, last_status, consecutive_failures, next_due, dead) "
            "VALUES (?, ?, ?, 304, 0, ?, 0)",
            ((f"feed-{n:06d}", f"http://127.0.0.1:9/feeds/{n:06d}.xml", polled, due) for n in range(feeds)),
        )


def seed_postgres(server: object, database: str, feeds: int) -> None:
    """As `seed_store`, in a PostgreSQL database (tests/pg.py's throwaway server)."""
    code = (
        "import asyncio, sys\n"
        "from crawler.store import StateStore\n"
        "async def main():\n"
        "    store = await StateStore.open(sys.argv[1])\n"
        "    await store.close()\n"
        "asyncio.run(main())\n"
    )
    subprocess.run([sys.executable, "-c", code, server.url(database)], check=True, env=ENV, timeout=120)  # type: ignore[attr-defined]
    server.sql(  # type: ignore[attr-defined]
        "INSERT INTO feeds (name, url, last_poll, last_status, consecutive_failures, next_due, dead) "
        "SELECT 'feed-' || lpad(n::text, 6, '0'), 'http://127.0.0.1:9/feeds/' || lpad(n::text, 6, '0') || '.xml', "
        f"now() - interval '1 minute', 304, 0, now() + interval '1 day', false FROM generate_series(0, {feeds - 1}) n",
        database,
    )


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User+system time of a running process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_rss_mb(pid: int) -> float:
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if ppid == pid:
                    total += rss_mb(int(entry.name))
            except (OSError, ValueError):
                continue
    return total


def run_daemon(config: Path, port: int, timeout: float) -> dict[str, float]:
    log = config.with_suffix(".run.log")
    with log.open("wb") as stderr:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "crawler", "run", "--config", str(config)],
                                stdout=subprocess.DEVNULL, stderr=stderr, env=ENV)
        ready = float("nan")
        try:
            while time.perf_counter() - start < timeout and proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
                        if answer.status == 200:
                            ready = time.perf_counter() - start
                            break
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                time.sleep(0.05)
            if ready != ready:  # NaN
                raise SystemExit(f"no /readyz 200 within {timeout:.0f}s; see {log}")
            at_ready, cpu = rss_mb(proc.pid), cpu_seconds(proc.pid)
            time.sleep(10)
            later, peak, kids = rss_mb(proc.pid), rss_mb(proc.pid, "VmHWM"), children_rss_mb(proc.pid)
            stopping = time.perf_counter()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=60)
            stopped = time.perf_counter() - stopping
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return {"ready": ready, "cpu": cpu, "rss_ready": at_ready, "rss_10s": later, "peak": peak, "children": kids,
            "stop": stopped, "code": code}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--feeds", type=int, action="append", help="feeds (repeatable; default 100000)")
    parser.add_argument("--bad", action="store_true", help="also check a config with one bad line")
    parser.add_argument("--no-run", action="store_true", help="check only")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for /readyz")
    parser.add_argument("--postgres", action="store_true", help="also run the daemon on PostgreSQL (tests/pg.py)")
    args = parser.parse_args()
    server = None
    if args.postgres:
        sys.path.insert(0, str(ROOT))
        from tests.pg import start_server

        server = start_server()
    try:
        return _measure(args, server)
    finally:
        if server is not None:
            server.remove()


def _measure(args: argparse.Namespace, server: object) -> int:
    rows = []
    for n in args.feeds or [100_000]:
        with tempfile.TemporaryDirectory(prefix="feed-archiver-scale-") as tmp:
            work = Path(tmp)
            port = free_port()
            config = work / "feeds.yaml"
            write_config(config, n, port=port)
            check = [sys.executable, "-m", "crawler", "check", "--config", str(config)]
            wall, cpu, peak, code, err = timed(check, work / "check.out")
            if code != 0:
                raise SystemExit(f"check failed ({code}): {err}")
            rows.append((f"check, {n:,} feeds", f"{wall:.2f} s", f"{peak:.0f} MB", f"CPU {cpu:.2f} s"))
            if args.bad:
                bad = work / "bad.yaml"
                write_config(bad, n, bad_at=n - 7)
                argv = [sys.executable, "-m", "crawler", "check", "--config", str(bad)]
                wall, cpu, peak, code, err = timed(argv, work / "bad.out")
                line = line_of_bad(bad)
                said = err.strip()
                assert code == 2 and said.startswith(f"{bad}:{line}: "), (code, said)
                rows.append((f"check, {n:,} feeds, bad line {line}", f"{wall:.2f} s", f"{peak:.0f} MB",
                             f"CPU {cpu:.2f} s; " + said.replace(str(bad), "bad.yaml")))
            if not args.no_run:
                seed_store(config, n)
                got = run_daemon(config, port, args.timeout)
                rows.append((f"run, {n:,} feeds: /readyz 200", f"{got['ready']:.2f} s", f"{got['rss_ready']:.0f} MB",
                             f"CPU to ready {got['cpu']:.2f} s; 10 s later {got['rss_10s']:.0f} MB, "
                             f"peak {got['peak']:.0f} MB, workers {got['children']:.0f} MB; "
                             f"SIGTERM to exit {got['stop']:.2f} s (status {got['code']:.0f})"))
            if server is not None:
                database = server.create_database()  # type: ignore[attr-defined]
                pg_config = work / "pg.yaml"
                write_config(pg_config, n, port=port, state=server.url(database))  # type: ignore[attr-defined]
                seed_postgres(server, database, n)
                got = run_daemon(pg_config, port, args.timeout)
                rows.append((f"run on PostgreSQL, {n:,} feeds: /readyz 200", f"{got['ready']:.2f} s",
                             f"{got['rss_ready']:.0f} MB",
                             f"CPU to ready {got['cpu']:.2f} s; 10 s later {got['rss_10s']:.0f} MB, "
                             f"peak {got['peak']:.0f} MB; SIGTERM to exit {got['stop']:.2f} s "
                             f"(status {got['code']:.0f})"))
    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  {'time':>8}  {'RSS':>7}  notes")
    for what, wall_text, rss_text, note in rows:
        print(f"{what:<{width}}  {wall_text:>8}  {rss_text:>7}  {note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
