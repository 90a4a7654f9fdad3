"""Full-text extraction (`crawler.extract`): trafilatura's HTML output, without the work we never read."""

from __future__ import annotations

import pytest
import trafilatura

from crawler.extract import _WRAPPER, extract_main_html
from tests.unit.test_quality import PAGE

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
