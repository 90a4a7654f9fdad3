"""Benchmark feed-archiver on a generated corpus served by nginx on 127.0.0.1.

    python benchmarks/bench.py                      # 50 feeds x 20 items, 3 runs each
    python benchmarks/bench.py --baseline --venv /tmp/fa-bench-venv   # paired with baseline b, clean venv
    python benchmarks/bench.py -F 1000 -I 2         # scale: a re-poll of 1,000 unchanged feeds
    python benchmarks/bench.py --capture            # also with `capture: {warc: true}`, in alternation

It builds the corpus with the shared generator (`--bench-dir`, default
`../shared/bench`: make_corpus.py and serve.sh), serves it with nginx, then
times feed-archiver's cold crawl (empty archive) and re-poll (nothing changed),
and optionally the threaded requests+trafilatura baseline (b) from the same
folder, in alternation. It prints one table: wall, CPU (the whole process tree,
worker processes included), peak RSS of the largest single process, articles/s,
and the run-by-run ratios to b. `--venv` runs both in a virtualenv holding only
feed-archiver and the bench's requirements, as a user's install would: packages
that happen to be installed elsewhere (click, trio) cost every process start.
Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import os
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


def timed(command: list[str], cwd: Path, *, check: bool = True, env: dict[str, str] | None = None) -> Sample:
    """Wall time, CPU of every process in the tree, and the largest peak RSS of any one of them.

    CPU is each process's own user+system time, sampled from /proc at 20 Hz until it exits (a
    process's last 50 ms can be missed): worker processes forked by a forkserver are not the
    crawl's children, so rusage would not see them.
    """
    started = time.perf_counter()
    # PYTHONPATH makes `-m crawler` this checkout's code, installed or not.
    extra = env or {}
    paths = [extra.get("PYTHONPATH"), str(HERE.parent), os.environ.get("PYTHONPATH")]
    env = {**os.environ, **extra, "PYTHONPATH": os.pathsep.join(filter(None, paths))}
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
    if check and proc.returncode != 0:
        # A benchmark of a failing run measures nothing: say so instead of printing a fast row.
        tail = log.read_bytes().decode(errors="replace")[-2000:]
        raise SystemExit(f"{' '.join(command)} exited with {proc.returncode}:\n{tail}")
    peak = max([rss for _, rss in seen.values()], default=0.0)
    return Sample(wall, sum(cpu for cpu, _ in seen.values()), peak)


def count_articles(root: Path) -> tuple[int, int]:
    articles = sum(1 for p in root.rglob("*.md") if p.name != "README.md")
    images = len(list((root / "images").glob("*"))) if (root / "images").exists() else 0
    return articles, images


def interpreter(venv: Path | None, bench: Path) -> str:
    """The Python to run everything with: this one, or a virtualenv holding only feed-archiver
    and the bench's requirements (what a user's install has; created on first use)."""
    if venv is None:
        return sys.executable
    python = venv / "bin" / "python"
    if not python.exists():
        print(f"creating {venv} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "-e", str(HERE.parent),
                        "-r", str(bench / "requirements.txt")], check=True)
    return str(python)


def ratios(rows: dict[str, list[Sample]], ours: str, theirs: str) -> str:
    """Median and range of the run-by-run wall-time ratios of two paired cases."""
    pairs = [a.wall / b.wall for a, b in zip(rows[ours], rows[theirs], strict=True)]
    return f"{statistics.median(pairs):.3f} ({min(pairs):.3f}-{max(pairs):.3f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-F", type=int, default=50, help="feeds")
    parser.add_argument("-I", type=int, default=20, help="items per feed")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", action="store_true", help="also time baseline b (threads + requests)")
    parser.add_argument("--peers", action="store_true",
                        help="also time trafilatura's own --feed CLI (c) and the extraction ceiling (d)")
    parser.add_argument("--ceiling", action="store_true",
                        help="also time the extraction ceiling (d) once, after the runs, without c")
    parser.add_argument("--capture", action="store_true",
                        help="also time feed-archiver with capture.warc on, run by run beside it without")
    parser.add_argument("--venv", type=Path, help="run in this virtualenv (created with only what is needed)")
    parser.add_argument("--bench-dir", type=Path, default=HERE.parent.parent / "shared" / "bench")
    parser.add_argument("--ports", default=",".join(PORTS),
                        help="the corpus's ports on 127.0.0.1 (another bench may hold the default ones)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "feed-archiver-bench")
    args = parser.parse_args()

    bench = args.bench_dir.resolve()
    work = args.work.resolve()
    ports = args.ports.split(",")
    corpus = work / (f"corpus-f{args.F}-i{args.I}" + ("" if ports == PORTS else f"-p{ports[0]}"))
    work.mkdir(parents=True, exist_ok=True)
    python = interpreter(args.venv.resolve() if args.venv else None, bench)
    if not (corpus / "feeds.yaml").exists():
        print(f"building corpus {corpus} ...", flush=True)
        subprocess.run([python, str(bench / "make_corpus.py"), "-F", str(args.F), "-I", str(args.I),
                        "-o", str(corpus), "--ports", ",".join(ports)], check=True)
    subprocess.run(["bash", str(bench / "serve.sh"), "start", str(corpus / "site"), *ports], check=True,
                   env={**os.environ, "RUN_DIR": str(work / "nginx")})
    try:
        config = work / "feeds.yaml"
        feeds = (corpus / "feeds.yaml").read_text(encoding="utf-8").splitlines()[1:]
        config.write_text("archive_dir: archive\nfeeds:\n" + "\n".join("  " + line for line in feeds) + "\n",
                          encoding="utf-8")
        ours = [python, "-m", "crawler", "crawl", "--config", str(config)]
        captured = work / "feeds-capture.yaml"  # the same feeds into archive-capture/, with WARC files
        captured.write_text(config.read_text(encoding="utf-8").replace("archive_dir: archive\n",
                                                                       "archive_dir: archive-capture\n"
                                                                       "capture: {warc: true}\n", 1),
                            encoding="utf-8")
        ours_captured = [python, "-m", "crawler", "crawl", "--config", str(captured)]
        base = [python, str(bench / "baseline_naive_full.py"), str(corpus / "feeds.txt"), "-o", str(work / "out-b")]
        # The shared bench's re-poll floor (imports of the planned stack + 50 conditional GETs, no
        # state store, no archive) says how fast this machine is today: 0.37 s where the targets were set.
        floor_state = work / "floor-state.json"
        floor = [python, str(bench / "repoll_floor.py"), str(corpus / "feeds.txt"), "--state", str(floor_state)]
        subprocess.run([*floor, "--init"], check=True, stdout=subprocess.DEVNULL)
        traf = [str(Path(python).parent / "trafilatura"), "--feed", "-i", str(corpus / "feeds-named.txt"),
                "-o", str(work / "out-c"), "--markdown", "--with-metadata", "--images", "--parallel", "10",
                "--config-file", str(bench / "trafilatura_bench.cfg")]
        ceiling = [python, str(bench / "extract_bound.py"), str(corpus), "--mode", "pool", "--subset", "fetch"]
        rows: dict[str, list[Sample]] = {}
        outputs: dict[str, tuple[int, int]] = {}
        for _ in range(args.runs):
            rows.setdefault("floor (imports + conditional GETs) re-poll", []).append(timed(floor, work))
            shutil.rmtree(work / "archive", ignore_errors=True)
            rows.setdefault("feed-archiver cold", []).append(timed(ours, work))
            outputs["feed-archiver cold"] = count_articles(work / "archive")
            rows.setdefault("feed-archiver re-poll", []).append(timed(ours, work))
            if args.capture:
                shutil.rmtree(work / "archive-capture", ignore_errors=True)
                rows.setdefault("feed-archiver+warc cold", []).append(timed(ours_captured, work))
                outputs["feed-archiver+warc cold"] = count_articles(work / "archive-capture")
                rows.setdefault("feed-archiver+warc re-poll", []).append(timed(ours_captured, work))
            if args.baseline:
                shutil.rmtree(work / "out-b", ignore_errors=True)
                rows.setdefault("b threads+requests cold", []).append(timed(base, work))
                outputs["b threads+requests cold"] = count_articles(work / "out-b")
                rows.setdefault("b threads+requests re-poll", []).append(timed(base, work))
            if args.peers:
                # As the shared bench runs it: names resolved to 127.0.0.1 by its shim (courlan drops IP
                # hosts), exit status 1 expected (it also requests each channel link: 50 x 404).
                shutil.rmtree(work / "out-c", ignore_errors=True)
                shim = {"PYTHONPATH": str(bench / "resolver_shim"), "FEEDBENCH_RESOLVE_SUFFIX": "feedbench.test"}
                rows.setdefault("c trafilatura --feed cold", []).append(timed(traf, work, check=False, env=shim))
                written = sum(1 for f in (work / "out-c").rglob("*") if f.is_file())
                outputs["c trafilatura --feed cold"] = (written, 0)  # it keeps image URLs, downloads none
                rows.setdefault("c trafilatura --feed re-poll", []).append(timed(traf, work, check=False, env=shim))
        if args.peers or args.ceiling:
            rows["d extraction ceiling (pages to extract, 2 processes) -"] = [timed(ceiling, work)]
        total = args.F * args.I
        print(f"\ncorpus: {args.F} feeds x {args.I} items ({total} articles); medians of {args.runs} runs; {python}\n")
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
        if args.baseline:
            cold = ratios(rows, "feed-archiver cold", "b threads+requests cold")
            repoll = ratios(rows, "feed-archiver re-poll", "b threads+requests re-poll")
            print(f"\nfeed-archiver / b, wall time, run by run: cold {cold}, re-poll {repoll}")
        if args.capture:
            cold = ratios(rows, "feed-archiver+warc cold", "feed-archiver cold")
            repoll = ratios(rows, "feed-archiver+warc re-poll", "feed-archiver re-poll")
            files = sorted((work / "archive-capture" / "warc").rglob("*.warc.gz"))
            check = subprocess.run([str(Path(python).parent / "warcio"), "check", *map(str, files)],
                                   capture_output=True, text=True, check=False)
            size = sum(f.stat().st_size for f in files) / 1e6
            print(f"\nwith capture / without, wall time, run by run: cold {cold}, re-poll {repoll}; "
                  f"last run's WARC files: {len(files)}, {size:.1f} MB, warcio check "
                  f"{'passed' if check.returncode == 0 else 'FAILED: ' + check.stdout[-500:]}")
        if args.peers or args.ceiling:
            [bound] = rows["d extraction ceiling (pages to extract, 2 processes) -"]
            ours_cold = statistics.median(s.wall for s in rows["feed-archiver cold"])
            print(f"feed-archiver cold (median) / extraction ceiling: {ours_cold / bound.wall:.2f}")
    finally:
        subprocess.run(["bash", str(bench / "serve.sh"), "stop"], env={**os.environ, "RUN_DIR": str(work / "nginx")},
                       check=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
