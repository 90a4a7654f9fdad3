"""Benchmark a cluster: 1, 2 and 3 `feed-archiver run` nodes on one PostgreSQL, 3,000 feeds, in one run.

    python benchmarks/cluster.py                     # -F 3000 -I 2, nodes 1,2,3: saturated, then unsaturated
    python benchmarks/cluster.py --nodes 1,3 --sat-window 30 --window 60
    python benchmarks/cluster.py --code /path/to/another/checkout   # the same run of other code (before/after)

The shared bench's generator makes the feeds (full text in the feed, so a poll is the feed
alone); nginx serves them on 127.0.0.1 with an access log that notes each request's time;
a throwaway PostgreSQL (tests/pg.py, with `pg_stat_statements`) holds the state. One
`crawl` archives everything first; each run then starts from a copy of that database.

Saturated (issue 23): every feed due at once, every `--sat-interval` s (3,000 feeds every 5 s
is 600 polls/s, more than the nodes can make), so the nodes poll as fast as they can; after
`--sat-warmup` s, a window of `--sat-window` s is measured:

- polls/s: feed requests nginx answered in the window;
- CPU per poll: user+system time of every node's processes, and of PostgreSQL's (exited
  backends included), over the window, and the two together;
- statements per poll: `pg_stat_statements` calls (BEGIN/COMMIT and the pool's pings included);
- duplicate polls: two polls of one feed less than half an interval apart (must be 0);
- each node's peak RSS (VmHWM of its main process, at the end).

Unsaturated: the feeds' next due times spread over one `--interval` (as a daemon's first polls
are), polled every `--interval` s (3,000 a minute: 50/s); over `--window` s:

- delay after due, p50/p95: a feed's gap between two polls, less the interval (a node stores
  the next due time with up to a tenth of the interval added on purpose, to spread the feeds);
- duplicate polls, and the share of the polls made by the busiest node.

Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
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


def config_for(work: Path, corpus: Path, url: str, node: str, interval: float, lease: int) -> Path:
    feeds = (corpus / "feeds.yaml").read_text(encoding="utf-8").splitlines()[1:]
    path = work / f"{node}.yaml"
    path.write_text(
        f"archive_dir: {work / 'archive'}\nstate: {url}\ncluster: {{node: {node}, lease: {lease}s}}\n"
        f"http: {{concurrency: 32, per_host: 8}}\n"
        f"defaults: {{interval: {interval:g}s, full_text: never, images: false}}\nfeeds:\n"
        + "\n".join("  " + line for line in feeds) + "\n",
        encoding="utf-8",
    )
    return path


def peak_rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


@dataclass
class Run:
    nodes: int
    polls: int
    seconds: float
    node_cpu: float
    pg_cpu: float
    statements: int
    gaps: list[float]
    interval: float
    by_node: Counter[str]
    rss: list[float]
    load: str

    @property
    def rate(self) -> float:
        return self.polls / self.seconds

    def per_poll(self, value: float) -> float:
        return value / max(1, self.polls)

    @property
    def duplicates(self) -> int:
        return sum(gap < self.interval / 2 for gap in self.gaps)

    def delay(self, share: float) -> float:
        delays = sorted(max(0.0, gap - self.interval) for gap in self.gaps)
        return delays[min(len(delays) - 1, int(len(delays) * share))] if delays else 0.0

    @property
    def busiest(self) -> float:
        return max(self.by_node.values()) / max(1, sum(self.by_node.values()))


def measure(db: PostgresServer, base: str, count: int, mode: str, interval: float, warmup: float, window: float,
            args: argparse.Namespace, work: Path, corpus: Path, code: Path) -> Run:
    name = f"{mode}{count}"
    db.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    db.sql(f"CREATE DATABASE {name} TEMPLATE {base} OWNER archiver")
    db.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", name)
    if mode == "sat":  # every feed overdue: more due than the nodes can poll
        db.sql("UPDATE feeds SET next_due = now() - interval '1 minute'", name)
    else:  # first polls spread over an interval, as a daemon spreads them
        db.sql(f"UPDATE feeds SET next_due = now() + random() * interval '{interval:g} seconds'", name)
    db.sql("SELECT pg_stat_statements_reset()", name)
    nodes = []
    began = time.time()
    for index in range(count):
        config = config_for(work, corpus, db.url(name), f"n{index + 1}", interval, args.lease)
        log = (work / f"{name}-n{index + 1}.log").open("wb")
        nodes.append(subprocess.Popen([sys.executable, "-m", "crawler", "run", "--config", str(config)],
                                      stdout=subprocess.DEVNULL, stderr=log, cwd=code))
    time.sleep(warmup)
    t0, statements0 = time.time(), statements(db, name)
    cpu0 = sum(cpu_seconds(_tree(p.pid)) for p in nodes)
    pg0 = postgres_cpu(db)
    time.sleep(window)
    t1, statements1 = time.time(), statements(db, name)
    cpu1 = sum(cpu_seconds(_tree(p.pid)) for p in nodes)
    pg1 = postgres_cpu(db)
    rss = [peak_rss_mb(p.pid) for p in nodes]
    now_load = load()
    for proc in nodes:
        proc.send_signal(signal.SIGTERM)
    for index, proc in enumerate(nodes):
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            print(f"  {name} n{index + 1} did not stop within 60 s of SIGTERM: killed", flush=True)
            proc.kill()
            proc.wait()
    time.sleep(1.5)  # nginx flushes its log every second
    in_window = feed_requests(work / "nginx" / "access.log", t0, t1)
    times: dict[str, list[float]] = defaultdict(list)
    # Gaps over the whole run (a poll in the window and the one before it): a duplicate is one wherever it falls.
    for when, uri in feed_requests(work / "nginx" / "access.log", began, t1):
        times[uri].append(when)
    gaps = [b - a for stamps in times.values() for a, b in zip(stamps, stamps[1:], strict=False)]
    by_node: Counter[str] = Counter()
    for index in range(count):
        text = (work / f"{name}-n{index + 1}.log").read_text(errors="replace")
        by_node[f"n{index + 1}"] = sum(1 for line in text.splitlines() if "status=" in line and "feed=" in line)
        errors = [line for line in text.splitlines() if " ERROR " in line or "Traceback" in line]
        if errors:
            print(f"  {name} n{index + 1}: {len(errors)} error lines, e.g. {errors[0]}", flush=True)
    run = Run(count, len(in_window), t1 - t0, cpu1 - cpu0, pg1 - pg0, statements1 - statements0, gaps, interval,
              by_node, rss, now_load)
    print(f"{mode} {count} node(s): {run.polls} polls in {run.seconds:.0f}s ({run.rate:.1f}/s), "
          f"{run.per_poll(run.statements):.2f} statements/poll, load {now_load}", flush=True)
    db.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-F", type=int, default=3000, help="feeds")
    parser.add_argument("-I", type=int, default=2, help="items per feed")
    parser.add_argument("--nodes", default="1,2,3")
    parser.add_argument("--lease", type=int, default=30)
    parser.add_argument("--sat-interval", type=float, default=5.0, help="saturated: every feed due this often")
    parser.add_argument("--sat-warmup", type=float, default=10.0)
    parser.add_argument("--sat-window", type=float, default=40.0, help="saturated: seconds measured per run")
    parser.add_argument("--interval", type=float, default=60.0, help="unsaturated: the feeds' interval")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--window", type=float, default=80.0, help="unsaturated: seconds measured per run")
    parser.add_argument("--modes", default="sat,unsat")
    parser.add_argument("--code", type=Path, default=HERE.parent, help="the checkout whose `crawler` the nodes run")
    parser.add_argument("--bench-dir", type=Path, default=HERE.parent.parent / "shared" / "bench")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "feed-archiver-cluster-bench")
    args = parser.parse_args()

    work = args.work.resolve()
    code = args.code.resolve()
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
    runs: dict[str, list[Run]] = {"sat": [], "unsat": []}
    try:
        db.sql("ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        db.stop()
        db.launch()
        base = db.create_database()
        shutil.rmtree(work / "archive", ignore_errors=True)
        seed = config_for(work, corpus, db.url(base), "seed", args.interval, args.lease)
        started = time.monotonic()
        seeded = subprocess.run([sys.executable, "-m", "crawler", "crawl", "--config", str(seed)],
                                capture_output=True, text=True, cwd=code)
        failed = [line for line in seeded.stderr.splitlines() if " ERROR " in line]
        print(f"seed crawl ({code}): {time.monotonic() - started:.0f}s, exit {seeded.returncode}, "
              f"{len(failed)} errors {failed[:3]}", flush=True)
        for mode in args.modes.split(","):
            for count in [int(n) for n in args.nodes.split(",")]:
                if mode == "sat":
                    runs[mode].append(measure(db, base, count, mode, args.sat_interval, args.sat_warmup,
                                              args.sat_window, args, work, corpus, code))
                else:
                    runs[mode].append(measure(db, base, count, mode, args.interval, args.warmup, args.window,
                                              args, work, corpus, code))
    finally:
        db.remove()
        web.send_signal(signal.SIGQUIT)
        web.wait(timeout=10)
    print(f"\n{args.F} feeds, lease {args.lease}s, {os.cpu_count()} cores shared by nodes, PostgreSQL, nginx "
          f"(and other work: load average per run below); code: {code}\n")
    unsat = {run.nodes: run for run in runs["unsat"]}
    if runs["sat"]:
        print(f"Saturated: every feed due every {args.sat_interval:g}s, {args.sat_window:g}s measured per run; "
              f"delay after due from the unsaturated run (every {args.interval:g}s, {args.window:g}s measured).\n")
        print("| nodes | polls/s | CPU ms/poll: nodes + PostgreSQL = total | statements/poll | duplicate polls "
              "| peak RSS per node MB | delay after due p50 / p95 s (unsaturated) | busiest node's share "
              "(unsaturated) | load average |")
        print("|---|---|---|---|---|---|---|---|---|")
        for run in runs["sat"]:
            other = unsat.get(run.nodes)
            node, pg = run.per_poll(run.node_cpu) * 1000, run.per_poll(run.pg_cpu) * 1000
            delay = f"{other.delay(0.5):.1f} / {other.delay(0.95):.1f}" if other else "-"
            busiest = f"{other.busiest:.0%}" if other else "-"
            dups = run.duplicates + (other.duplicates if other else 0)
            print(f"| {run.nodes} | {run.rate:.1f} | {node:.2f} + {pg:.2f} = {node + pg:.2f} "
                  f"| {run.per_poll(run.statements):.1f} | {dups} | {' / '.join(f'{r:.0f}' for r in run.rss)} "
                  f"| {delay} | {busiest} | {run.load} |")
        first = runs["sat"][0]
        for run in runs["sat"][1:]:
            cpu = run.per_poll(run.node_cpu + run.pg_cpu) / first.per_poll(first.node_cpu + first.pg_cpu)
            print(f"\n{run.nodes} nodes vs {first.nodes}: CPU per poll x{cpu:.2f}, "
                  f"polls/s x{run.rate / first.rate:.2f}", end="")
        print()
    elif runs["unsat"]:
        print("| nodes | polls/s | node CPU ms/poll | PostgreSQL CPU ms/poll | statements/poll "
              "| delay after due p50 / p95 s | duplicate polls | busiest node's share |")
        print("|---|---|---|---|---|---|---|---|")
        for run in runs["unsat"]:
            print(f"| {run.nodes} | {run.rate:.1f} | {run.per_poll(run.node_cpu) * 1000:.2f} "
                  f"| {run.per_poll(run.pg_cpu) * 1000:.2f} | {run.per_poll(run.statements):.1f} "
                  f"| {run.delay(0.5):.1f} / {run.delay(0.95):.1f} | {run.duplicates} | {run.busiest:.0%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
