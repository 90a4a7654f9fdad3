"""Benchmark a cluster: 1, 2 and 3 `feed-archiver run` nodes on one PostgreSQL, 3,000 feeds.

    python benchmarks/cluster.py                     # -F 3000 -I 2, nodes 1,2,3, 60 s interval, 120 s windows
    python benchmarks/cluster.py --nodes 1,3 --window 60

The shared bench's generator makes the feeds (full text in the feed, so a poll is the feed
alone); nginx serves them on 127.0.0.1 with an access log that notes each request's time;
a throwaway PostgreSQL (tests/pg.py) holds the state. One `crawl` archives everything
first; each run then starts from a copy of that database (all feeds overdue, so the
nodes' first polls spread over the first minute), lets the nodes poll, and measures a
window in the steady state:

- polls/s: feed requests nginx answered in the window;
- CPU per poll, nodes: user+system time of every node's processes, over the window;
- CPU per poll, PostgreSQL: the same for the server's processes;
- statements per poll: `pg_stat_statements` calls (BEGIN/COMMIT and the pool's pings included);
- delay after due, p50/p95: a feed's gap between two polls, less the interval (the
  scheduler adds up to a tenth of the interval on purpose, to spread the feeds);
- duplicate polls: two polls of one feed less than half an interval apart (must be 0);
- the share of the polls made by the busiest node.

Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.bench import TICK, _tree  # noqa: E402
from tests.pg import PostgresServer, start_server  # noqa: E402

PORTS = ["8091", "8092", "8093", "8094", "8095"]  # not bench.py's: both may run on one machine


def cpu_seconds(pids: set[int], reaped_of: int | None = None) -> float:
    """User+system time of `pids`; with `reaped_of`, also that process's children that have exited
    (PostgreSQL's backends come and go with the connection pools' overflow)."""
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(stat[11]) + int(stat[12])) / TICK
            if pid == reaped_of:
                total += (int(stat[13]) + int(stat[14])) / TICK
    return total


def nginx(site: Path, run: Path) -> subprocess.Popen[bytes]:
    """nginx on the bench's ports, logging `msec uri status` for each request."""
    run.mkdir(parents=True, exist_ok=True)
    servers = "\n".join(
        f"server {{ listen 127.0.0.1:{port} backlog=4096; root {site}; location / {{ try_files $uri =404; }} }}"
        for port in PORTS
    )
    (run / "nginx.conf").write_text(f"""
worker_processes 2; daemon off; pid {run}/nginx.pid; error_log {run}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types; etag on; if_modified_since exact; keepalive_requests 100000;
    log_format t '$msec $uri $status'; access_log {run}/access.log t buffer=64k flush=1s;
    client_body_temp_path {run}/body; proxy_temp_path {run}/proxy; fastcgi_temp_path {run}/fcgi;
    uwsgi_temp_path {run}/uwsgi; scgi_temp_path {run}/scgi;
    {servers}
}}
""")
    proc = subprocess.Popen(["nginx", "-c", str(run / "nginx.conf")])
    time.sleep(1.0)
    return proc


def feed_requests(log: Path, start: float, end: float) -> list[tuple[float, str]]:
    out = []
    for line in log.read_text().splitlines():
        stamp, uri, _status = line.split(" ", 2)
        when = float(stamp)
        if uri.startswith("/feeds/") and start <= when < end:
            out.append((when, uri))
    return out


def statements(server: PostgresServer, database: str) -> int:
    rows = server.sql("SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s JOIN pg_database d "
                      f"ON d.oid = s.dbid WHERE d.datname = '{database}'", database)
    return int(rows.strip() or 0)


def postgres_cpu(server: PostgresServer) -> float:
    postmaster = int((server.data / "postmaster.pid").read_text().split()[0])
    return cpu_seconds(_tree(postmaster), reaped_of=postmaster)


