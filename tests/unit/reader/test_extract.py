"""Full-text extraction (`crawler.reader.extract`): trafilatura's HTML output, without the work we never read
and without the teasers for the site's other pages."""

from __future__ import annotations

import re

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
    # Ours keeps figure captions (as paragraphs), which trafilatura drops: it is given them as such.
    as_paragraphs = re.sub(r"<(/?)figcaption>", r"<\1p>", page if isinstance(page, str) else page.decode())
    theirs = trafilatura.extract(as_paragraphs, url=url, output_format="html", include_images=True, include_links=True,
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


STORY = "".join(f"<p>{fact} {fact}</p>" for fact in FACTS)


def figure(caption: str) -> str:
    return f'<figure><img src="/img/wall.jpg" alt="the wall"><figcaption>{caption}</figcaption></figure>'


def test_a_figure_caption_is_kept_after_its_picture_and_a_bare_credit_is_not() -> None:
    caption = "The old wall in March, two days before the storm broke through it."
    page = (f"<html><body><article><h1>Breakwater</h1>{STORY}{figure(caption)}{STORY}"
            f"{figure('Photo: J. Smith')}{figure('Andrew Milligan')}</article></body></html>")

    html = extract_main_html(page, "https://harbour.example/2024/breakwater.html")

    assert html is not None
    assert html.index('src="https://harbour.example/img/wall.jpg"') < html.index(f"<p>{caption}</p>")
    assert "J. Smith" not in html and "Milligan" not in html


@pytest.mark.parametrize(("heading", "title", "dropped"), [
    ("Breakwater approved", "Breakwater approved", True),
    ("Breakwater  <em>approved</em>!", "breakwater approved", True),  # case, spacing, markup, punctuation aside
    ("Breakwater approved", "Ferry timetable changes", False),
    ("Breakwater approved", "", False),
])
def test_a_first_heading_that_repeats_the_title_is_dropped(heading: str, title: str, dropped: bool) -> None:
    page = f"<html><body><article><h1>{heading}</h1>{STORY}<h2>Breakwater approved</h2>{STORY}</article></body></html>"

    html = extract_main_html(page, "https://harbour.example/2024/breakwater.html", title)

    assert html is not None
    headings = re.findall(r"<h[12]>(.*?)</h[12]>", html)
    assert len(headings) == (1 if dropped else 2), "a heading further down stays, whatever it says"
    assert FACTS[0] in html
