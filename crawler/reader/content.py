"""Which HTML an entry is archived with: the feed's own, or the page's full text.

Pure decisions; the pipeline does the fetching.
"""

from __future__ import annotations

import re

from crawler.models import FullTextMode
from crawler.reader.text import compact_length, html_to_text, text_length

_TRUNCATED = re.compile(
    r"(…|\.\.\.|\[…\]|\[\.\.\.\]|read more|continue reading|read the full|full story|阅读全文|阅读更多|查看全文)\W*$",
    re.IGNORECASE,
)


def looks_truncated(text: str) -> bool:
    """Plain text that ends the way teasers do: an ellipsis, "read more", 阅读全文."""
    return bool(_TRUNCATED.search(text[-80:]))


def wants_full_text(feed_html: str, link: str, mode: FullTextMode, min_chars: int) -> bool:
    """Fetch the page when asked to always, or (auto) when the feed's text is short or cut off."""
    if mode == "never" or not link:
        return False
    if mode == "always":
        return True
    text = html_to_text(feed_html)
    return compact_length(text) < min_chars or looks_truncated(text)


def better_of(feed_html: str, page_html: str | None) -> str | None:
    """The page's text when it has more to say than the feed's; None to keep the feed's."""
    if page_html and text_length(page_html) > text_length(feed_html):
        return page_html
    return None