def config_for(work: Path, corpus: Path, url: str, node: str, interval: int, lease: int) -> Path:
    feeds = (corpus / "feeds.yaml").read_text(encoding="utf-8").splitlines()[1:]
    path = work / f"{node}.yaml"
    path.write_text(
        f"archive_dir: {work / 'archive'}\nstate: {url}\ncluster: {{node: {node}, lease: {lease}s}}\n"
        f"http: {{concurrency: 32, per_host: 8}}\n"
        f"defaults: {{interval: {interval}s, full_text: never, images: false}}\nfeeds:\n"
        + "\n".join("  " + line for line in feeds) + "\n",
        encoding="utf-8",
    )
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-F", type=int, default=3000, help="feeds")
    parser.add_argument("-I", type=int, default=2, help="items per feed")
    parser.add_argument("--nodes", default="1,2,3")
    parser.add_argument("--interval", type=int, default=60)
    parser.add_argument("--lease", type=int, default=30)
    parser.add_argument("--window", type=int, default=120, help="seconds measured per run")
    parser.add_argument("--bench-dir", type=Path, default=HERE.parent.parent / "shared" / "bench")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "feed-archiver-cluster-bench")
    args = parser.parse_args()

    work = args.work.resolve()
    corpus = work / f"corpus-f{args.F}-i{args.I}"
    work.mkdir(parents=True, exist_ok=True)
    if not (corpus / "feeds.yaml").exists():
        print(f"building corpus {corpus} ...", flush=True)
        subprocess.run([sys.executable, str(args.bench_dir / "make_corpus.py"), "-F", str(args.F), "-I", str(args.I),
                        "--full-share", "1.0", "--ports", ",".join(PORTS), "-o", str(corpus)],
                       check=True, stdout=subprocess.DEVNULL)
    # The generator's feeds say <ttl>60</ttl> (minutes), which the scheduler honours as a lower bound
    # on the interval: a benchmark of polling every minute takes it out.
    for feed in (corpus / "site" / "feeds").glob("*.xml"):
        text = feed.read_text(encoding="utf-8")
        if "<ttl>" in text:
            feed.write_text(re.sub(r"<ttl>\d+</ttl>", "", text), encoding="utf-8")
    (work / "nginx" / "access.log").unlink(missing_ok=True)
    web = nginx(corpus / "site", work / "nginx")
    db = start_server()
    rows = []
    try:
        db.sql("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        db.stop()
        db.launch()
        base = db.create_database()
        shutil.rmtree(work / "archive", ignore_errors=True)
        seed = config_for(work, corpus, db.url(base), "seed", args.interval, args.lease)
        started = time.monotonic()
        seeded = subprocess.run([sys.executable, "-m", "crawler", "crawl", "--config", str(seed)],
                                capture_output=True, text=True, cwd=HERE.parent)
        failed = [line for line in seeded.stderr.splitlines() if " ERROR " in line]
        print(f"seed crawl: {time.monotonic() - started:.0f}s, exit {seeded.returncode}, {len(failed)} errors "
              f"{failed[:3]}", flush=True)
        for count in [int(n) for n in args.nodes.split(",")]:
            name = f"run{count}"
            db.sql(f"CREATE DATABASE {name} TEMPLATE {base} OWNER archiver")
            db.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", name)
            nodes = []
            for index in range(count):
                config = config_for(work, corpus, db.url(name), f"n{index + 1}", args.interval, args.lease)
                log = (work / f"{name}-n{index + 1}.log").open("wb")
                nodes.append(subprocess.Popen([sys.executable, "-m", "crawler", "run", "--config", str(config)],
                                              stdout=subprocess.DEVNULL, stderr=log, cwd=HERE.parent))
            time.sleep(args.interval + 10)  # past the first round: the steady state
            t0, statements0 = time.time(), statements(db, name)
            cpu0 = sum(cpu_seconds(_tree(p.pid)) for p in nodes)
            pg0 = postgres_cpu(db)
            time.sleep(args.window)
            t1, statements1 = time.time(), statements(db, name)
            cpu1 = sum(cpu_seconds(_tree(p.pid)) for p in nodes)
            pg1 = postgres_cpu(db)
            for proc in nodes:
                proc.send_signal(signal.SIGTERM)
            for proc in nodes:
                proc.wait(timeout=60)
            time.sleep(1.5)  # nginx flushes its log every second
            requests = feed_requests(work / "nginx" / "access.log", t0, t1)
            times: dict[str, list[float]] = defaultdict(list)
            for when, uri in requests:
                times[uri].append(when)
            gaps = [b - a for stamps in times.values() for a, b in zip(stamps, stamps[1:], strict=False)]
            delays = sorted(max(0.0, gap - args.interval) for gap in gaps)
            duplicates = sum(gap < args.interval / 2 for gap in gaps)
            by_node: Counter[str] = Counter()
            for index in range(count):
                text = (work / f"{name}-n{index + 1}.log").read_text(errors="replace")
                by_node[f"n{index + 1}"] = sum(1 for line in text.splitlines() if "status=" in line and "feed=" in line)
            polls = len(requests)
            rows.append((count, polls / args.window, (cpu1 - cpu0) / polls * 1000, (pg1 - pg0) / polls * 1000,
                         (statements1 - statements0) / polls, statistics.median(delays) if delays else 0.0,
                         delays[int(len(delays) * 0.95)] if delays else 0.0, duplicates,
                         max(by_node.values()) / max(1, sum(by_node.values()))))
            print(f"{count} node(s): {polls} polls in {args.window}s", flush=True)
    finally:
        db.remove()
        web.send_signal(signal.SIGQUIT)
        web.wait(timeout=10)
    print(f"\n{args.F} feeds, interval {args.interval}s, lease {args.lease}s, {args.window}s measured per run, "
          f"{os.cpu_count()} cores shared by nodes, PostgreSQL and nginx\n")
    print("| nodes | polls/s | node CPU ms/poll | PostgreSQL CPU ms/poll | statements/poll "
          "| delay after due p50 / p95 s | duplicate polls | busiest node's share |")
    print("|---|---|---|---|---|---|---|---|")
    for count, rate, cpu, pg, stmts, p50, p95, dup, share in rows:
        print(f"| {count} | {rate:.1f} | {cpu:.2f} | {pg:.2f} | {stmts:.1f} | {p50:.1f} / {p95:.1f} | {dup} "
              f"| {share:.0%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
