"""Full-text extraction (`crawler.reader.extract`): trafilatura's HTML output, without the work we never read
and without the teasers for the site's other pages."""

from __future__ import annotations

import pytest
import trafilatura

from crawler.reader.extract import _WRAPPER, extract_main_html
from tests.unit.reader.test_quality import PAGE

TABLE_PAGE = """<html><head><title>Results</title></head><body><main>
<h2>League results</h2><p>The <b>home side</b> won on <i>penalties</i>, see <a href="/report">the report</a>.</p>
<p>Attendance was the highest of the season, and the stadium's new roof held up in the rain.</p>
<table><tr><th>Team</th><th>Goals</th></tr><tr><td>Harbour FC</td><td>2</td></tr>
<tr><td>Hill United</td><td>2</td></tr></table>
<blockquote>We never gave up, the captain said after the final whistle had gone.</blockquote>
<ul><li>Next match: Saturday, 15:00, against the league leaders</li><li>Tickets from Monday at the club shop</li></ul>
</main></body></html>"""


@pytest.mark.parametrize("page", [PAGE, TABLE_PAGE, PAGE.encode(), "<html><body><p>x</p></body></html>"])
def test_the_html_is_trafilaturas_own_html_output_character_for_character(page: str | bytes) -> None:
    url = "https://harbour.example/2024/story.html"
    theirs = trafilatura.extract(page, url=url, output_format="html", include_images=True, include_links=True,
                                 include_tables=True, include_formatting=True, include_comments=False)
    ours = extract_main_html(page, url)
    assert ours == (_WRAPPER.sub("", theirs) if theirs else None)
    if page is TABLE_PAGE:
        assert ours is not None and "<table>" in ours and "<strong>home side</strong>" in ours


FACTS = [
    "The harbour authority approved the new breakwater on Tuesday after a decade of delays and disputes.",
    "Engineers expect the work to take three winters, because autumn storms stop it every single year.",
    "Fishermen said the old wall had failed twice since 2019 and cost them most of a fishing season.",
    "The council will publish the tender documents next month, with a budget of forty million euros.",
]
TEASERS = [
    ("/2024/ferry-timetable.html", "The new ferry timetable starts in March with two extra crossings"),
    ("https://www.harbour.example/2024/lighthouse.html", "The lighthouse on the north pier gets a new keeper at last"),
    ("https://harbour.example/2024/regatta.html", "This summer's regatta moves to September because of the works"),
]
READ_MORE = "How the old wall was built, and why it failed twice in five years"
# Blocks that are nothing but a link, but not to another page of this site: the article's own.
OWN_LINKS = [
    ("https://tickets.example.org/tours/breakwater", "Guided tours of the building site, every Saturday from May"),
    ("https://harbour.example/2024/breakwater.html", "Breakwater approved: this article, for sharing with friends"),
    ("#tender", "The tender, its lots and its deadlines, further down this page"),
    ("mailto:desk@harbour.example", "Write to the harbour desk with your questions about the works"),
]
TEASER_PAGE = f"""<!doctype html><html><head><title>Breakwater approved</title></head><body>
<article><h1>Breakwater approved</h1>
<p>{FACTS[0]} {FACTS[0]}</p><p>{FACTS[1]} {FACTS[1]}</p>
<figure><img src="/img/wall.jpg" alt="the wall"></figure>
<p>Read more: <a href="/2024/wall-history.html">{READ_MORE}</a></p>
<p>{FACTS[2]} {FACTS[2]}</p>
{''.join(f'<p><a href="{href}">{text}</a></p>' for href, text in OWN_LINKS)}
<p id="tender">{FACTS[3]} {FACTS[3]}</p>
<div class="more">{''.join(
    f'<div><a href="{href}"><img src="/img/teaser{i}.jpg"></a><h3><a href="{href}">{text}</a></h3></div>'
    for i, (href, text) in enumerate(TEASERS))}</div>
</article></body></html>"""


def test_teasers_for_the_sites_other_pages_go_and_the_articles_images_and_links_stay() -> None:
    """With images kept, trafilatura keeps the linked headlines of a picture-teaser strip and a
    "Read more: <headline>" paragraph; the archive drops them, and nothing else."""
    url = "https://harbour.example/2024/breakwater.html"
    theirs = trafilatura.extract(TEASER_PAGE, url=url, output_format="html", include_images=True, include_links=True,
                                 include_tables=True, include_formatting=True, include_comments=False)
    assert theirs is not None and READ_MORE in theirs and TEASERS[0][1] in theirs  # what the rule is for
    ours = extract_main_html(TEASER_PAGE, url)
    assert ours is not None
    assert READ_MORE not in ours and "Read more" not in ours
    assert not any(text in ours for _, text in TEASERS)
    for fact in FACTS:
        assert fact in ours
    for _, text in OWN_LINKS:
        assert f">{text}</a>" in ours  # still a link
    # every image trafilatura found is still there: the one in the article and the teasers' own
    images = [f'src="https://harbour.example/img/{name}.jpg"' for name in ("wall", "teaser0", "teaser1", "teaser2")]
    assert [image in theirs for image in images] == [image in ours for image in images]
    assert images[0] in ours


def test_soft_hyphens_go_so_the_words_read_and_search_as_written() -> None:
    """Some sites put a soft hyphen (U+00AD, invisible unless a line breaks there) between the syllables
    of every long word; trafilatura's HTML keeps them, and a search for the word would not find it."""
    words = "Die Rotweine aus St. Magdalener überzeugen mit zarter Frucht und feinen Gerbstoffen"
    hyphenated = " ".join("\xad".join(word[i:i + 3] for i in range(0, len(word), 3)) for word in words.split())
    page = f"""<html><head><title>St. Magdalener</title></head><body><article><h1>St. Mag\xadda\xadle\xadner</h1>
{''.join(f'<p>{hyphenated}, Absatz {n}: {hyphenated}.</p>' for n in range(1, 5))}</article></body></html>"""
    url = "https://wein.example/st-magdalener/"
    theirs = trafilatura.extract(page, url=url, output_format="html", include_images=True, include_links=True,
                                 include_tables=True, include_formatting=True, include_comments=False)
    assert theirs is not None and "\xad" in theirs  # what the step is for
    ours = extract_main_html(page, url)
    assert ours is not None and "\xad" not in ours
    assert "<h1>St. Magdalener</h1>" in ours and ours.count(f"{words}, Absatz") == 4
