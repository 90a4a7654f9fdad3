"""Benchmark the search index (DESIGN.md, "Search") on generated articles, half Chinese, half English.

    python benchmarks/search.py                          # 100,000 articles, SQLite and PostgreSQL
    python benchmarks/search.py -n 20000 --stores sqlite

Articles are made from a fixed seed: English of pseudo-words (a 30,000-word vocabulary, Zipf
frequencies, 300-900 words an article), Chinese of words of one to four characters (a 20,000-word
vocabulary over 3,500 characters, Zipf again, 600-1,800 characters with punctuation). Each store
(an SQLite file; a throwaway PostgreSQL from tests/pg.py) is filled through the code the program
uses (`make_row`, `write_rows`: tokenising included), 1,000 articles a transaction. Then, on a
warm connection, each query kind is asked `--queries` times with words of the middle of the
vocabulary (ranks 50-5,000: what a reader types, not "the") and the query time is timed,
best 20 and their ranks, no snippets (those read the top files from disk: see the README).

Prints one table: build time, index size / text size (SQLite: the database file, which holds only
the index; PostgreSQL: search_docs with its TOAST and indexes), and p50/p95 per query kind.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import itertools
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import sqlalchemy as sa  # noqa: E402

from crawler.search.document import Document  # noqa: E402
from crawler.search.index import make_row, search, write_rows  # noqa: E402
from crawler.search.query import parse  # noqa: E402
from crawler.store.db import Database, open_database  # noqa: E402
from crawler.store.schema import metadata  # noqa: E402

CHUNK = 1000
OPTIMIZE = sa.text("INSERT INTO search_fts (search_fts) VALUES ('optimize')")
PG_SIZES = sa.text(
    "SELECT pg_relation_size('search_docs'), pg_table_size('search_docs') - pg_relation_size('search_docs'), "
    "pg_relation_size('search_docs_terms'), pg_indexes_size('search_docs') - pg_relation_size('search_docs_terms')"
)
SEED = 26


def zipf_cumulative(n: int) -> list[float]:
    return list(itertools.accumulate(1.0 / rank for rank in range(1, n + 1)))


class Corpus:
    """Deterministic articles: article `i` is the same on every run and for every store."""

    def __init__(self) -> None:
        rng = random.Random(SEED)
        syllables = [c + v for c in "bcdfghjklmnprstvwz" for v in ("a", "e", "i", "o", "u", "ai", "ou", "ea")]
        english: set[str] = set()
        while len(english) < 30_000:
            english.add("".join(rng.choice(syllables) for _ in range(rng.choice((1, 2, 2, 3, 3, 4)))))
        self.english = sorted(english, key=lambda w: (len(w), w))
        rng.shuffle(self.english)
        chars = [chr(0x4E00 + i) for i in rng.sample(range(0x5200), 3500)]
        char_weights = zipf_cumulative(len(chars))
        chinese: set[str] = set()
        while len(chinese) < 20_000:
            size = rng.choices((1, 2, 3, 4), (10, 60, 22, 8))[0]
            chinese.add("".join(rng.choices(chars, cum_weights=char_weights, k=size)))
        self.chinese = sorted(chinese)
        rng.shuffle(self.chinese)
        self.en_weights = zipf_cumulative(len(self.english))
        self.zh_weights = zipf_cumulative(len(self.chinese))

    def article(self, i: int) -> tuple[str, str]:
        rng = random.Random(i * 7919 + SEED)
        if i % 2:
            words = rng.choices(self.english, cum_weights=self.en_weights, k=rng.randint(300, 900))
            title = " ".join(rng.choices(self.english, cum_weights=self.en_weights, k=rng.randint(5, 12))).title()
            sentences, at = [], 0
            while at < len(words):
                n = rng.randint(8, 25)
                sentences.append(" ".join(words[at : at + n]).capitalize() + ".")
                at += n
            return title, "\n\n".join(" ".join(sentences[j : j + 4]) for j in range(0, len(sentences), 4))
        target = rng.randint(600, 1800)
        parts: list[str] = []
        size = 0
        while size < target:
            clause = "".join(rng.choices(self.chinese, cum_weights=self.zh_weights, k=rng.randint(4, 10)))
            parts.append(clause + rng.choice("，，，。、；"))
            size += len(clause) + 1
        title = "".join(rng.choices(self.chinese, cum_weights=self.zh_weights, k=rng.randint(6, 12)))
        return title, "".join(parts)

    def documents(self, n: int) -> Iterator[tuple[int, Document]]:
        start = datetime(2020, 1, 1, tzinfo=UTC)
        for i in range(n):
            title, body = self.article(i)
            yield i, Document(f"feed-{i % 50}/{i}.md", title, body, start + timedelta(minutes=7 * i),
                              f"https://news.example/{i}")

    def queries(self, kind: str, count: int, n: int) -> list[str]:
        rng = random.Random(f"{kind}-{SEED}")
        middle = slice(50, 5000)
        if kind == "one word":
            return rng.choices(self.english[middle], k=count)
        if kind == "two words":
            return [" ".join(rng.choices(self.english[middle], k=2)) for _ in range(count)]
        if kind == "CJK word":
            return [w for w in self.chinese[middle] if len(w) >= 2][:count * 3:3]
        if kind == "CJK character":  # a prefix query: every pair the character begins
            return rng.choices(sorted({c for w in self.chinese[middle] for c in w}), k=count)
        out: list[str] = []  # a phrase: two words in a row of some English article
        while len(out) < count:
            _title, body = self.article(rng.randrange(1, n, 2))
            words = body.replace(".", "").split()
            at = rng.randrange(len(words) - 1)
            out.append(f'"{words[at]} {words[at + 1]}"')
        return out


async def build(db: Database, corpus: Corpus, n: int) -> tuple[float, int]:
    """Seconds to tokenise and index `n` articles; their text's size in UTF-8 bytes."""
    text_bytes = 0
    started = time.perf_counter()
    docs = corpus.documents(n)
    while chunk := list(itertools.islice(docs, CHUNK)):
        rows = []
        for i, doc in chunk:
            text_bytes += len(doc.title.encode()) + len(doc.body.encode())
            rows.append(make_row(f"feed-{i % 50}", str(i), doc))
        await db.transaction(functools.partial(write_rows, rows=rows))
    return time.perf_counter() - started, text_bytes


