"""The quality guard's adapter (`crawler.reader.quality`): the text it scores is the archived body's, as read."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from crawler.reader.quality import archived_text, readable_text

# `../shared/extraction-eval` beside the checkout (or beside the folder of its worktrees).
EVAL = next((d / "shared" / "extraction-eval" for d in Path(__file__).resolve().parents[3:6]
             if (d / "shared" / "extraction-eval" / "score.py").exists()), Path("/nonexistent"))

PARAGRAPHS = [
    "The harbour authority approved the new breakwater on Tuesday after a decade of delays.",
    "Engineers expect the work to take three winters, because storms stop it in the autumn.",
    "Fishermen said the old wall had failed twice since 2019 and cost them most of a season.",
    "The council will publish the tender documents next month, with a budget of 40 million.",
]
PAGE = f"""<!doctype html><html><head><title>Breakwater approved</title>
<script>window.__STATE__ = {{"secret": "never in the text"}}</script></head><body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/sport">Sport</a></li></ul></nav>
<article><h1>Breakwater approved</h1>
{''.join(f'<p>{p} {p}</p>' for p in PARAGRAPHS)}
<figure><img src="/img/wall.jpg" alt="the wall"><figcaption>The old wall in March.</figcaption></figure>
<p>Contact: <a href="javascript:alert(1)">the desk</a>. Prices in {{{{ braces }}}} stay as written.</p>
</article><footer>Copyright 2024 Harbour News. All rights reserved.</footer></body></html>"""


def test_blocks_stay_apart_and_inline_runs_stay_together() -> None:
    text = readable_text("<p>end.</p><p>Next <b>bold</b>word</p><ul><li>one</li><li>two</li></ul>")
    assert text.split() == ["end.", "Next", "boldword", "one", "two"]


def test_the_archived_text_keeps_the_article_and_drops_scripts_and_navigation() -> None:
    text = archived_text(PAGE, "https://harbour.example/2024/breakwater.html")
    assert text is not None
    flat = " ".join(text.split())
    for paragraph in PARAGRAPHS:
        assert paragraph in flat
    assert "{{ braces }}" in flat  # escaped for Hexo as entities, which read as the braces
    assert "never in the text" not in flat and "Sport" not in flat


def test_a_page_with_no_article_gives_no_text() -> None:
    assert archived_text("<html><body></body></html>", "https://e.example/") is None


@pytest.mark.skipif(not (EVAL / "score.py").exists(), reason="the shared extraction evaluation is not on this machine")
def test_the_archive_keeps_at_least_the_words_plain_trafilatura_finds_on_real_pages() -> None:
    """On the first 40 of the 300 real pages: our recall, F1 and share of pages with recall >= 0.8
    are not below trafilatura's defaults (our images cost some precision, which the teasers we drop
    make up for)."""

    def score(*args: str) -> dict[str, float]:
        done = subprocess.run([sys.executable, str(EVAL / "score.py"), "--limit", "40", "--json", *args],
                              capture_output=True, text=True, check=True)
        figures: dict[str, float] = json.loads(done.stdout)
        return figures

    ours = score("--extractor", "crawler.reader.quality:archived_text")
    plain = score()
    assert ours["recall"] >= plain["recall"]
    assert ours["f1"] >= plain["f1"]
    assert ours["pages_recall_ge_0.8"] >= plain["pages_recall_ge_0.8"]
