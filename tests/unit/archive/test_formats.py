"""Each format's file names and front matter, and Markdown bodies that keep every word or are refused."""

from __future__ import annotations

import html
import re
from collections import Counter
from datetime import UTC, datetime

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from crawler.archive import entries
from crawler.archive.formats import Fields, alternate_relpath, obsidian_tag, relpath_for, render_entry
from crawler.archive.markdown import MAX_DEPTH, MarkdownRefused, convert_body, to_markdown

WHEN = datetime(2024, 3, 1, 8, 30, tzinfo=UTC)
FIELDS = Fields(title="A: title", categories=("新闻", "Tech News"), headimg="/images/a.jpg", author="Ann",
                date=WHEN, link="https://e.example/a", guid="id-1", feed="news",
                body_html='<p>Hi <img src="/images/a.jpg" alt="x"> and <img src="/images/b.jpg"></p>')


def front(text: str) -> dict[str, object]:
    return yaml.load(text.split("---\n")[1], Loader=yaml.BaseLoader)


def test_hexo_is_the_seed_format_byte_for_byte() -> None:
    relpath = relpath_for("hexo", FIELDS.categories, FIELDS.title, "news", "id-1", WHEN)
    assert relpath == entries.entry_relpath(FIELDS.categories, FIELDS.title, "news", "id-1")
    assert render_entry("hexo", relpath, FIELDS) == entries.render(
        relpath=relpath, title=FIELDS.title, categories=FIELDS.categories, headimg=FIELDS.headimg, author="Ann",
        date=WHEN, link=FIELDS.link, guid="id-1", body_html=FIELDS.body_html)


def test_jekyll_names_posts_by_date_and_turns_liquid_off() -> None:
    relpath = relpath_for("jekyll", FIELDS.categories, FIELDS.title, "news", "id-1", WHEN)
    assert relpath.startswith("新闻/Tech News/2024-03-01-A title_") and relpath.endswith(".md")
    got = front(render_entry("jekyll", relpath, Fields(**{**FIELDS.__dict__, "updated": WHEN})).text)
    assert got["date"] == "2024-03-01 08:30:00 +0000" and got["last_modified_at"] == "2024-03-01 08:30:00 +0000"
    assert got["render_with_liquid"] == "false" and got["categories"] == ["新闻", "Tech News"]


def test_hugo_front_matter_has_rfc3339_dates_and_the_images() -> None:
    doc = render_entry("hugo", "x.md", Fields(**{**FIELDS.__dict__, "updated": WHEN}))
    got = front(doc.text)
    assert list(got) == ["title", "date", "lastmod", "categories", "author", "images", "link", "guid"]
    assert got["date"] == got["lastmod"] == "2024-03-01T08:30:00Z"
    assert got["images"] == ["/images/a.jpg", "/images/b.jpg"]


def test_obsidian_note_is_named_by_its_title_with_typed_properties() -> None:
    relpath = relpath_for("obsidian", ("a",), "What [is] #this? A|B", "news", "id-1", WHEN)
    assert relpath == "a/What is this A B.md"
    assert alternate_relpath("obsidian", relpath, "news", "id-1") == \
        f"a/What is this A B {entries.entry_key('news', 'id-1')}.md"
    assert alternate_relpath("hugo", relpath, "news", "id-1") is None
    got = front(render_entry("obsidian", relpath, Fields(**{**FIELDS.__dict__, "title": "What [is] #this? A|B",
                                                            "body_markdown": "text\n"})).text)
    assert got == {"tags": ["新闻", "Tech-News"], "aliases": ["What [is] #this? A|B"], "created": "2024-03-01T08:30:00",
                   "source": "https://e.example/a", "author": "Ann", "feed": "news", "guid": "id-1"}
    assert [obsidian_tag(c) for c in ("2024", "a b/c", "  ", "C++")] == [None, "a-b/c", None, "C"]


