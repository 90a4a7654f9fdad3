"""The quality guard's view of an article page: the words the archive keeps of it.

`../shared/extraction-eval/score.py --extractor crawler.reader.quality:archived_text` scores
the project's own extraction on 300 real pages with known text: the page goes through
the same steps as a fetched article page (`article.prepare` with our trafilatura
settings, then `article.finish`: links, images, sanitizing, braces), and what a reader
would see of the archived body comes back as text. A change to any of those steps that
loses words shows up there as lost recall. Pure; nothing in the crawl imports it.
"""

from __future__ import annotations

import lxml.html

from crawler.reader import article

# Elements a browser starts on a line of their own: their words must not run into their
# neighbours' ("end.<p>Next" reads "end. Next", not "end.Next").
_BLOCKS = frozenset({
    "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "figure",
    "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "img", "li", "main", "ol", "p", "pre",
    "section", "table", "td", "th", "tr", "ul",
})


def readable_text(html: str) -> str:
    """The text of an HTML fragment as a browser lays it out: blocks apart, inline runs together."""
    root = lxml.html.fragment_fromstring(html or "<br>", create_parent="div")
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag in _BLOCKS:
            element.text = "\n" + (element.text or "")
            element.tail = "\n" + (element.tail or "")
    return str(root.text_content()).strip()


def archived_text(html: str, url: str) -> str | None:
    """The text of the body the archive would keep of the page `html` found at `url`."""
    prepared = article.prepare("", url, html.encode(), url)
    body, _headimg = article.finish(prepared.html, {}, frozenset())
    return readable_text(body) or None
