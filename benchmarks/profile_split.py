"""Sort py-spy samples of a cold crawl by process and by phase.

    py-spy record --gil --subprocesses -r 100 -f raw -o cold.txt -- python -m crawler crawl --config feeds.yaml
    python benchmarks/profile_split.py cold.txt

`--gil` keeps only the samples of the thread holding each process's GIL (Python CPU, with
waiting threads left out). Each sample goes to the innermost frame that matches a rule below,
so a helper's own time is not charged to its caller; its process's role is told by the frames
it was started from (forkserver children: `_process_worker` = extraction, `_worker_main` =
images). Prints each role's share of all samples and its phases over 1.5 %.
"""

from __future__ import annotations

import collections
import sys

RULES = [  # (phase, substring of one frame "function (file:line)"), tried innermost frame first
    ("trafilatura fallback (readability, justext)", "readability_lxml"),
    ("trafilatura fallback (readability, justext)", "trafilatura/external.py"),
    ("trafilatura fallback (readability, justext)", "justext/"),
    ("trafilatura: text fingerprint (Simhash)", "trafilatura/deduplication.py"),
    ("trafilatura: page decoding and parsing", "load_html"),
    ("trafilatura main extractor", "trafilatura/"),
    ("trafilatura main extractor", "courlan/"),
    ("trafilatura main extractor", "htmldate/"),
    ("find_images (parse, URLs, serialise)", "crawler/imagerefs.py"),
    ("URL parsing (urls.absolute)", "crawler/urls.py"),
    ("sanitize (nh3)", "crawler/sanitize.py"),
    ("text length (wants_full_text, better_of)", "crawler/text.py"),
    ("text length (wants_full_text, better_of)", "crawler/content.py"),
    ("feed parsing (feedparser)", "feedparser/"),
    ("feed parsing (feedparser)", "crawler/parse.py"),
    ("Markdown render and write", "crawler/archive.py"),
    ("Markdown render and write", "crawler/frontmatter.py"),
    ("Markdown render and write", "aiofiles"),
    ("image checks and file", "crawler/images.py"),
    ("image checks and file", "crawler/storage.py"),
    ("state store (SQLAlchemy, sqlite3)", "sqlalchemy/"),
    ("state store (SQLAlchemy, sqlite3)", "crawler/store/"),
    ("state store (SQLAlchemy, sqlite3)", "crawler/batching.py"),
    ("image hand-off (JSON lines over pipes)", "crawler/image_worker.py"),
    ("image decisions (image_store, slots)", "crawler/image_store.py"),
    ("image decisions (image_store, slots)", "crawler/slots.py"),
    ("HTTP client (httpx, httpcore, h11, anyio)", "httpcore/"),
    ("HTTP client (httpx, httpcore, h11, anyio)", "httpx/"),
    ("HTTP client (httpx, httpcore, h11, anyio)", "h11/"),
    ("HTTP client (httpx, httpcore, h11, anyio)", "anyio/"),
    ("HTTP client (httpx, httpcore, h11, anyio)", "crawler/fetch.py"),
    ("HTTP client (httpx, httpcore, h11, anyio)", "crawler/guard.py"),
    ("thread and process hand-offs (futures, pipes)", "concurrent/futures"),
    ("thread and process hand-offs (futures, pipes)", "multiprocessing/"),
    ("thread and process hand-offs (futures, pipes)", "crawler/workers.py"),
    ("pipeline and article glue", "crawler/"),
    ("imports", "<frozen importlib"),
    ("event loop (asyncio)", "asyncio/"),
]


def phase_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        for phase, needle in RULES:
            if needle in frame:
                return phase
    return "other"


def role_of(processes: list[str], stack: str) -> str:
    if len(processes) == 1:
        return "crawl"
    if len(processes) == 2 and "forkserver" in processes[-1]:
        return "forkserver"
    if "_worker_main" in stack:
        return "image workers"
    if "_process_worker" in stack:
        return "extraction workers"
    return "workers' other threads"


def main(path: str) -> None:
    roles: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    with open(path, encoding="utf-8") as samples:
        lines = samples.read().splitlines()
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        processes = [f for f in frames if f.startswith("process ")]
        roles[role_of(processes, stack)][phase_of([f for f in frames if not f.startswith("process ")])] += int(count)
    grand = sum(sum(c.values()) for c in roles.values())
    for role, phases in sorted(roles.items(), key=lambda kv: -sum(kv[1].values())):
        total = sum(phases.values())
        print(f"\n{role}: {100 * total / grand:.0f}% of all samples")
        for phase, n in phases.most_common():
            if n / total >= 0.015:
                print(f"   {phase:48s} {100 * n / total:5.1f}%")


if __name__ == "__main__":
    main(sys.argv[1])