def test_markdown_escapes_braces_of_the_text_not_of_code() -> None:
    md = to_markdown("<p>{{ x }} {% raw %} &#123;&#123;&lt; y &gt;&#125;&#125;</p><pre><code>{{ z }}</code></pre>",
                     "hugo")
    assert "{{" not in md.split("```")[0] and "{{ z }}" in md
    html = MarkdownIt("commonmark").render(md)
    assert "{{ x }} {% raw %} {{&lt; y &gt;}}" in html


def test_an_iframe_stays_html_where_the_format_publishes_html_and_is_a_link_elsewhere() -> None:
    html = '<p>See <iframe src="https://www.youtube.com/embed/v" title="clip"></iframe> now</p>'
    assert '<iframe src="https://www.youtube.com/embed/v" title="clip">\n</iframe>' in to_markdown(html, "jekyll")
    for fmt in ("hugo", "obsidian"):
        md = to_markdown(html, fmt)
        assert "[clip](https://www.youtube.com/embed/v)" in md and "<iframe" not in md


def test_what_the_converter_cannot_handle_is_refused_not_half_converted() -> None:
    deep = "<div>" * 10_000 + "word" + "</div>" * 10_000
    with pytest.raises(MarkdownRefused, match="nested"):
        to_markdown(deep, "hugo")
    table = "<table>" + "<tr><td>cell</td><td>more</td></tr>" * 160_000 + "</table>"
    assert len(table) > 5_000_000
    converted, refusal = convert_body(table, "jekyll")
    assert converted is None and refusal is not None and "MB" in refusal
    assert convert_body("<div>" * (MAX_DEPTH + 1), "hugo")[0] is None


_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["p", "li", "h2", "td", "em", "code", "blockquote"]), _TEXT), max_size=6))
def test_markdown_keeps_every_word_or_refuses(parts: list[tuple[str, str]]) -> None:
    body = "".join(f"<{tag}>{html.escape(text)}</{tag}>" for tag, text in parts)
    converted, _ = convert_body(body, "obsidian")
    if converted is None:
        return  # refused: the crawl keeps the HTML body, nothing is lost
    rendered = MarkdownIt("commonmark").enable("table").render(converted)

    def letters(markup: str) -> Counter[str]:
        return Counter(c for c in html.unescape(re.sub(r"<[^>]*>", "", markup)) if c.isalnum())

    assert not letters(body) - letters(rendered)


def test_a_table_row_wider_than_its_header_keeps_its_cells() -> None:
    html = "<table><tr><th>a</th></tr><tr><td>1</td><td>two</td><td>three</td></tr></table>"
    rendered = MarkdownIt("commonmark").enable("table").render(to_markdown(html, "hugo"))
    assert "<td>two</td>" in rendered and "<td>three</td>" in rendered


def test_an_image_in_a_heading_stays_an_image() -> None:
    assert "![y](x.png)" in to_markdown('<h2>Title<img src="x.png" alt="y"></h2>', "obsidian")


async def test_a_markdown_file_that_already_says_the_revision_is_not_revised_again(tmp_path) -> None:
    """A poll killed after it rewrote a file, before it recorded it: the next poll finds the file
    already saying what it would write, and keeps no copy of it as a revision."""
    from crawler.archive import revisions
    from crawler.models import FeedEntry, KnownEntry

    entry = FeedEntry(id="id-1", link=FIELDS.link, title=FIELDS.title, published=WHEN, updated=None, author=None,
                      content_html="<p>new</p>", summary_html="")
    known = KnownEntry("id-1", "a/x.md", text_hash="old", item_hash="old-item", updated=None)
    fields = Fields(**{**FIELDS.__dict__, "body_markdown": "new\n", "updated": datetime(2024, 5, 1, tzinfo=UTC)})
    written = render_entry("hugo", "a/x.md", fields)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.md").write_text(written.text, encoding="utf-8")
    again = render_entry("hugo", "a/x.md", Fields(**{**fields.__dict__, "updated": datetime(2024, 5, 2, tzinfo=UTC)}))

    change = await revisions.settle(tmp_path, again, "new-hash", entry, known, datetime(2024, 5, 2, tzinfo=UTC))

    assert not change.revised
    assert not (tmp_path / ".revisions").exists()
    assert (tmp_path / "a" / "x.md").read_text(encoding="utf-8") == written.text
