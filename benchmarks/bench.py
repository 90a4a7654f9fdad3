"""Benchmark feed-archiver on a generated corpus served by nginx on 127.0.0.1.

    python benchmarks/bench.py                      # 50 feeds x 20 items, 3 runs each
    python benchmarks/bench.py -F 20 -I 10 --runs 5 --baseline

It builds the corpus with the shared generator (`--bench-dir`, default
`../shared/bench`: make_corpus.py and serve.sh), serves it with nginx, then
times feed-archiver's cold crawl (empty archive) and re-poll (nothing changed),
and optionally the threaded requests+trafilatura baseline (b) from the same
folder, in alternation. It prints one table: wall, CPU (the whole process tree,
worker processes included), peak RSS of the largest single process, articles/s.
Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PORTS = ["8081", "8082", "8083", "8084", "8085"]
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Sample:
    wall: float
    cpu: float
    peak_rss_mb: float


def _tree(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
    found = {root}
    while True:
        more = {c for c, p in parents.items() if p in found} - found
        if not more:
            return found
        found |= more


def _cpu_and_rss(pid: int) -> tuple[float, float]:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0, 0.0
    cpu = (int(stat[11]) + int(stat[12])) / TICK
    hwm = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)
    return cpu, hwm / 1024


def timed(command: list[str], cwd: Path) -> Sample:
    """Wall time, CPU of every process in the tree (sampled at 20 Hz), and the largest peak RSS."""
    started = time.perf_counter()
    # PYTHONPATH makes `-m crawler` this checkout's code, installed or not.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parent), os.environ.get("PYTHONPATH")]))}
    log = cwd / "last-run.log"  # a file, not a pipe: a chatty run must not block on a full pipe
    with log.open("wb") as err:
        proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err, env=env)
    seen: dict[int, tuple[float, float]] = {}
    while proc.poll() is None:
        for pid in _tree(proc.pid):
            cpu, rss = _cpu_and_rss(pid)
            if cpu or rss:
                old = seen.get(pid, (0.0, 0.0))
                seen[pid] = (max(old[0], cpu), max(old[1], rss))
        time.sleep(0.05)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        # A benchmark of a failing run measures nothing: say so instead of printing a fast row.
        tail = log.read_bytes().decode(errors="replace")[-2000:]
        raise SystemExit(f"{' '.join(command)} exited with {proc.returncode}:\n{tail}")
    main_cpu = _children_cpu()  # the main process, reaped by poll()
    cpu_workers = sum(c for pid, (c, _) in seen.items() if pid != proc.pid)
    peak = max([rss for _, rss in seen.values()], default=0.0)
    return Sample(wall, main_cpu + cpu_workers, peak)


_last_children = [0.0]


def _children_cpu() -> float:
    """CPU seconds of the children reaped since the last call."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime
    delta, _last_children[0] = total - _last_children[0], total
    return delta


def count_articles(root: Path) -> tuple[int, int]:
    articles = sum(1 for p in root.rglob("*.md") if p.name != "README.md")
    images = len(list((root / "images").glob("*"))) if (root / "images").exists() else 0
    return articles, images


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-F", type=int, default=50, help="feeds")
    parser.add_argument("-I", type=int, default=20, help="items per feed")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", action="store_true", help="also time baseline b (threads + requests)")
    parser.add_argument("--bench-dir", type=Path, default=HERE.parent.parent / "shared" / "bench")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "feed-archiver-bench")
    args = parser.parse_args()

    bench = args.bench_dir.resolve()
    work = args.work.resolve()
    corpus = work / f"corpus-f{args.F}-i{args.I}"
    work.mkdir(parents=True, exist_ok=True)
    if not (corpus / "feeds.yaml").exists():
        print(f"building corpus {corpus} ...", flush=True)
        subprocess.run([sys.executable, str(bench / "make_corpus.py"), "-F", str(args.F), "-I", str(args.I),
                        "-o", str(corpus)], check=True)
    subprocess.run(["bash", str(bench / "serve.sh"), "start", str(corpus / "site"), *PORTS], check=True,
                   env={**os.environ, "RUN_DIR": str(work / "nginx")})
    try:
        config = work / "feeds.yaml"
        feeds = (corpus / "feeds.yaml").read_text(encoding="utf-8").splitlines()[1:]
        config.write_text("archive_dir: archive\nfeeds:\n" + "\n".join("  " + line for line in feeds) + "\n",
                          encoding="utf-8")
        ours = [sys.executable, "-m", "crawler", "crawl", "--config", str(config)]
        rows: dict[str, list[Sample]] = {}
        outputs: dict[str, tuple[int, int]] = {}
        _children_cpu()
        for _ in range(args.runs):
            shutil.rmtree(work / "archive", ignore_errors=True)
            rows.setdefault("feed-archiver cold", []).append(timed(ours, work))
            outputs["feed-archiver cold"] = count_articles(work / "archive")
            rows.setdefault("feed-archiver re-poll", []).append(timed(ours, work))
            if args.baseline:
                out = work / "out-b"
                shutil.rmtree(out, ignore_errors=True)
                base = [sys.executable, str(bench / "baseline_naive_full.py"), str(corpus / "feeds.txt"),
                        "-o", str(out)]
                rows.setdefault("b threads+requests cold", []).append(timed(base, work))
                outputs["b threads+requests cold"] = count_articles(out)
                rows.setdefault("b threads+requests re-poll", []).append(timed(base, work))
        total = args.F * args.I
        print(f"\ncorpus: {args.F} feeds x {args.I} items ({total} articles); medians of {args.runs} runs\n")
        print("| tool | run | wall s (min-max) | CPU s | peak RSS MB | articles/s | archived | images |")
        print("|---|---|---|---|---|---|---|---|")
        for name, samples in rows.items():
            walls = [s.wall for s in samples]
            wall = statistics.median(walls)
            archived, images = outputs.get(name, ("", ""))
            tool, run = name.rsplit(" ", 1)
            cpu = statistics.median(s.cpu for s in samples)
            peak = max(s.peak_rss_mb for s in samples)
            print(f"| {tool} | {run} | {wall:.2f} ({min(walls):.2f}-{max(walls):.2f}) | {cpu:.2f} | {peak:.0f}"
                  f" | {total / wall:.0f} | {archived} | {images} |")
    finally:
        subprocess.run(["bash", str(bench / "serve.sh"), "stop"], env={**os.environ, "RUN_DIR": str(work / "nginx")},
                       check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
