"""Search's tokens and queries (crawler/search): an article and a query tokenised alike, so that any
word of the article, typed as a reader types it, is a phrase of its tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crawler.search.document import html_text
from crawler.search.query import MAX_TERMS, QueryError, Term, parse, term_of
from crawler.search.snippet import make_snippet
from crawler.search.tokens import tokens


def test_cjk_runs_are_pairs_and_their_last_character_words_elsewhere_folded() -> None:
    assert tokens("乌克兰战争, Café ÉCOLE Straße 2022年") == [
        "乌克", "克兰", "兰战", "战争", "争", "cafe", "ecole", "strasse", "2022", "年"]
    assert tokens("ＡＢＣ１２３ ｶﾀｶﾅ") == ["abc123", "カタ", "タカ", "カナ", "ナ"]  # NFKC: full and half width
    assert tokens("서울에서") == ["서울", "울에", "에서", "서"]
    assert tokens("x" * 101 + " ok") == ["ok"]


def test_a_query_word_is_the_phrase_an_article_has_and_one_character_a_prefix() -> None:
    assert term_of("乌克兰") == Term(("乌克", "克兰"))
    assert term_of("战") == Term(("战",), prefix=True)
    assert term_of("2022年") == Term(("2022", "年"), prefix=True)
    assert term_of("手机iPhone") == Term(("手机", "机", "iphone"))
    assert term_of("NEAR(") == Term(("near",))
    assert term_of("*^:-") is None


def test_queries_are_spelt_with_no_operator_of_the_user_reaching_a_store() -> None:
    query = parse('NEAR( "quick brown" 战 -fox -"a b')
    assert query.fts5() == '("near" AND "quick brown" AND "战"*) NOT "fox" NOT "a b"'
    assert query.tsquery() == "('near') & ('quick' <-> 'brown') & ('战':*) & !(('fox')) & !(('a' <-> 'b'))"
    for nothing in ("", "-", "***", '"', "-word", "\ud800 \x00"):
        with pytest.raises(QueryError):
            parse(nothing)
    with pytest.raises(QueryError, match="too long"):
        parse("战" * (MAX_TERMS + 2))


CJK = st.text(st.sampled_from("乌克兰战争幽灵的東京タワーへ서울에"), min_size=1, max_size=30)


@given(CJK, st.data())
def test_any_word_of_a_cjk_run_is_a_phrase_of_its_tokens(run: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(run) - 1))
    end = data.draw(st.integers(start + 1, len(run)))
    term = term_of(run[start:end])
    assert term is not None
    have = tokens(run)
    n = len(term.tokens)
    assert any(have[i : i + n - 1] == list(term.tokens[:-1])
               and (have[i + n - 1] == term.tokens[-1]
                    or (term.prefix and have[i + n - 1].startswith(term.tokens[-1])))
               for i in range(len(have) - n + 1))


def test_html_text_keeps_text_drops_markup_and_joins_inline_elements() -> None:
    html = ('<div><p>a<b>乌克兰</b>战争 <img src="http://x/img.png" alt="alt"></p><p>b<!-- c --></p>'
            '<script>x</script><a href="http://h/url">link</a> &amp; &#123;</div>')
    assert html_text(html).split() == ["a乌克兰战争", "b", "link", "&", "{"]


def test_a_snippet_marks_what_matched() -> None:
    text = "许多专家认为，12日美俄之间的外交谈判是使乌克兰免于战争的最后机会。Le CAFÉ est servi."
    marked = "许多专家认为，12日美俄之间的外交谈判是使乌克兰免于[战争]的最后机会。Le [CAFÉ] est servi."
    assert make_snippet(text, parse("战争 cafe")).marked() == marked


@given(st.text(st.characters(max_codepoint=127)))
def test_the_ascii_shortcut_makes_the_tokens_of_the_general_path(text: str) -> None:
    from crawler.search.tokens import cjk_tokens, segments, words

    general = [t for cjk, run, _s, _e in segments(text) for t in (cjk_tokens(run) if cjk else words(run))]
    assert tokens(text) == general


def test_every_output_format_is_read_and_markdown_loses_its_targets(tmp_path: Path) -> None:
    from crawler.search.document import read_document

    (tmp_path / "hugo.md").write_text(
        "---\ntitle: Hugo page\ndate: 2024-01-02T03:04:05Z\nlink: https://a.example/1\n---\n\n"
        "Text with [a link](https://a.example/hiddenurl) and ![alt](img/secretpath.png).\n\n"
        "[ref]: https://a.example/refurl\n", encoding="utf-8")
    (tmp_path / "jekyll.md").write_text(
        "---\ntitle: Jekyll post\ndate: 2024-01-02 03:04:05 +0000\nlink: https://a.example/2\n---\n\nBody.\n",
        encoding="utf-8")
    (tmp_path / "Obsidian note.md").write_text(
        "---\ncreated: 2024-01-02T03:04:05\nsource: https://a.example/3\n---\n\nNote <b>bold</b>.\n", encoding="utf-8")
    hugo, jekyll, note = (read_document(tmp_path, n) for n in ("hugo.md", "jekyll.md", "Obsidian note.md"))
    assert hugo is not None and jekyll is not None and note is not None
    assert tokens(hugo.body) == ["text", "with", "a", "link", "and"]
    when = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert (hugo.title, hugo.date, hugo.link) == ("Hugo page", when, "https://a.example/1")
    assert (jekyll.title, jekyll.date, jekyll.body) == ("Jekyll post", when, "Body.")
    assert (note.title, note.date, note.link, note.body.strip()) == ("Obsidian note", when, "https://a.example/3",
                                                               "Note bold.")
