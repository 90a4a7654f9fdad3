#!/usr/bin/env python3
"""Which HTML-to-Markdown converter keeps an article whole? Measured on 300 real pages.

Each page of ../shared/extraction-eval/pages goes through our own extraction and sanitizer
(`crawler.reader.article.prepare` + `finish`, as the crawl does), then through each converter. The
Markdown is rendered back to HTML by markdown-it-py (CommonMark + GFM tables) and compared with
the sanitized HTML:

- words: the text tokens (`\\w+`, a multiset; inline tags do not split a word) of the rendered
  Markdown against those of the HTML; the share of pages at 100 % and the worst page;
- links, images: `<a href>` and `<img src>` kept (summed over all pages);
- nested lists: `<li>` holding a list; tables: `<table>`, and their cells;
- ms per page (median of the conversion alone, CPU time).

    python3 benchmarks/markdown.py [--pages DIR] [--limit N] [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import lxml.html

HERE = Path(__file__).resolve().parent
DEFAULT_PAGES = Path("/work/shared/extraction-eval")
_TOKEN = re.compile(r"\w+")


def sanitized_pages(root: Path, limit: int | None) -> list[tuple[str, str]]:
    """(file name, the article HTML as the crawl archives it) for every page with an article."""
    from crawler.reader import article

    expected = json.loads((root / "expected.json").read_text(encoding="utf-8"))
    out = []
    for url, info in sorted(expected.items(), key=lambda kv: kv[1]["file"])[:limit]:
        page = (root / "pages" / info["file"]).read_bytes()
        prepared = article.prepare("", url, page, url)
        html, _ = article.finish(prepared.html, {}, frozenset({"www.youtube.com", "player.vimeo.com"}))
        if html.strip():
            out.append((info["file"], html))
    return out


def _root(html: str) -> lxml.html.HtmlElement:
    return lxml.html.fragment_fromstring(html or "<p></p>", create_parent="div")


_INLINE = re.compile(r"</?(?:a|abbr|b|bdi|bdo|cite|code|del|dfn|em|i|ins|kbd|mark|q|s|samp|small|span|strike|strong|"
                     r"sub|sup|time|u|var)\b[^>]*>", re.IGNORECASE)


def profile(html: str) -> dict[str, object]:
    root = _root(html)
    # Inline tags join what they touch (`R<sub>0</sub>` is the word R0 in Markdown); others separate.
    text = " ".join(_root(_INLINE.sub("", html)).itertext())
    return {
        "tokens": Counter(_TOKEN.findall(text)),
        "links": len([a for a in root.iter("a") if a.get("href")]),
        "images": len([i for i in root.iter("img") if i.get("src")]),
        "nested": len([li for li in root.iter("li") if li.find(".//ul") is not None or li.find(".//ol") is not None]),
        "tables": len(list(root.iter("table"))),
        "cells": len(list(root.iter("td", "th"))),
    }


def converters() -> dict[str, Callable[[str], str]]:
    import html_to_markdown
    import markdownify
    import trafilatura

    from crawler.archive.markdown import to_markdown

    options = html_to_markdown.ConversionOptions(
        heading_style="atx", bullets="-", escape_asterisks=True, escape_underscores=True, escape_misc=True,
        extract_metadata=False)

    def htm(html: str) -> str:
        return str(html_to_markdown.convert(html, options).content)

    def mdify(html: str) -> str:
        return str(markdownify.markdownify(html, heading_style="ATX", bullets="-"))

    def traf(html: str) -> str:
        return trafilatura.extract(f"<html><body>{html}</body></html>", output_format="markdown",
                                   include_images=True, include_links=True, include_tables=True,
                                   include_formatting=True, favor_recall=True) or ""

    return {"markdownify": mdify, "html-to-markdown": htm, "trafilatura": traf,
            "ours (html-to-markdown + rules)": lambda html: to_markdown(html, "jekyll")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=Path, default=DEFAULT_PAGES)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent))
    from markdown_it import MarkdownIt

    renderer = MarkdownIt("commonmark").enable("table").enable("strikethrough")
    pages = sanitized_pages(args.pages, args.limit)
    wanted = [profile(html) for _, html in pages]
    results = {}
    for name, convert in converters().items():
        ms: list[float] = []
        full, worst, worst_page = 0, 1.0, ""
        kept = Counter[str]()
        total = Counter[str]()
        failures = 0
        for (file, html), want in zip(pages, wanted, strict=True):
            started = time.process_time()
            try:
                md = convert(html)
            except Exception:  # a converter that raises keeps nothing of the page
                md, failures = "", failures + 1
            ms.append((time.process_time() - started) * 1000)
            got = profile(renderer.render(md))
            want_tokens, got_tokens = want["tokens"], got["tokens"]
            assert isinstance(want_tokens, Counter) and isinstance(got_tokens, Counter)
            share = sum((want_tokens & got_tokens).values()) / max(1, sum(want_tokens.values()))
            full += share >= 1.0
            if share < worst:
                worst, worst_page = share, file
            for key in ("links", "images", "nested", "tables", "cells"):
                w, g = want[key], got[key]
                assert isinstance(w, int) and isinstance(g, int)
                total[key] += w
                kept[key] += min(w, g)
        results[name] = {
            "pages": len(pages), "words_100": full / len(pages), "worst": worst, "worst_page": worst_page,
            **{key: f"{kept[key]}/{total[key]}" for key in ("links", "images", "nested", "tables", "cells")},
            "ms_median": statistics.median(ms), "ms_mean": statistics.fmean(ms), "failures": failures,
        }
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print("| converter | pages with 100 % of words | worst page | links | images | nested lists | tables | "
          "table cells | ms per page (median / mean) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name} | {r['words_100']:.1%} | {r['worst']:.1%} ({r['worst_page']}) | {r['links']} | "
              f"{r['images']} | {r['nested']} | {r['tables']} | {r['cells']} | "
              f"{r['ms_median']:.2f} / {r['ms_mean']:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