async def timed(db: Database, queries: list[str]) -> tuple[list[float], int]:
    """Each query's time as `search` sees it (the store's thread or connection included)."""
    times, empty = [], 0
    for text in queries:
        query = parse(text)
        started = time.perf_counter()
        hits = await db.transaction(functools.partial(search, query=query, limit=20))
        times.append((time.perf_counter() - started) * 1000)
        empty += not hits
    return times, empty


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


async def run_store(name: str, url: str, size: Callable[[], int], corpus: Corpus, n: int, count: int) -> list[str]:
    db = open_database(url)
    await db.transaction(lambda conn: metadata.create_all(
        conn, tables=[metadata.tables["entries"], metadata.tables["search_docs"]]))
    seconds, text_bytes = await build(db, corpus, n)
    if db.dialect == "sqlite":
        await db.transaction(lambda conn: conn.execute(OPTIMIZE))
    else:
        await db.transaction(lambda conn: conn.execute(sa.text("ANALYZE search_docs")))
    lines = []
    for kind in ("one word", "two words", "phrase", "CJK word", "CJK character"):
        queries = corpus.queries(kind, count, n)
        await timed(db, queries[:10])  # warm the cache
        times, empty = await timed(db, queries)
        lines.append(f"| {name} | {kind} | p50 {statistics.median(times):.1f} ms | p95 {percentile(times, 0.95):.1f} ms"
                     f" (max {max(times):.0f} ms; {len(times)} queries, {empty} with no result) |")
    if db.dialect == "postgresql":
        heap, toast, gin, btree = await db.transaction(lambda conn: tuple(conn.execute(PG_SIZES).one()))
        index_bytes = heap + toast + gin + btree
        lines.append(f"| {name} | sizes | heap {heap / 2**20:.0f} MiB, TOAST {toast / 2**20:.0f} MiB, "
                     f"GIN {gin / 2**20:.0f} MiB, B-trees {btree / 2**20:.0f} MiB | |")
    await db.dispose()
    if db.dialect == "sqlite":
        index_bytes = size()
    return [f"| {name} | build | {seconds:.0f} s ({n / seconds:.0f} articles/s) | index {index_bytes / 2**20:.0f} MiB"
            f" / text {text_bytes / 2**20:.0f} MiB = {index_bytes / text_bytes:.2f} |", *lines]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=100_000, help="articles (default 100,000)")
    parser.add_argument("--queries", type=int, default=200, help="queries of each kind (default 200)")
    parser.add_argument("--stores", default="sqlite,postgresql")
    args = parser.parse_args()
    corpus = Corpus()
    print("| store | step | | |\n|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory(prefix="search-bench-") as tmp:
        if "sqlite" in args.stores:
            path = Path(tmp) / "index.sqlite"

            def file_size() -> int:
                with sqlite3.connect(path) as conn:
                    conn.execute("DROP TABLE entries")  # empty; the file then holds the index alone
                    conn.commit()
                    conn.execute("VACUUM")
                return path.stat().st_size

            print("\n".join(asyncio.run(run_store("SQLite", f"sqlite:///{path}", file_size, corpus, args.n,
                                                  args.queries))), flush=True)
        if "postgresql" in args.stores:
            from tests.pg import start_server

            server = start_server()
            try:
                url = server.url(server.create_database())
                print("\n".join(asyncio.run(run_store("PostgreSQL", url, lambda: 0, corpus, args.n, args.queries))),
                      flush=True)
            finally:
                server.remove()


if __name__ == "__main__":
    main()
