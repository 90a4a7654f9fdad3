"""Pairs (what the index does) against jieba's segmentation, on the Chinese news text we have.

    pip install jieba trafilatura && python benchmarks/search_cjk.py

Corpus: the Chinese pages of shared/extraction-eval (their text by trafilatura) and the seed
article. Queries: every word of jieba's own dictionary (two to four Han characters) that occurs
in the corpus. Recall: of the (word, document) pairs where the document holds the word, the
share each tokenisation finds (pairs: the word's pairs, in a row; jieba: the document's
search-mode words hold the query's). Index size: an FTS5 table of the tokens, the corpus
twenty times over, after VACUUM, over the text's UTF-8 size.
"""

from __future__ import annotations

import os
import re
import sqlite3
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import jieba  # type: ignore[import-untyped]  # noqa: E402
import trafilatura  # noqa: E402

from crawler.search.query import term_of  # noqa: E402
from crawler.search.tokens import tokens  # noqa: E402

SHARED = HERE.parent.parent.parent / "shared"  # /work/shared from a worktree; --shared to say otherwise


def corpus(shared: Path) -> list[str]:
    texts = []
    for page in sorted((shared / "extraction-eval" / "pages").glob("*.html")):
        text = trafilatura.extract(page.read_bytes()) or ""
        han = len(re.findall(r"[\u4e00-\u9fff]", text))
        if han > 100 and han > 0.3 * len(re.findall(r"\w", text)):
            texts.append(text)
    for seed in sorted((shared / "seed").glob("*.md")):
        texts.append(re.sub(r"<[^>]+>", "", seed.read_text(encoding="utf-8").strip().split("\n---\n", 1)[1]))
    return texts


def fts_ratio(texts: list[str], tokenise: Callable[[str], list[str]]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.sqlite")
        conn = sqlite3.connect(path)
        conn.execute("CREATE VIRTUAL TABLE f USING fts5(body, content='', tokenize='ascii')")
        for text in texts * 20:
            conn.execute("INSERT INTO f (body) VALUES (?)", (" ".join(tokenise(text)),))
        conn.commit()
        conn.execute("VACUUM")
        conn.close()
        return os.path.getsize(path) / (sum(len(t.encode()) for t in texts) * 20)


def main() -> None:
    shared = Path(sys.argv[sys.argv.index("--shared") + 1]) if "--shared" in sys.argv else SHARED
    jieba.setLogLevel(60)
    jieba.initialize()
    texts = corpus(shared)
    words = {w for w, f in jieba.dt.FREQ.items() if f > 0 and re.fullmatch(r"[\u4e00-\u9fff]{2,4}", w)}
    queries = sorted({t[i : i + n] for t in texts for n in (2, 3, 4) for i in range(len(t) - n + 1)} & words)
    pairs_of = [set(tokens(t)) for t in texts]
    jieba_of = [set(jieba.cut_for_search(t)) for t in texts]
    total = by_pairs = by_jieba = 0
    missed = []
    for word in queries:
        holding = [i for i, t in enumerate(texts) if word in t]
        total += len(holding)
        term = term_of(word)
        assert term is not None
        by_pairs += sum(all(x in pairs_of[i] for x in term.tokens) for i in holding)
        asked = list(jieba.cut_for_search(word))
        found = sum(all(x in jieba_of[i] for x in asked) for i in holding)
        by_jieba += found
        if found < len(holding):
            missed.append(word)
    print(f"{len(texts)} documents, {sum(map(len, texts))} characters; {len(queries)} dictionary words; "
          f"{total} (word, document) pairs")
    print(f"recall: pairs {by_pairs / total:.3f}, jieba {by_jieba / total:.3f} (jieba misses e.g. {missed[:10]})")
    print(f"FTS5 index / text: pairs {fts_ratio(texts, tokens):.2f}, jieba search mode "
          f"{fts_ratio(texts, lambda t: [w for w in jieba.cut_for_search(t) if w.strip()]):.2f}, jieba precise "
          f"{fts_ratio(texts, lambda t: [w for w in jieba.cut(t) if w.strip()]):.2f}")


if __name__ == "__main__":
    main()
